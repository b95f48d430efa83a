"""The interface every dataset source implements, and the registry of sources.

* ``Params`` — a dataclass of the options a config's dataset entry (besides ``source``) and the
  ``crossrec download``/``prepare`` flags may set, checked like model parameters (an unknown or
  ill-typed option is one line naming it);
* ``download(dataset, out, params)`` — fetch or copy the raw files into ``out``;
* ``prepare(raw, out, dataset, params, needs)`` — the MMRec folder in ``out`` with the files the
  planned models declared (:class:`crossrec.data.needs.DataNeeds`); returns ``meta.json``'s
  content, which :func:`crossrec.data.prepare.describe` turns into the log's one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crossrec.data.needs import DataNeeds
from crossrec.registry import Registry


class Source:
    """Base class of a dataset source (module docstring)."""

    Params: ClassVar[type]
    description: ClassVar[str] = ""

    def download(self, dataset: str, out: Path, params: Any) -> None:  # noqa: ANN401
        """Fetch the raw files of ``dataset`` into ``out``."""
        raise NotImplementedError

    def prepare(
        self,
        raw: Path,
        out: Path,
        dataset: str,
        params: Any,  # noqa: ANN401
        needs: DataNeeds,
    ) -> dict[str, Any]:
        """Raw files → MMRec folder ``out`` (with ``needs``' files); returns its metadata."""
        raise NotImplementedError


SOURCES: Registry[Source] = Registry("source", "crossrec.sources")


@dataclass(frozen=True)
class VerifiedParams:
    """Options of a source whose data is checked against published statistics.

    Attributes:
        allow_variant: accept data whose statistics differ from the published ones.
    """

    allow_variant: bool = False


def needs_kwargs(needs: DataNeeds) -> dict[str, Any]:
    """``needs`` as the keyword arguments every source's ``prepare_*`` function
    takes: ``neighbor_ks``, ``knn_ks``, ``user_graph``."""
    return {
        "neighbor_ks": sorted(needs.neighbors_k),
        "knn_ks": sorted(needs.item_knn_k),
        "user_graph": needs.user_graph,
    }


def source_params(name: str, options: dict[str, Any], where: str) -> tuple[Source, Any]:
    """The source ``name`` and its typed ``Params`` from ``options`` (ConfigError naming
    ``where`` for an unknown source or option)."""
    from crossrec.errors import ConfigError
    from crossrec.strict import from_dict

    try:
        cls = SOURCES[name]
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return cls(), from_dict(cls.Params, options, where)
