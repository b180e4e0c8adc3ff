import pytest

from motia_django.exceptions import StreamValidationError
from motia_django.stream.update_ops import apply_ops


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


def test_append_grows_a_string_or_a_list_from_nothing():
    data = {"reply": "Hello", "tags": ["a"]}
    out = apply_ops(data, [
        {"type": "append", "path": "reply", "value": ", world"},
        {"type": "append", "path": "tags", "value": {"b": 1}},
        {"type": "append", "path": "new.text", "value": "first"},
        {"type": "append", "path": "new.list", "value": 1},
    ])
    assert out == {"reply": "Hello, world", "tags": ["a", {"b": 1}], "new": {"text": "first", "list": [1]}}
    assert data == {"reply": "Hello", "tags": ["a"]}


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
    ([{"type": "append", "path": "s"}], "append needs a value"),
    ([{"type": "append", "path": "s", "value": 1}], "adds a string to a string"),
    ([{"type": "append", "path": "n", "value": "x"}], "needs a string or a list"),
])
def test_bad_ops_are_clear_errors(ops, match):
    with pytest.raises(StreamValidationError, match=match):
        apply_ops({"s": "text", "n": 1}, ops)
