"""DualGNN's user–user co-occurrence graph (MMRec's ``user_graph_dict.npy``), built by ``prepare``.

For every user, the users sharing at least one **train** item, ordered by the number of shared
items (descending; ties: lower id first — MMRec's ``torch.topk`` leaves ties unordered), at most
``top`` (MMRec: 200). Stored as two arrays: ``user_graph_idx.npy`` int64 [n_users, top] (−1 pads
a shorter list) and ``user_graph_cnt.npy`` float32 [n_users, top] (the counts, 0 where padded).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossrec.errors import DataError
from crossrec.io import load_npy

IDX_FILE = "user_graph_idx.npy"
CNT_FILE = "user_graph_cnt.npy"


def user_cooccurrence(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, top: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """(indices [n_users, top], counts [n_users, top]) of each user's co-occurring users."""
    r = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
    )
    r.data[:] = 1.0  # duplicates count once
    r.sum_duplicates()
    r.data[:] = 1.0
    c = (r @ r.T).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    idx = np.full((n_users, top), -1, dtype=np.int64)
    cnt = np.zeros((n_users, top), dtype=np.float32)
    for u in range(n_users):
        start, end = c.indptr[u], c.indptr[u + 1]
        cols, vals = c.indices[start:end], c.data[start:end]
        order = np.lexsort((cols, -vals))[:top]
        idx[u, : len(order)] = cols[order]
        cnt[u, : len(order)] = vals[order]
    return idx, cnt


def read_user_graph(folder: str | Path, n_users: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The folder's user graph, checked, or None when it has none."""
    folder = Path(folder)
    if not os.path.lexists(folder / IDX_FILE):
        return None
    if not os.path.lexists(folder / CNT_FILE):
        raise DataError(folder / CNT_FILE, f"missing (it pairs with {IDX_FILE})")
    idx, cnt = load_npy(folder / IDX_FILE), load_npy(folder / CNT_FILE)
    if idx.ndim != 2 or idx.shape[0] != n_users or idx.shape != cnt.shape or idx.shape[1] < 1:
        raise DataError(
            folder / IDX_FILE,
            f"shape {idx.shape} / {cnt.shape}, expected [{n_users}, top] with top >= 1",
        )
    if not np.issubdtype(cnt.dtype, np.number) or not np.isfinite(cnt).all() or (cnt < 0).any():
        raise DataError(folder / CNT_FILE, "counts must be finite numbers >= 0")
    if not np.issubdtype(idx.dtype, np.integer) or (
        idx.size and (idx.min() < -1 or idx.max() >= n_users)
    ):
        raise DataError(folder / IDX_FILE, f"user ids must be integers in [-1, {n_users})")
    return idx.astype(np.int64), cnt.astype(np.float32)
