"""JSON Schema generated from the parameter dataclasses (``crossrec schema``).

The dataclasses (``Params`` of every backbone, plug-in and dataset source) are the one source
of parameter types, choices, ranges and defaults: :func:`crossrec.strict.from_dict` validates
with them wherever a value enters. This module writes the same facts as JSON Schema 2020-12
for editors and other tools (e.g. a YAML language server checking a config as it is typed):
the workflow's config schema with ``backbones.<name>`` and ``plugins.<name>`` filled in for
every registered name, each parameter a value of its type or — a grid — a non-empty list of
them. Dataclass metadata rather than pydantic: the classes are plain frozen dataclasses with
``Annotated`` ranges already, and a second model layer would be a second copy of them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from functools import cache
from typing import Annotated, Any

from crossrec.strict import Range, field_docs

_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}


def type_schema(annotation: Any) -> dict[str, Any]:  # noqa: ANN401
    """The JSON Schema of one parameter type: scalars, ``Literal`` choices (``enum``),
    :class:`crossrec.strict.Range` bounds, ``X | None``, lists/tuples and string-keyed dicts."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        out = type_schema(base)
        for extra in extras:
            if isinstance(extra, Range):
                for key, bound in (("minimum", extra.ge), ("exclusiveMinimum", extra.gt),
                                   ("maximum", extra.le), ("exclusiveMaximum", extra.lt)):  # fmt: skip
                    if bound is not None:
                        out[key] = bound
        return out
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(a) for a in typing.get_args(annotation)]}
    if annotation is type(None):
        return {"type": "null"}
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not ...]
        return {"type": "array", **({"items": type_schema(args[0])} if args else {})}
    if origin is dict:
        args = typing.get_args(annotation)
        return {
            "type": "object",
            **({"additionalProperties": type_schema(args[1])} if args else {}),
        }
    if annotation in _SCALARS:  # JSON's "number" includes integers (1 for a float is fine)
        return {"type": _SCALARS[annotation]}
    return {}


def params_schema(cls: type, grid: bool = False) -> dict[str, Any]:
    """An object schema of dataclass ``cls``'s fields (descriptions from its docstring's
    ``Attributes:``, defaults where JSON-able);
    ``grid``: each value may also be a non-empty list of values (a grid in the main study)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = field_docs(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        schema = type_schema(hints[f.name])
        if grid:
            schema = {"anyOf": [schema, {"type": "array", "items": schema, "minItems": 1}]}
        if f.name in docs:
            schema["description"] = docs[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if default is dataclasses.MISSING:
            required.append(f.name)
        else:
            try:
                schema["default"] = json.loads(json.dumps(default))
            except TypeError:
                pass
        props[f.name] = schema
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    return {**out, "required": required} if required else out


@cache
def workflow_schema() -> dict[str, Any]:
    """The schema the workflow checks a config against (torch-free): ``config.schema.yaml``
    with its ``train`` section generated from :class:`crossrec.run.TrainConfig`, the one
    description of the trainer's settings (``crossrec list`` prints the same)."""
    from crossrec import schemas
    from crossrec.run import TrainConfig

    schema = copy.deepcopy(schemas.load("config"))
    schema["properties"]["train"].update(params_schema(TrainConfig))
    return schema


def config_schema() -> dict[str, Any]:
    """The workflow's config schema with every registered backbone's and plug-in's parameters
    (grids allowed) and every source's options."""
    from crossrec.align import PLUGINS
    from crossrec.data.sources import SOURCES
    from crossrec.models import BACKBONES
    from crossrec.run import TrainConfig

    schema = copy.deepcopy(workflow_schema())
    props = schema["properties"]
    for key, registry in (("backbones", BACKBONES), ("plugins", PLUGINS)):
        props[key]["properties"] = {
            name: params_schema(registry[name].Params, grid=True) for name in registry
        }
        props[key]["additionalProperties"] = False
    own_train = params_schema(TrainConfig, grid=True)  # a backbone's own trainer settings
    own_train["description"] = "trainer settings of this backbone alone (a list is a grid)"
    for entry in props["backbones"]["properties"].values():
        entry["properties"]["train"] = own_train
    entry = props["datasets"]["additionalProperties"]
    entry["allOf"] = [
        {
            "if": {"properties": {"source": {"const": name}}},
            "then": {"properties": {"source": True, **params_schema(SOURCES[name].Params)["properties"]},
                     "additionalProperties": False},
        }
        for name in SOURCES
    ]  # fmt: skip
    entry["properties"]["source"]["enum"] = list(SOURCES)
    return schema
