"""A tiny name → class registry with strict hyper-parameter construction.

Used for backbones (:mod:`crossrec.models`) and alignment plug-ins (:mod:`crossrec.align`).
Each registered class has a ``Params`` dataclass and a ``(spec, params)`` constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from crossrec.config import from_dict
from crossrec.errors import ConfigError

C = TypeVar("C")


class Registry(Generic[C]):
    """Registered classes of one kind (``kind`` names them in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[C]] = {}

    def register(self, name: str) -> Callable[[type[C]], type[C]]:
        """Class decorator registering the class under ``name``."""

        def deco(cls: type[C]) -> type[C]:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            return cls

        return deco

    def __getitem__(self, name: str) -> type[C]:
        if name not in self._classes:
            raise ConfigError(
                f"unknown {self.kind} {name!r} (available: {', '.join(sorted(self._classes))})"
            )
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
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
