"""MMRec's preprocessing, exactly (docs/protocol.md §2): k-core filtering, re-indexing, random split.

Reproduces ``preprocessing/0rating2inter.ipynb`` and ``1splitting.ipynb`` of MMRec, with one
deliberate change: the split shuffle is seeded (MMRec's notebook draws an unseeded
``df.sample(frac=1)``), and the per-user sort is stable, so the split is reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

USER, ITEM, TIME = "userID", "itemID", "timestamp"


def clean_interactions(df: pd.DataFrame) -> pd.DataFrame:
    """``dropna`` then ``drop_duplicates`` on (userID, itemID, timestamp); every rating is kept."""
    return df.dropna().drop_duplicates(subset=[USER, ITEM, TIME]).reset_index(drop=True)


def k_core(df: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Iteratively drop users and items with fewer than ``k`` interactions until stable.

    Each round removes the under-threshold users and items simultaneously (as MMRec's notebook),
    and the loop ends when a round removes nothing. Row order is preserved.
    """
    while True:
        user_counts = df[USER].map(df[USER].value_counts())
        item_counts = df[ITEM].map(df[ITEM].value_counts())
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            return df.reset_index(drop=True)
        df = df[keep]


def reindex(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Map user and item ids to 0-based ints in order of first appearance (``pd.unique``).

    Returns:
        (re-indexed frame, raw user id per new id, raw item id per new id)
    """
    raw_users = pd.unique(df[USER])
    raw_items = pd.unique(df[ITEM])
    out = df.copy()
    out[USER] = pd.Index(raw_users).get_indexer(df[USER]).astype(np.int64)
    out[ITEM] = pd.Index(raw_items).get_indexer(df[ITEM]).astype(np.int64)
    return out, np.asarray(raw_users), np.asarray(raw_items)


def split_labels(n: int) -> list[int]:
    """MMRec's per-user labels for a user with ``n`` interactions (0 train, 1 valid, 2 test).

    ``n < 10``: ``[0]*(n-2) + [1] + [2]``; otherwise ``vt = int(0.2 n)``, ``valid = vt // 2``,
    ``test = vt - valid`` and ``train = n - vt``.
    """
    if n < 10:
        return [0] * (n - 2) + [1, 2]
    vt = int(0.2 * n)
    valid = vt // 2
    return [0] * (n - vt) + [1] * valid + [2] * (vt - valid)


def random_split(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Shuffle the rows with ``seed``, stable-sort by user, and add MMRec's ``x_label`` column.

    Requires every user to have at least 2 interactions (guaranteed after a k-core with k >= 2).
    """
    shuffled = df.sample(frac=1, random_state=seed).sort_values(USER, kind="stable")
    shuffled = shuffled.reset_index(drop=True)
    counts = shuffled.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    position = shuffled.groupby(USER, sort=False).cumcount().to_numpy()
    n = counts
    vt = np.where(n < 10, 2, (0.2 * n).astype(np.int64))
    valid = np.where(n < 10, 1, vt // 2)
    train = n - vt
    labels = np.where(position < train, 0, np.where(position < train + valid, 1, 2))
    shuffled["x_label"] = labels.astype(np.int64)
    return shuffled
