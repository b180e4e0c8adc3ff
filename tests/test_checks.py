"""The docs stay true: every setting of ``MOTIA`` and every system check id is documented, each id on its own row."""

from __future__ import annotations

import re
from pathlib import Path

from motia_django.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "motia_django"


def _documented() -> str:
    return (ROOT / "docs" / "reference" / "checks.md").read_text()


def test_every_setting_is_in_the_settings_reference():
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    assert [key for key in DEFAULTS if f"| `{key}` |" not in page] == []


def test_every_check_id_is_documented():
    ids = {found for path in PACKAGE.rglob("*.py")
           for found in re.findall(r"motia_django\.([EW]\d{3})", path.read_text())}
    rows = re.findall(r"^\| `motia_django\.([EW]\d{3})` \|", _documented(), flags=re.M)
    assert ids and sorted(i for i in ids if i not in rows) == []
    assert sorted(rows) == sorted(set(rows)), "an id documented twice"
