"""A tiny name → class registry with strict hyper-parameter construction.

Used for backbones (:mod:`crossrec.models`) and alignment plug-ins (:mod:`crossrec.align`).
Each registered class has a ``Params`` dataclass and a ``(spec, params)`` constructor.

Classes outside this package join through Python entry points (``importlib.metadata``): an
installed distribution that declares, e.g. in its ``pyproject.toml``::

    [project.entry-points."crossrec.backbones"]
    mymodel = "mypackage.models:MyModel"

makes ``mymodel`` a backbone everywhere crossrec takes a name (config, ``crossrec train``,
``crossrec list``), without editing crossrec (docs/extending.md). Entry points are read when a
name is looked up and not yet known, or the names are listed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any, Generic, TypeVar

from crossrec.config import from_dict
from crossrec.errors import ConfigError

C = TypeVar("C")


class Registry(Generic[C]):
    """Registered classes of one kind (``kind`` names them in error messages); ``group`` is the
    entry-point group through which other distributions add classes."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._classes: dict[str, type[C]] = {}
        self._origin: dict[str, str] = {}

    def register(self, name: str) -> Callable[[type[C]], type[C]]:
        """Class decorator registering the class under ``name``."""

        def deco(cls: type[C]) -> type[C]:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            return cls

        return deco

    def _load_entry_points(self) -> None:
        """Register every not yet known entry point of :attr:`group` (ConfigError naming the
        entry point when one cannot be loaded or is not a usable class)."""
        if self.group is None:
            return
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._classes:
                if self._origin.get(ep.name) != ep.value:
                    raise ConfigError(
                        f"entry point {self.group}:{ep.name} = {ep.value}: the name is already "
                        f"a {self.kind} of {self._origin.get(ep.name, 'crossrec')}"
                    )
                continue
            try:
                cls = ep.load()
            except Exception as err:  # noqa: BLE001  (any import failure of a third party)
                raise ConfigError(
                    f"entry point {self.group}:{ep.name} = {ep.value}: cannot be loaded "
                    f"({type(err).__name__}: {err})"
                ) from None
            if not isinstance(cls, type) or not hasattr(cls, "Params"):
                raise ConfigError(
                    f"entry point {self.group}:{ep.name} = {ep.value}: not a {self.kind} class "
                    "with a Params dataclass"
                )
            self._classes[ep.name] = cls
            self._origin[ep.name] = ep.value

    def __getitem__(self, name: str) -> type[C]:
        if name not in self._classes:
            self._load_entry_points()
        if name not in self._classes:
            raise ConfigError(
                f"unknown {self.kind} {name!r} (available: {', '.join(sorted(self._classes))})"
            )
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        if name not in self._classes:
            self._load_entry_points()
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        self._load_entry_points()
        return iter(sorted(self._classes))

    def build(
        self,
        name: str,
        spec: Any,  # noqa: ANN401
        params: Mapping[str, Any] | None = None,
        *extra: Any,  # noqa: ANN401
    ) -> C:
        """Instantiate ``name(spec, typed_params, *extra)``, the parameters checked against the
        class's ``Params`` dataclass."""
        cls = self[name]
        typed = from_dict(cls.Params, params, f"{self.kind} {name}")  # type: ignore[attr-defined]
        return cls(spec, typed, *extra)  # type: ignore[call-arg]

    def resolve(
        self, name: str, params: Mapping[str, Any] | None, where: str | None = None
    ) -> dict[str, Any]:
        """``params`` checked against ``name``'s ``Params`` and completed with every default, as
        plain data (tuples as lists): the form a run file records (ConfigError naming
        ``where``, by default ``"<kind> <name>"``)."""
        where = where or f"{self.kind} {name}"
        typed = from_dict(self[name].Params, params, where)  # type: ignore[attr-defined]
        return json.loads(json.dumps(dataclasses.asdict(typed)))
