"""A name → class registry with strict hyper-parameter construction.

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

from crossrec.errors import ConfigError
from crossrec.strict import from_dict

C = TypeVar("C")


class Registry(Generic[C]):
    """Registered classes of one kind (``kind`` names them in error messages); ``group`` is the
    entry-point group through which other distributions add classes."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._classes: dict[str, type[C]] = {}
        self._origin: dict[str, str] = {}
        self._broken: dict[str, ConfigError] = {}  # entry points that failed to load

    def register(self, name: str) -> Callable[[type[C]], type[C]]:
        """Class decorator registering the class under ``name``."""

        def deco(cls: type[C]) -> type[C]:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            return cls

        return deco

    def _load_entry_points(self, strict: bool = True) -> None:
        """Register every not yet known entry point of :attr:`group`. An entry point that
        cannot be loaded — any exception, ``SystemExit`` or ``KeyboardInterrupt`` raised while
        its package is imported — or is not a class with a ``Params`` dataclass is kept as a
        one-line ConfigError naming it and its package; ``strict`` raises the first of them
        (``crossrec list``), else only a lookup of that very name does (a typo in another
        name is not blamed on a broken package)."""
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
            if ep.name not in self._broken:
                self._load_one(ep)
        if strict and self._broken:
            raise next(iter(self._broken.values()))

    def _load_one(self, ep: metadata.EntryPoint) -> None:
        """Load one entry point in isolation (see :meth:`_load_entry_points`)."""
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        where = f"entry point {self.group}:{ep.name} = {ep.value} (package {dist})"
        try:
            cls = ep.load()
        except (Exception, SystemExit, KeyboardInterrupt) as err:  # noqa: BLE001 (third party)
            what = f"exit({err.code!r})" if isinstance(err, SystemExit) else type(err).__name__
            self._broken[ep.name] = ConfigError(f"{where}: cannot be loaded ({what}: {err})")
            return
        params = getattr(cls, "Params", None)
        if not isinstance(cls, type) or params is None or not dataclasses.is_dataclass(params):
            self._broken[ep.name] = ConfigError(
                f"{where}: not a {self.kind} class with a Params dataclass"
            )
            return
        self._classes[ep.name] = cls
        self._origin[ep.name] = ep.value

    def __getitem__(self, name: str) -> type[C]:
        if name not in self._classes:
            self._load_entry_points(strict=False)
        if name in self._broken:
            raise self._broken[name]
        if name not in self._classes:
            broken = f"; not loadable: {', '.join(sorted(self._broken))}" if self._broken else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r} (available: {', '.join(sorted(self._classes))}"
                f"{broken})"
            )
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        if name not in self._classes:
            self._load_entry_points(strict=False)
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
