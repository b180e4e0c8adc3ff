"""The README stays true: every setting of ``MOTIA`` and every system check id is documented."""

from __future__ import annotations

import re
from pathlib import Path

from motia_django.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "motia_django"


def _documented() -> str:
    return (ROOT / "README.md").read_text() + (ROOT / "docs" / "steps.md").read_text()


def test_every_setting_is_in_the_readme_settings_table():
    readme = (ROOT / "README.md").read_text()
    assert [key for key in DEFAULTS if f"| `{key}` |" not in readme] == []


def test_every_check_id_is_documented():
    ids = {found for path in PACKAGE.rglob("*.py")
           for found in re.findall(r"motia_django\.([EW]\d{3})", path.read_text())}
    docs = _documented()
    ranges = [(kind, int(a), int(b))
              for kind, a, b in re.findall(r"([EW])(\d{3})`?-`?(?:motia_django\.)?[EW](\d{3})", docs)]

    def documented(check: str) -> bool:
        kind, number = check[0], int(check[1:])
        return check in docs or any(k == kind and a <= number <= b for k, a, b in ranges)

    assert ids and sorted(i for i in ids if not documented(i)) == []
