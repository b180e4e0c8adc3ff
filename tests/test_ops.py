import pytest

from motia_django.exceptions import StreamValidationError
from motia_django.ops import apply_ops


def test_ops_apply_in_order_on_a_copy():
    data = {"a": {"n": 1}, "keep": True}
    out = apply_ops(data, [
        {"type": "increment", "path": "a.n", "by": 2},
        {"type": "decrement", "path": ["a", "n"], "value": 1},
        {"type": "set", "path": "b.c", "value": [1]},
        {"type": "merge", "path": "a", "value": {"m": 0}},
        {"type": "remove", "path": "keep"},
        {"type": "remove", "path": "missing.deep"},
    ])
    assert out == {"a": {"n": 2, "m": 0}, "b": {"c": [1]}}
    assert data == {"a": {"n": 1}, "keep": True}


def test_root_set_and_merge_and_single_op_dict():
    assert apply_ops({"x": 1}, {"type": "set", "value": {"y": 2}}) == {"y": 2}
    assert apply_ops(None, [{"type": "merge", "value": {"y": 2}}]) == {"y": 2}
    assert apply_ops(None, [{"type": "increment", "path": "n"}]) == {"n": 1}


@pytest.mark.parametrize("ops,match", [
    ([], "non-empty list"),
    ("set", "non-empty list"),
    ([{"type": "nope"}], r"ops\[0\]: type must be one of"),
    ([{"type": "set", "path": "a"}], "set needs a value"),
    ([{"type": "set", "path": 3, "value": 1}], "dotted string or a list"),
    ([{"type": "set", "path": "a..b", "value": 1}], "empty key"),
    ([{"type": "increment", "path": "s"}], "needs numbers"),
    ([{"type": "increment", "path": "n", "by": True}], "needs numbers"),
    ([{"type": "set", "path": "s.x", "value": 1}], "is not an object"),
    ([{"type": "merge", "path": "s", "value": {}}], "needs objects on both sides"),
    ([{"type": "remove"}], "remove needs a path"),
    ([{"type": "set", "value": 3}], "needs an object value"),
])
def test_bad_ops_are_clear_errors(ops, match):
    with pytest.raises(StreamValidationError, match=match):
        apply_ops({"s": "text"}, ops)
