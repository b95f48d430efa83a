"""Strict loading of mappings into dataclasses: unknown, missing, mistyped or out-of-range keys
are errors.

A parameter's valid range is declared once, in its type: ``emb_size: PosInt = 64`` with
``PosInt = Annotated[int, Range(ge=1)]``. :func:`from_dict` checks it wherever a parameter enters
(CLI flags, workflow configs, ``plan``), and floats must be finite.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from crossrec.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric parameter (``None``: unbounded); used inside ``Annotated``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: float, where: str) -> None:
        """ConfigError ``"<where>: <value> is out of range (must be > 0)"`` when outside."""
        ok = (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )
        if not ok:
            raise ConfigError(f"{where}: {value!r} is out of range (must be {self.rule()})")

    def rule(self) -> str:
        """``">= 1 and <= 65536"``."""
        bounds = [(self.ge, ">="), (self.gt, ">"), (self.le, "<="), (self.lt, "<")]
        return " and ".join(f"{op} {b:g}" for b, op in bounds if b is not None)


MAX_SIZE = 1 << 16  # widths, layers and counts beyond this cannot be allocated on one device
PosInt = Annotated[int, Range(ge=1)]
NonNegInt = Annotated[int, Range(ge=0)]
Size = Annotated[int, Range(ge=1, le=MAX_SIZE)]  # embedding widths, prototypes, clusters, K
Layers = Annotated[int, Range(ge=0, le=64)]
Seed = Annotated[int, Range(ge=0, le=2**32 - 1)]  # numpy's seeding range
PosFloat = Annotated[float, Range(gt=0)]
NonNegFloat = Annotated[float, Range(ge=0)]
Fraction = Annotated[float, Range(ge=0, lt=1)]  # dropout and drop ratios
Unit = Annotated[float, Range(ge=0, le=1)]
Decay = Annotated[float, Range(gt=0, le=1)]  # multiplicative decay factors


def _check_type(value: Any, annotation: Any, where: str) -> Any:  # noqa: ANN401
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        value = _check_type(value, base, where)
        for extra in extras:
            if isinstance(extra, Range):
                extra.check(value, where)
        return value
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            try:
                return _check_type(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (arg, *_rest) = typing.get_args(annotation) or (Any,)
        items = [_check_type(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
        return value
    return value


def describe_type(annotation: Any) -> str:  # noqa: ANN401
    """A parameter type in words: ``int``, ``float``, ``oneway|dynamic|all`` (a Literal's
    choices), ``list[str] | None``; ranges are left to :func:`describe_range`."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return describe_type(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return "|".join(str(c) for c in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe_type(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if origin in (list, tuple, dict):
        args = ", ".join(describe_type(a) for a in typing.get_args(annotation) if a is not ...)
        return f"{origin.__name__}[{args}]" if args else origin.__name__
    return getattr(annotation, "__name__", str(annotation))


def describe_range(cls: type, name: str) -> str:
    """`` [>= 1 and <= 65536]`` for a field declared with a :class:`Range`, else ``""``."""
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    for extra in getattr(hint, "__metadata__", ()):
        if isinstance(extra, Range):
            return f" [{extra.rule()}]"
    return ""


_ENTRY = re.compile(r"(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)")


def _attributes(doc: str) -> dict[str, str]:
    """The ``Attributes:`` section of a Google-style docstring as ``{name: one line}``; an entry
    ``a, b: text`` describes both, indented continuation lines are joined."""
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = lines.index("Attributes:") + 1
    except ValueError:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    indent = None
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break  # the section ends at the next unindented line
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        match = _ENTRY.fullmatch(line.strip())
        if indent is None:
            indent = depth
        if depth == indent and match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                out[name] = match.group(2).strip()
        elif names:
            for name in names:
                out[name] = f"{out[name]} {line.strip()}".strip()
    return out


def field_docs(cls: type) -> dict[str, str]:
    """One-line descriptions of dataclass ``cls``'s fields, ``{name: text}``, from the
    ``Attributes:`` section of its docstring or a base class's (a subclass's entry wins), so a
    parameter is described once, next to its type and default, and ``crossrec list`` and
    ``crossrec schema`` read it from there. Plain text: RST literals lose their backticks."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_attributes(klass.__dict__.get("__doc__") or ""))
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return {f.name: docs[f.name].replace("``", "") for f in fields if f.name in docs}


def parse_scalar(text: str) -> Any:  # noqa: ANN401
    """A ``KEY=VALUE`` value as YAML (``2`` → int, ``[5, 10]`` → list, ``{a: 1}`` → mapping),
    with ``1e-4``-style floats, which YAML 1.1 leaves as strings. ConfigError on a YAML syntax
    error."""
    from crossrec.safeload import parse_yaml, shorten

    value = parse_yaml(text, f"value {shorten(text)}", ConfigError)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_value(value: Any, annotation: Any, where: str) -> Any:  # noqa: ANN401
    """``value`` checked (and converted, e.g. int → float) against a type annotation, ranges
    included; ConfigError naming ``where`` otherwise."""
    return _check_type(value, annotation, where)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types.

    Args:
        where: a label for error messages (e.g. ``"backbone lightgcn"``).
    Raises:
        ConfigError: ``"<where>: unknown key 'x' (allowed: a, b)"`` and similar.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(fields) or 'none'})"
        )
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _check_type(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing key {name!r}")
    return cls(**kwargs)
