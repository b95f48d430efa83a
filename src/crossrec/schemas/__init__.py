"""JSON Schemas of crossrec's files, checked with ``jsonschema``: the workflow config
(``config.schema.yaml``), ``plan.json`` (``plan.schema.yaml``) and a run's ``metrics.json``
(``metrics.schema.yaml``). A violation is one line naming the file, the key's path
(``runs[3].seed``) and the reason — never a dump of the schema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from crossrec.errors import DataError

HERE = Path(__file__).parent


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``<name>.schema.yaml`` of this folder."""
    return yaml.safe_load((HERE / f"{name}.schema.yaml").read_text())


def key_path(parts: Any) -> str:  # noqa: ANN401
    """``["train", "topk", 0]`` → ``train.topk[0]`` (``<top level>`` for the root)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def first_error(blob: Any, name: str, schema: dict[str, Any] | None = None) -> str | None:  # noqa: ANN401
    """``"<key path>: <reason>"`` of the most relevant violation of schema ``name`` (or of
    ``schema`` when given), or None."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema or load(name))
    error = jsonschema.exceptions.best_match(validator.iter_errors(blob))
    if error is None:
        return None
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    if error.validator == "pattern":
        message += " (names are identifiers: a letter, then letters, digits, _ or -)"
    return f"{key_path(error.absolute_path)}: {message}"


def check_document(blob: Any, name: str, path: str | Path) -> None:  # noqa: ANN401
    """DataError naming ``path`` when ``blob`` (a parsed file) violates schema ``name``."""
    problem = first_error(blob, name)
    if problem is not None:
        raise DataError(path, f"not a valid {name} file: {problem}")
