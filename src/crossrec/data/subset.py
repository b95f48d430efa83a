"""A prepared folder restricted to some of its modalities: the data of a modality knock-out run
(:mod:`crossrec.study.knockout`; ``crossrec subset``).

Every (non-hidden) file of the prepared folder is carried over (hard-linked where the file system allows,
else copied: a prepared folder's files are never edited in place, a rerun of ``prepare`` writes
a new folder) except the dropped modalities' ``<m>_feat.npy`` and ``knn_<m>_k<K>_<hash>.npy``;
``meta.json`` lists the kept modalities and the folder it was derived from. The interactions,
the split, the CNA neighbour files and DualGNN's user graph (all from the train interactions)
are the full dataset's, so a knock-out run differs from the full run in its modalities only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossrec.data.formats import KNN_PATTERN, feature_files, load_mmrec
from crossrec.data.prepare import is_prepared
from crossrec.errors import ConfigError, DataError
from crossrec.io import write_json
from crossrec.outputs import atomic_dir, check_replaceable
from crossrec.safeload import load_json


def _carry(src: Path, dest: Path) -> None:
    """``dest`` as a hard link to ``src``, or a copy where links cannot be made."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _dropped(name: str, dropped: set[str]) -> bool:
    """Whether a file of the prepared folder belongs to a dropped modality."""
    if name.endswith("_feat.npy") and name.removesuffix("_feat.npy") in dropped:
        return True
    match = KNN_PATTERN.match(name)
    return bool(match) and match.group(1) in dropped


def write_subset(
    data: str | Path, out: str | Path, keep: Sequence[str], modalities: Sequence[str]
) -> dict[str, Any]:
    """Write ``out``: the prepared folder ``data`` with only the ``keep`` modalities.

    Args:
        data: a folder ``crossrec prepare`` wrote.
        out: the new folder (replaced only when crossrec made it).
        keep: the modalities kept (a non-empty proper subset of ``modalities``).
        modalities: every modality the folder must hold (the config's ``knockout.modalities``),
            so that an undeclared modality is never kept silently.

    Returns:
        The new ``meta.json``.

    Raises:
        DataError: ``data`` is not a prepared folder.
        ConfigError: the folder's modalities are not ``modalities``, or ``keep`` is not a
            non-empty proper subset of them.
    """
    data = Path(data)
    if not is_prepared(data):
        raise DataError(data, "not a folder `crossrec prepare` wrote (no meta.json)")
    found = sorted(feature_files(data))
    if sorted(modalities) != found:
        raise ConfigError(
            f"knockout.modalities: {data} holds the modalities {found}, the config names "
            f"{sorted(modalities)}"
        )
    kept = set(keep)
    if not kept or not kept < set(found):
        raise ConfigError(
            f"--keep: {sorted(kept)} is not a non-empty proper subset of {data}'s modalities {found}"
        )
    check_replaceable(out, is_prepared, [data])
    dropped = set(found) - kept
    meta = load_json(data / "meta.json")
    with atomic_dir(out, "subset", is_prepared, [data]) as tmp:
        for path in sorted(data.iterdir()):
            if (
                path.name.startswith(".")
                or path.name == "meta.json"
                or _dropped(path.name, dropped)
            ):
                continue  # hidden files are the folder's own (crossrec's marker, Snakemake's
                # timestamp: a link to it would make a touch of one folder touch the other)
            if not path.is_file() or path.is_symlink():
                raise DataError(path, "not a regular file in a prepared folder")
            _carry(path, tmp / path.name)
        load_mmrec(tmp)  # checked exactly as training will read it
        meta = {
            **meta,
            "dataset": Path(out).name,
            "modalities": {m: v for m, v in meta["modalities"].items() if m in kept},
            "knockout": {
                "derived_from": str(data),
                "kept": sorted(kept),
                "dropped": sorted(dropped),
            },
        }
        if "item_knn" in meta:
            meta["item_knn"] = {
                name: info for name, info in meta["item_knn"].items() if not _dropped(name, dropped)
            }
        write_json(tmp / "meta.json", meta)
    return meta
