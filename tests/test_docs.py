"""Every document section the code cites exists in the repository's docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"docs/(\w+)\.md §(\d+(?:\.\d+)?)(?:-(\d+))?")
BARE = re.compile(r"(?<![/\w])(method|protocol|design)(?:\.md)? §")


def _sources() -> list[Path]:
    return [
        *ROOT.joinpath("src").rglob("*.py"),
        ROOT / "Snakefile",
        *ROOT.joinpath("workflow").rglob("*.smk"),
    ]


def _sections(doc: str) -> set[str]:
    text = (ROOT / "docs" / f"{doc}.md").read_text()
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))


def test_every_cited_section_exists() -> None:
    cited = 0
    for path in _sources():
        text = path.read_text()
        assert not BARE.search(text), f"{path}: cites a document outside docs/"
        assert "shared/" not in text, f"{path}: cites ../shared, which users never see"
        for doc, section, upto in CITE.findall(text):
            cited += 1
            assert (ROOT / "docs" / f"{doc}.md").is_file(), f"{path}: docs/{doc}.md is missing"
            have = _sections(doc)
            for s in [section, *([upto] if upto else [])]:
                assert s in have, f"{path}: docs/{doc}.md has no section {s}"
    assert cited > 20  # the code does cite them
