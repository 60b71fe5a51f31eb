"""The README stays a front door: small, and every docs link in it exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_readme_is_a_front_door_whose_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 12_000
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", readme)
    assert "docs/getting-started.md" in links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []
