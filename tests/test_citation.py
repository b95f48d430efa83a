"""LICENSE and CITATION.cff: the license pyproject declares, a citation file that validates."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The Citation File Format 1.2.0 schema (citation-file-format/citation-file-format, schema.json,
# CC BY 4.0), copied so the check runs offline.
SCHEMA = ROOT / "tests" / "fixtures" / "cff-1.2.0.schema.json"


def test_license_is_the_mit_text_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert project["license"] == {"text": "MIT"}
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_cff_validates_and_cites_both_papers() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(citation)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["version"] == project["version"] and citation["license"] == "MIT"
    titles = " ".join(r["title"] for r in citation["references"])
    assert "Who To Align With" in titles and "CROSS" in titles
