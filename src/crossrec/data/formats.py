"""Reading and validating MMRec-format dataset folders.

An MMRec folder holds one tab-separated ``<name>.inter`` file with the header
``userID itemID rating timestamp x_label`` (only ``userID``, ``itemID`` and ``x_label`` are
used; ``x_label`` 0/1/2 = train/valid/test) and any number of ``<modality>_feat.npy`` item
feature matrices whose row ``i`` describes item ``i``. This module reproduces MMRec's
``RecDataset`` semantics (docs/protocol.md §1):

* ``n_users = max(userID) + 1`` and ``n_items = max(itemID) + 1`` over the **whole** file;
* valid/test rows whose user has no train row are dropped (cold users); cold items are kept;
* features are cast to float32.

Every violation raises :class:`~crossrec.errors.DataError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crossrec.data.user_graph import read_user_graph
from crossrec.errors import DataError
from crossrec.io import load_npy, regular_file, sha256_file

INTER_COLUMNS = ("userID", "itemID", "x_label")
FEATURE_SUFFIX = "_feat.npy"
NEIGHBOR_PATTERN = re.compile(r"^neighbors_k(\d+)\.npy$")
KNN_PATTERN = re.compile(r"^knn_(.+)_k(\d+)_([0-9a-f]{12})\.npy$")
SPLITS = ("train", "valid", "test")
MAX_ID = 2**31 - 2  # ids index int64 tables; ``max id + 1`` rows must stay allocatable


@dataclass(frozen=True)
class Split:
    """The (user, item) pairs of one split, as two aligned int64 arrays of shape [n]."""

    users: np.ndarray
    items: np.ndarray

    def __len__(self) -> int:
        return int(self.users.shape[0])


@dataclass(frozen=True)
class InteractionData:
    """An MMRec dataset in memory.

    Attributes:
        name: dataset name (the ``.inter`` file stem).
        n_users, n_items: ``max id + 1`` over all three splits.
        train, valid, test: the splits; valid/test without cold users.
        features: modality name -> float32 array [n_items, d_m] (row i = item i).
        neighbors: K -> int64 array [n_items, K] of item neighbours (``neighbors_k{K}.npy``).
        user_graph: (indices int64 [n_users, top], counts float32 [n_users, top]) of each user's
            co-occurring users (DualGNN; ``user_graph_*.npy``), or None.
        item_knn: (modality, K) -> int64 [n_items, K] feature-kNN neighbours, self included
            (``knn_<modality>_k<K>_<hash>.npy``; FREEDOM/LATTICE item graphs).
    """

    name: str
    n_users: int
    n_items: int
    train: Split
    valid: Split
    test: Split
    features: dict[str, np.ndarray] = field(default_factory=dict)
    neighbors: dict[int, np.ndarray] = field(default_factory=dict)
    item_knn: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    user_graph: tuple[np.ndarray, np.ndarray] | None = None

    def digest(self) -> str:
        """First 16 hex digits of a sha256 over everything training reads: sizes, the three
        splits, features, neighbour and kNN files, the user graph (keys checkpoints to data)."""
        h = hashlib.sha256(f"{self.n_users} {self.n_items}".encode())

        def add(label: str, arr: np.ndarray) -> None:
            arr = np.ascontiguousarray(arr)
            h.update(f"|{label}|{arr.dtype.str}|{arr.shape}|".encode())
            h.update(arr.data)

        for name in SPLITS:
            add(f"{name}.users", self.split(name).users)
            add(f"{name}.items", self.split(name).items)
        for name in sorted(self.features):
            add(f"feat.{name}", self.features[name])
        for k in sorted(self.neighbors):
            add(f"neighbors.{k}", self.neighbors[k])
        for key in sorted(self.item_knn):
            add(f"knn.{key}", self.item_knn[key])
        if self.user_graph is not None:
            add("user_graph.idx", self.user_graph[0])
            add("user_graph.cnt", self.user_graph[1])
        return h.hexdigest()[:16]

    def split(self, name: str) -> Split:
        """Return the split called ``name`` (``train``, ``valid`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)


def find_inter_file(folder: str | Path) -> Path:
    """The folder's ``.inter`` file: ``<folder name>.inter`` if present, else the only one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "dataset folder does not exist")
    try:
        os.listdir(folder)
    except OSError as err:
        raise DataError(folder, f"cannot read the dataset folder ({err.strerror})") from None
    preferred = folder / f"{folder.name}.inter"
    if os.path.lexists(preferred):
        return regular_file(preferred)
    candidates = sorted(folder.glob("*.inter"))
    if not candidates:
        raise DataError(folder, "no .inter file in the dataset folder")
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise DataError(folder, f"several .inter files ({names}) and none named {preferred.name}")
    return regular_file(candidates[0])


def read_inter(path: str | Path) -> pd.DataFrame:
    """Read and check an ``.inter`` file; return columns ``userID, itemID, x_label`` as int64.

    Raises:
        DataError: missing column, non-integer or negative id, ``x_label`` outside {0,1,2}.
    """
    path = regular_file(path)
    try:
        header = pd.read_csv(path, sep="\t", nrows=0).columns
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read as a tab-separated file ({err})") from None
    missing = [c for c in INTER_COLUMNS if c not in header]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)} (header: {list(header)})")
    try:
        df = pd.read_csv(path, sep="\t", usecols=list(INTER_COLUMNS))
    except (pd.errors.ParserError, ValueError) as err:
        raise DataError(path, f"cannot parse ({err})") from None
    if df.empty:
        raise DataError(path, "no interactions (only a header)")
    for col in INTER_COLUMNS:
        numeric = pd.to_numeric(df[col], errors="coerce")
        if not pd.api.types.is_integer_dtype(df[col]):
            bad = df[col][numeric.isna() | (numeric % 1 != 0)]
            if len(bad):
                example = bad.iloc[0]
                example = example.item() if hasattr(example, "item") else example
                raise DataError(path, f"column {col} has non-integer values (e.g. {example!r})")
        too_big = numeric.abs() > MAX_ID  # before the int64 cast, which would wrap them
        if too_big.any():
            raise DataError(
                path,
                f"column {col} has id {df[col][too_big].iloc[0]}, above the maximum {MAX_ID}",
            )
        df[col] = df[col].astype(np.int64)
    for col in ("userID", "itemID"):
        if (df[col] < 0).any():
            raise DataError(path, f"column {col} has negative ids (min {int(df[col].min())})")
        if int(df[col].max()) > MAX_ID:
            raise DataError(
                path, f"column {col} has id {int(df[col].max())}, above the maximum {MAX_ID}"
            )
    bad_labels = sorted(int(v) for v in set(df["x_label"].unique()) - {0, 1, 2})
    if bad_labels:
        raise DataError(path, f"x_label must be 0, 1 or 2 (found {bad_labels[:5]})")
    twice = df.duplicated(["userID", "itemID", "x_label"], keep="first")
    if twice.any():  # sampled and scored twice; a pair in two splits is refused by load_mmrec
        first = df[twice].iloc[0]
        raise DataError(
            path,
            f"{int(twice.sum())} (userID, itemID) pair(s) listed more than once in one split, e.g. user "
            f"{int(first['userID'])} item {int(first['itemID'])} (line {int(twice.to_numpy().argmax()) + 2}); "
            "keep one row per pair",
        )
    return df


def read_feature(path: str | Path, n_items: int) -> np.ndarray:
    """Load one ``*_feat.npy`` item-feature matrix, checked, as float32 [n_items, d].

    Raises:
        DataError: unreadable or pickled file, non-float dtype, not 2-D, row count != n_items,
            NaN or inf values.
    """
    path = Path(path)
    arr = load_npy(path)
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(path, f"feature dtype must be floating point, found {arr.dtype}")
    if arr.ndim != 2:
        raise DataError(path, f"features must be 2-D [n_items, dim], found shape {arr.shape}")
    if arr.shape[0] != n_items:
        raise DataError(path, f"has {arr.shape[0]} rows but the dataset has {n_items} items")
    if arr.shape[1] == 0:
        raise DataError(path, "features have zero columns")
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)  # checked after the cast: 1e300 -> inf
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise DataError(path, f"contains NaN or inf values in {n_bad} row(s) (checked as float32)")
    return arr


def read_neighbors(path: str | Path, n_items: int, k: int) -> np.ndarray:
    """Load one ``neighbors_k{K}.npy``: integer [n_items, K] with ids in [0, n_items)."""
    path = Path(path)
    arr = load_npy(path)
    if not np.issubdtype(arr.dtype, np.integer):
        raise DataError(path, f"neighbour ids must be integers, found {arr.dtype}")
    if arr.shape != (n_items, k):
        raise DataError(path, f"shape {arr.shape}, expected ({n_items}, {k})")
    if arr.size and (arr.min() < 0 or arr.max() >= n_items):
        raise DataError(path, f"neighbour ids outside [0, {n_items})")
    return arr.astype(np.int64)


def neighbor_files(folder: str | Path) -> dict[int, Path]:
    """Map K -> path for every ``neighbors_k{K}.npy`` in ``folder``."""
    out = {}
    for path in Path(folder).glob("neighbors_k*.npy"):
        match = NEIGHBOR_PATTERN.match(path.name)
        if match:
            out[int(match.group(1))] = path
    return dict(sorted(out.items()))


def feature_digest(path: str | Path) -> str:
    """First 12 hex digits of a feature file's sha256: the key of graphs built from it."""
    return sha256_file(path)[:12]


def knn_files(folder: str | Path) -> dict[tuple[str, int], tuple[Path, str]]:
    """Map (modality, K) -> (path, feature digest) for every ``knn_<m>_k<K>_<hash>.npy``."""
    out = {}
    for path in sorted(Path(folder).glob("knn_*.npy")):
        match = KNN_PATTERN.match(path.name)
        if match:
            out[(match.group(1), int(match.group(2)))] = (path, match.group(3))
    return out


def feature_files(folder: str | Path) -> dict[str, Path]:
    """Map modality name -> path for every ``<modality>_feat.npy`` in ``folder`` (sorted)."""
    folder = Path(folder)
    return {p.name[: -len(FEATURE_SUFFIX)]: p for p in sorted(folder.glob(f"*{FEATURE_SUFFIX}"))}


def _check_overlap(path: Path, splits: dict[str, Split], n_items: int) -> None:
    """Refuse valid/test pairs that are also train pairs: evaluation masks the user's train
    items, so such a held-out item could never be retrieved (a silently wrong metric)."""
    train = np.unique(splits["train"].users * n_items + splits["train"].items)
    for name in ("valid", "test"):
        part = splits[name]
        keys = part.users * n_items + part.items
        hit = np.isin(keys, train)
        if hit.any():
            first = int(np.argmax(hit))
            raise DataError(
                path,
                f"{int(hit.sum())} {name} interaction(s) repeat a train (user, item) pair, e.g. "
                f"user {int(part.users[first])} item {int(part.items[first])}; a pair must be "
                "in one split only",
            )


def load_mmrec(folder: str | Path, modalities: list[str] | None = None) -> InteractionData:
    """Load an MMRec-format folder with MMRec's semantics (module docstring).

    Args:
        folder: directory holding ``<name>.inter`` and ``<modality>_feat.npy`` files.
        modalities: the modalities to load (default: every ``*_feat.npy`` found).
    """
    inter_path = find_inter_file(folder)
    df = read_inter(inter_path)
    n_users = int(df["userID"].max()) + 1
    n_items = int(df["itemID"].max()) + 1
    parts = {name: df[df["x_label"] == label] for label, name in enumerate(SPLITS)}
    train_users = np.unique(parts["train"]["userID"].to_numpy())
    splits: dict[str, Split] = {}
    for name in SPLITS:
        part = parts[name]
        if name != "train":  # filter_out_cod_start_users
            part = part[np.isin(part["userID"].to_numpy(), train_users)]
        if part.empty:
            raise DataError(inter_path, f"the {name} split is empty (x_label {SPLITS.index(name)})")
        splits[name] = Split(
            users=part["userID"].to_numpy(dtype=np.int64, copy=True),
            items=part["itemID"].to_numpy(dtype=np.int64, copy=True),
        )
    _check_overlap(inter_path, splits, n_items)
    available = feature_files(Path(folder))
    wanted = list(available) if modalities is None else list(modalities)
    features: dict[str, np.ndarray] = {}
    for name in wanted:
        if name not in available:
            raise DataError(Path(folder) / f"{name}{FEATURE_SUFFIX}", "modality file not found")
        features[name] = read_feature(available[name], n_items)
    neighbors = {k: read_neighbors(p, n_items, k) for k, p in neighbor_files(folder).items()}
    item_knn = {}
    for (modality, k), (path, digest) in knn_files(folder).items():
        if modality not in available:
            raise DataError(path, f"kNN graph of a modality without {modality}{FEATURE_SUFFIX}")
        if feature_digest(available[modality]) != digest:
            raise DataError(
                path, f"stale: built from another {modality}{FEATURE_SUFFIX}; rerun prepare"
            )
        if modality in features:
            item_knn[(modality, k)] = read_neighbors(path, n_items, k)
    return InteractionData(
        name=inter_path.stem,
        n_users=n_users,
        n_items=n_items,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        features=features,
        neighbors=neighbors,
        item_knn=item_knn,
        user_graph=read_user_graph(folder, n_users),
    )
