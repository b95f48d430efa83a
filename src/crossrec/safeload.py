"""The one loader of every YAML and JSON document crossrec reads (configs, run files, selection
files, plans, metrics, cost tables, source records), and the bound on values quoted in errors.

A document is refused — one line naming the file, the line where YAML has one, and the
problem — when it

* is larger than :data:`MAX_BYTES`;
* nests deeper than :data:`MAX_DEPTH` mappings/lists (a deep document would otherwise end in
  a ``RecursionError`` traceback);
* repeats a key in one mapping (YAML and JSON parsers otherwise keep the last one silently);
* uses a YAML alias (``*name``): aliases let a few hundred bytes expand to gigabytes ("billion
  laughs"), and no crossrec file needs them;
* holds a non-finite number (YAML ``.nan``/``.inf``, JSON ``NaN``/``Infinity``): every number
  crossrec reads must be finite.

Values quoted in any error message go through :func:`shorten` (at most :data:`QUOTE_CHARS`
characters), so no input can make a message large or slow.

Hand-written on PyYAML's ``SafeLoader`` and the standard ``json`` module rather than a
validating library: the checks sit inside the parser (an alias must be refused before it is
expanded, a duplicate key before the mapping is built), which JSON Schema or pydantic,
running on the parsed result, cannot do.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from crossrec.errors import ConfigError, CrossrecError, DataError

MAX_BYTES = 16 * 1024 * 1024  # the largest document (a 5,000-run plan.json is ~3 MB)
MAX_DEPTH = 64
QUOTE_CHARS = 200


def shorten(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters with ``…`` (strings: their repr too). The
    repr of a huge container is never built: containers are summarised by type and length."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 50:
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
        return repr(value)[: limit - 1] + "…'"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Refused(Exception):
    """A document the loader refuses (the message says why)."""


def _line(node: Any) -> str:  # noqa: ANN401
    mark = getattr(node, "start_mark", None)
    return f"line {mark.line + 1}: " if mark is not None else ""


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys, deep nesting or non-finite floats."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                f"{_line(event)}YAML alias *{shorten(event.anchor, 40)[1:-1]} refused "
                "(aliases can expand a small file without bound; write the value out)"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"{_line(self.peek_event())}nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:  # noqa: ANN401
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if first is not None:
                    raise _Refused(
                        f"{_line(key_node)}duplicate key {shorten(key)} (first on line {first})"
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node: Any) -> float:  # noqa: ANN401
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _Refused(f"{_line(node)}{shorten(node.value)} is not a finite number")
        return value


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _fail(error: type[CrossrecError], where: str, problem: str) -> CrossrecError:
    return error(where, problem) if error is DataError else error(f"{where}: {problem}")


def parse_yaml(text: str, where: str, error: type[CrossrecError] = ConfigError) -> Any:  # noqa: ANN401
    """One YAML document from ``text`` under the module's rules; ``error`` (ConfigError or
    DataError) naming ``where`` otherwise."""
    if len(text) > MAX_BYTES:
        raise _fail(error, where, f"larger than {MAX_BYTES >> 20} MiB")
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _Refused as err:
        raise _fail(error, where, str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise _fail(error, where, f"not valid YAML ({line}{shorten(problem)[1:-1]})") from None
    finally:
        loader.dispose()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {shorten(key)}")
        out[key] = value
    return out


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a finite number")


def _depth(value: Any) -> int:  # noqa: ANN401
    """Nesting depth of a parsed document, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def parse_json(text: str, where: str, error: type[CrossrecError] = DataError) -> Any:  # noqa: ANN401
    """One JSON document from ``text`` under the module's rules; ``error`` naming ``where``
    otherwise."""
    if len(text) > MAX_BYTES:
        raise _fail(error, where, f"larger than {MAX_BYTES >> 20} MiB")
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Refused as err:
        raise _fail(error, where, str(err)) from None
    except RecursionError:
        raise _fail(error, where, f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as err:
        raise _fail(error, where, f"not valid JSON ({shorten(err.msg)[1:-1]} at line "
                                  f"{err.lineno})") from None  # fmt: skip
    if _depth(value) > MAX_DEPTH:
        raise _fail(error, where, f"nested deeper than {MAX_DEPTH} levels")
    return value


def _read(path: str | Path, error: type[CrossrecError]) -> str:
    from crossrec.io import regular_file

    path = Path(path)
    try:
        regular_file(path)
        if os.stat(path).st_size > MAX_BYTES:
            raise _fail(error, str(path), f"larger than {MAX_BYTES >> 20} MiB")
        return path.read_text()
    except DataError as err:
        if error is DataError:
            raise
        raise error(str(err)) from None
    except UnicodeDecodeError:
        raise _fail(error, str(path), "not UTF-8 text") from None
    except OSError as err:
        raise _fail(error, str(path), f"cannot read ({err.strerror or err})") from None


def load_yaml(path: str | Path, error: type[CrossrecError] = ConfigError) -> Any:  # noqa: ANN401
    """:func:`parse_yaml` of a file (a regular, non-empty file of at most MAX_BYTES)."""
    return parse_yaml(_read(path, error), str(path), error)


def load_json(path: str | Path, error: type[CrossrecError] = DataError) -> Any:  # noqa: ANN401
    """:func:`parse_json` of a file (a regular, non-empty file of at most MAX_BYTES)."""
    return parse_json(_read(path, error), str(path), error)


def read_json(path: str | Path, missing: str) -> Any:  # noqa: ANN401
    """:func:`load_json` of a file that may be absent: DataError ``missing (<missing>)`` then
    (``missing`` says why the file may be absent)."""
    path = Path(path)
    if not os.path.lexists(path):
        raise DataError(path, f"missing ({missing})")
    return load_json(path, DataError)
