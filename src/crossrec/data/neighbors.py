"""Item neighbour files for CNA (docs/method.md §5.1): ``neighbors_k{K}.npy``, int64 [n_items, K].

Built from **train interactions only** (x_label 0), so no valid/test information leaks:

* an item's feedback profile is its binary column r_i of the user × item train matrix;
* similarity ``S_ij = r_iᵀ r_j / (||r_i|| ||r_j||)`` (cosine of user sets), self excluded;
* row i keeps the K most similar items **sorted by decreasing similarity** (ties: lower item id
  first), so rank position is meaningful for CNA's ``param_attn``;
* padding rule: an item with 1 ≤ c < K co-interacted items repeats its c neighbours cyclically in
  rank order (n1, n2, ..., nc, n1, ...); an item with none (absent from train, or no co-user)
  falls back to itself (K copies of i). the summary returned by :func:`item_neighbors` counts both cases for meta.json.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def cosine_item_similarity(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> sp.csr_matrix:
    """Sparse cosine similarity of item user-sets [n_items, n_items], diagonal removed."""
    pairs = np.unique(np.stack([users, items]), axis=1)
    r = sp.csr_matrix(
        (np.ones(pairs.shape[1], dtype=np.float64), (pairs[0], pairs[1])), shape=(n_users, n_items)
    )
    co = (r.T @ r).tocsr()
    deg = np.sqrt(np.asarray(r.sum(axis=0)).ravel())
    co = co.tocoo()
    keep = co.row != co.col
    rows, cols = co.row[keep], co.col[keep]
    vals = co.data[keep] / (deg[rows] * deg[cols])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items))


def top_k_neighbors(sim: sp.csr_matrix, k: int) -> np.ndarray:
    """Rows' top-``k`` columns by decreasing value (ties: lower id), with the padding rule."""
    n = sim.shape[0]
    coo = sim.tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(rows.size) - starts[rows]
    out = np.repeat(np.arange(n, dtype=np.int64)[:, None], k, axis=1)  # fallback: self
    take = rank < k
    out[rows[take], rank[take]] = cols[take]
    short = np.flatnonzero((counts > 0) & (counts < k))
    for i in short:  # pad by cycling the available neighbours (few rows)
        c = counts[i]
        out[i, c:] = out[i, np.arange(c, k) % c]
    return out


def item_neighbors(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, ks: list[int]
) -> tuple[dict[int, np.ndarray], dict[int, dict[str, int]]]:
    """``neighbors_k{K}`` arrays [n_items, K] int64 from train pairs, for every K in ``ks``.

    Returns:
        (K -> neighbour array, K -> {"padded": items with 1 <= c < K co-interacted items,
        "self_fallback": items with none}).
    """
    if any(k < 1 for k in ks):
        raise ValueError(f"K must be >= 1, got {list(ks)}")
    sim = cosine_item_similarity(users, items, n_users, n_items)
    counts = np.diff(sim.indptr)
    arrays = {k: top_k_neighbors(sim, k) for k in ks}
    summary = {
        k: {
            "padded": int(((counts > 0) & (counts < k)).sum()),
            "self_fallback": int((counts == 0).sum()),
        }
        for k in ks
    }
    return arrays, summary
