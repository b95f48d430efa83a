"""An MMRec-format folder already on disk (a user's own data, or the test fixture): validated
with :func:`crossrec.data.formats.load_mmrec` and copied (``download``), then its ``.inter``
renamed ``<dataset>.inter`` with the derived files (``prepare``)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossrec.data.formats import feature_files, find_inter_file, load_mmrec
from crossrec.data.needs import DataNeeds
from crossrec.data.prepare import finish_folder, is_prepared
from crossrec.data.sources.base import SOURCES, Source, needs_kwargs
from crossrec.io import sha256_file
from crossrec.outputs import atomic_dir, check_replaceable


def copy_mmrec_folder(src: str | Path, dest: str | Path) -> Path:
    """Validate an MMRec-format folder and copy its ``.inter`` and ``*_feat.npy`` files to ``dest``."""
    src = Path(src)
    check_replaceable(dest, protect=[src], flag="--out (it would replace --path)")
    load_mmrec(src)  # raises DataError on any problem, before anything is written
    inter = find_inter_file(src)
    with atomic_dir(dest, "download", protect=[src]) as out:
        shutil.copyfile(inter, out / inter.name)
        for path in feature_files(src).values():
            shutil.copyfile(path, out / path.name)
    return Path(dest)


def prepare_folder(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    source: dict[str, Any] | None = None,
    user_graph: bool = False,
) -> dict[str, Any]:
    """An MMRec-format folder → ``out_dir`` with its ``.inter`` renamed ``<name>.inter``
    (plus ``neighbors_k{K}.npy`` for each K in ``neighbor_ks``); ``source`` is recorded in
    ``meta.json``."""
    raw_dir = Path(raw_dir)
    check_replaceable(out_dir, is_prepared, [raw_dir])
    data = load_mmrec(raw_dir)  # every problem named by the user's own file, before any copy
    inter = find_inter_file(raw_dir)
    with atomic_dir(out_dir, "prepare", is_prepared, [raw_dir]) as tmp:
        shutil.copyfile(inter, tmp / f"{name}.inter")
        hashes = {inter.name: sha256_file(inter)}
        for path in feature_files(raw_dir).values():
            shutil.copyfile(path, tmp / path.name)
            hashes[path.name] = sha256_file(path)
        meta = finish_folder(
            tmp,
            name,
            {
                "source": f"MMRec folder {raw_dir}",
                "source_files": hashes,
                "source_verified": False,  # a user's folder has no recorded digests
                **(source or {}),
            },
            neighbor_ks,
            knn_ks,
            user_graph,
            dataclasses.replace(data, name=name),
        )
    return meta


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
        from crossrec.errors import ConfigError

        if not params.path:
            raise ConfigError("source folder needs its path (--path, or path: in the config)")
        copy_mmrec_folder(params.path, out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: FolderParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """The copied folder with its ``.inter`` renamed ``<dataset>.inter``."""
        return prepare_folder(raw, out, dataset, **needs_kwargs(needs))
