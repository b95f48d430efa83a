"""The info verbs: ``list`` (registered backbones, plug-ins, sources, trainer settings) and
``schema`` (the config's JSON Schema)."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from crossrec.strict import describe_range, describe_type, field_docs


def cmd_list(args: argparse.Namespace) -> None:
    """Print the registered backbones, plug-ins and dataset sources with their parameters, and
    the trainer's settings: name, type and range, default, description."""
    from crossrec.align import PLUGINS
    from crossrec.data.sources import SOURCES
    from crossrec.models import BACKBONES
    from crossrec.run import TrainConfig

    for kind, registry in (("backbone", BACKBONES), ("plugin", PLUGINS), ("source", SOURCES)):
        for name in registry:
            about = getattr(registry[name], "description", "")
            print(f"{kind} {name}" + (f"  — {about}" if about and kind == "source" else ""))
            _print_fields(registry[name].Params)
    print("train  (a config's train: section; crossrec train --train KEY=VALUE)")
    _print_fields(TrainConfig)


def _print_fields(cls: type) -> None:
    """One line per field of dataclass ``cls`` (name, type and range, default), its description
    below it."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls, include_extras=True)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind_of = describe_type(hints[f.name]) + describe_range(cls, f.name)
        print(f"    {f.name:22s} {kind_of:34s} default {_default(f)!r}")
        if f.name in docs:
            print(textwrap.fill(docs[f.name], 96, initial_indent=" " * 8,
                                subsequent_indent=" " * 8))  # fmt: skip


def cmd_schema(args: argparse.Namespace) -> None:
    """Print the config's JSON Schema with every registered parameter (crossrec.params_schema)."""
    from crossrec.params_schema import config_schema

    print(json.dumps(config_schema(), indent=1))


def _default(f: Any) -> Any:  # noqa: ANN401
    """A dataclass field's default value, ``default_factory`` included."""
    import dataclasses

    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``list`` and ``schema`` on the CLI's subparsers."""
    p = sub.add_parser(
        "list",
        help="registered backbones, plug-ins and sources",
        description="Print every backbone, plug-in and data source crossrec knows, those of "
        "installed packages (entry points) included, with their parameters' defaults.",
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "schema",
        help="the config's JSON Schema, every registered parameter included (for editors)",
        description="Print the JSON Schema of a study config with every registered backbone's "
        "and plug-in's parameters, for an editor's completion and checks.",
    )
    p.set_defaults(func=cmd_schema)
