"""motia_django.loading: finding and importing ``*_stream.py`` / ``*_step.py`` modules, and the shared
``Registry`` (build, report, swap)."""

from __future__ import annotations

import sys
import textwrap
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core import checks

from motia_django import loading
from motia_django.exceptions import DefinitionError
from motia_django.loading import Registry, iter_configs, iter_modules

IDS = {"import_error": ("tests.E1", "fix the import"), "no_config": ("tests.E2", "add a config")}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A steps folder (the only one searched); modules it loads are dropped from sys.modules afterwards."""
    before = set(sys.modules)
    monkeypatch.setattr(loading, "motia_settings", SimpleNamespace(STEPS_DIRS=[tmp_path]))

    def write(name: str, body: str = "") -> object:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path

    write.path = tmp_path  # type: ignore[attr-defined]
    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_modules_are_found_recursively_in_a_stable_order(folder):
    folder("b_stream.py", "config = {'name': 'b'}\n")
    folder("a_stream.py", "config = {'name': 'a'}\n")
    folder("sub/c_stream.py", "config = {'name': 'c'}\n")
    folder("other.py", "raise RuntimeError('not a stream module')\n")
    folder("d_step.py", "config = {}\n")
    found = list(iter_modules("_stream"))
    assert [m.path.relative_to(folder.path).as_posix() for m in found] == ["a_stream.py", "b_stream.py",
                                                                          "sub/c_stream.py"]
    assert [m.module.config["name"] for m in found] == ["a", "b", "c"]
    assert all(m.error is None for m in found)
    assert all(m.module.__name__.startswith("motia_steps.") for m in found)  # not in a package on sys.path


def test_hidden_folders_and_pycache_are_skipped(folder):
    folder(".hidden/x_stream.py", "config = {}\n")
    folder("__pycache__/y_stream.py", "config = {}\n")
    assert list(iter_modules("_stream")) == []


def test_missing_folders_are_skipped(folder, monkeypatch, tmp_path):
    folder("a_stream.py", "config = {}\n")
    monkeypatch.setattr(loading, "motia_settings", SimpleNamespace(STEPS_DIRS=[tmp_path / "nope", tmp_path]))
    assert len(list(iter_modules("_stream"))) == 1


def test_import_errors_are_returned_not_raised(folder):
    folder("broken_stream.py", "raise RuntimeError('boom')\n")
    folder("good_stream.py", "config = {'name': 'good'}\n")
    broken, good = iter_modules("_stream")
    assert broken.module is None and isinstance(broken.error, RuntimeError) and str(broken.error) == "boom"
    assert good.error is None and good.module.config == {"name": "good"}
    mine = f"{folder.path.name}_broken_stream"
    assert not any(name.endswith(mine) for name in sys.modules)  # not left half-imported


def test_a_module_is_imported_once(folder):
    folder("count_stream.py", "import builtins\nbuiltins.motia_loads = getattr(builtins, 'motia_loads', 0) + 1\n")
    import builtins

    try:
        first = next(iter_modules("_stream")).module
        second = next(iter_modules("_stream")).module
        assert first is second and builtins.motia_loads == 1
    finally:
        del builtins.motia_loads


def test_a_module_in_a_package_is_imported_by_its_dotted_name(folder, monkeypatch):
    package = f"motia_pkg_{uuid.uuid4().hex[:8]}"
    folder(f"{package}/__init__.py")
    folder(f"{package}/schemas.py", "SCHEMA = {'type': 'object'}\n")
    folder(f"{package}/chat_stream.py", "from .schemas import SCHEMA\nconfig = {'name': 'chat', 'schema': SCHEMA}\n")
    monkeypatch.syspath_prepend(str(folder.path))
    (loaded,) = iter_modules("_stream")
    assert loaded.error is None
    assert loaded.module.__name__ == f"{package}.chat_stream"  # relative imports work
    assert loaded.module.config["schema"] == {"type": "object"}
    assert sys.modules[f"{package}.chat_stream"] is loaded.module


def test_iter_configs_yields_modules_with_a_config_and_reports_the_others(folder):
    broken = folder("broken_stream.py", "import no_such_module_anywhere\n")
    bare = folder("bare_stream.py", "x = 1\n")
    good = folder("good_stream.py", "config = {'name': 'good'}\n")
    errors: list[checks.CheckMessage] = []
    found = list(iter_configs("_stream", "stream", errors, **IDS))
    assert [(origin, module.config) for origin, module in found] == [(str(good), {"name": "good"})]
    assert [(e.id, e.hint) for e in errors] == [("tests.E2", "add a config"), ("tests.E1", "fix the import")]
    assert errors[0].msg == f"{bare}: stream module has no module-level config"
    assert errors[1].msg.startswith(f"{broken}: stream module failed to import: ModuleNotFoundError(")
    assert all(isinstance(e, checks.Error) for e in errors)


# --- Registry -------------------------------------------------------------------------------------------------


@dataclass
class Thing:
    name: str
    origin: str


class Things(Registry[Thing]):
    """A tiny registry: its definitions come from ``self.source`` (name, origin); a name "bad" cannot be built."""

    def __init__(self, source):
        super().__init__()
        self.source = source
        self.loads = 0
        self.during = None
        self.finished: list = []

    def collect(self, found, errors):
        self.loads += 1
        if self.loaded:  # a reload: what readers see while it is under way
            self.during = self.find("old")
        for name, origin in self.source:
            self.add(found, lambda name=name, origin=origin: self.make(name, origin), origin, errors)

    @staticmethod
    def make(name, origin):
        if name == "bad":
            raise DefinitionError("tests.E9", f"{name} cannot be built", "rename it")
        return Thing(name, origin)

    def duplicate(self, item, other):
        return checks.Error(f"{item.origin}: {item.name} is in {other.origin} too", id="tests.E8")

    def finish(self, found, errors):
        self.finished.append(sorted(found))


def test_reading_loads_on_first_use_only():
    things = Things([("b", "one"), ("a", "two")])
    assert not things.loaded and things.loads == 0
    assert things.names() == ["a", "b"]
    assert things.loaded and things.loads == 1
    assert things.get("a") == Thing("a", "two") and things.find("b") == Thing("b", "one")
    assert len(things) == 2 and "a" in things and "z" not in things
    assert [t.name for t in things] == ["b", "a"]  # in the order built
    assert things.loads == 1


def test_find_is_none_and_get_raises_key_error_for_a_missing_name():
    things = Things([("a", "x")])
    assert things.find("nope") is None
    with pytest.raises(KeyError):
        things.get("nope")


def test_not_found_decides_the_error_of_get():
    class Strict(Things):
        def not_found(self, name):
            return LookupError(f"no thing {name}")

    with pytest.raises(LookupError, match="no thing nope"):
        Strict([]).get("nope")


def test_a_definition_error_is_kept_as_a_check_error_and_the_rest_register():
    things = Things([("bad", "file.py"), ("good", "other.py")])
    things.load()
    assert things.names() == ["good"]
    (error,) = things.errors
    assert (error.id, error.msg, error.hint) == ("tests.E9", "file.py: bad cannot be built", "rename it")


def test_duplicates_keep_the_first_and_are_reported():
    things = Things([("a", "first.py"), ("a", "second.py")])
    things.load()
    assert things.get("a").origin == "first.py"
    assert [(e.id, e.msg) for e in things.errors] == [("tests.E8", "second.py: a is in first.py too")]


def test_load_swaps_the_whole_result_in_after_finish():
    things = Things([("old", "x")])
    things.load()
    things.source = [("new", "y")]
    things.load()
    assert things.during == Thing("old", "x")  # the old contents until the swap
    assert things.names() == ["new"] and things.finished == [["old"], ["new"]]
    assert things.errors == []


def test_a_failing_load_leaves_the_previous_contents():
    things = Things([("old", "x")])
    things.load()
    things.source = None  # collect raises TypeError iterating it
    with pytest.raises(TypeError):
        things.load()
    assert things.names() == ["old"]
