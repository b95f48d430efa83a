"""MMRec-exact full-ranking evaluation (docs/protocol.md §5).

For each evaluated user (the distinct users of the valid or test split, in order of first
appearance), all ``n_items`` items are scored, the user's **train** items are set to ``-1e10``
(valid items are *not* masked when evaluating test), the top ``max(ks)`` items are taken with
``torch.topk``, and :mod:`crossrec.metrics` turns the hits into metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from crossrec.data.formats import InteractionData
from crossrec.metrics import per_user_metrics, summarise

MASK_VALUE = -1e10
ScoreFn = Callable[[Tensor], Tensor]


def _csr(users: np.ndarray, items: np.ndarray, index: pd.Index) -> tuple[Tensor, Tensor]:
    """Group ``items`` by position of ``users`` in ``index``: (indptr [n+1], indices [nnz])."""
    rows = index.get_indexer(users)
    keep = rows >= 0
    rows, items = rows[keep], items[keep]
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=len(index))
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return torch.from_numpy(indptr), torch.from_numpy(items[order].astype(np.int64))


@dataclass(frozen=True)
class EvalSet:
    """Ground truth and train masks of one split's users, in CSR form.

    Attributes:
        users: int64 [n_eval] evaluated users.
        truth_ptr, truth_idx: held-out items of user j are ``truth_idx[truth_ptr[j]:truth_ptr[j+1]]``.
        mask_ptr, mask_idx: train items of user j, same layout.
    """

    users: Tensor
    truth_ptr: Tensor
    truth_idx: Tensor
    mask_ptr: Tensor
    mask_idx: Tensor
    n_items: int

    @classmethod
    def build(cls, data: InteractionData, split: str) -> EvalSet:
        """The evaluation set of ``split`` (``valid`` or ``test``)."""
        held = data.split(split)
        index = pd.Index(pd.unique(held.users))
        t_ptr, t_idx = _csr(held.users, held.items, index)
        m_ptr, m_idx = _csr(data.train.users, data.train.items, index)
        return cls(
            torch.from_numpy(index.to_numpy().astype(np.int64)),
            t_ptr,
            t_idx,
            m_ptr,
            m_idx,
            data.n_items,
        )

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def _rows(self, ptr: Tensor, idx: Tensor, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        counts = ptr[lo + 1 : hi + 1] - ptr[lo:hi]
        rows = torch.repeat_interleave(torch.arange(hi - lo), counts)
        return rows, idx[ptr[lo] : ptr[hi]]


@torch.no_grad()
def evaluate(
    score_fn: ScoreFn,
    evalset: EvalSet,
    ks: Sequence[int] = (5, 10, 20, 50),
    batch_users: int = 4096,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], dict[str, Tensor]]:
    """Rank all items for every user of ``evalset``.

    Args:
        score_fn: maps user ids int64 [B] (on ``device``) to scores [B, n_items].
        ks: cut-offs; the list length is ``max(ks)``.
        batch_users: users scored at once (MMRec's eval batch: 4096).
    Returns:
        (rounded means, per-user values float64 [n_eval] on CPU) keyed ``"recall@20"`` etc.
    """
    kmax = max(ks)
    if kmax > evalset.n_items:
        raise ValueError(f"top-{kmax} asked but there are only {evalset.n_items} items")
    chunks: list[dict[str, Tensor]] = []
    for lo in range(0, len(evalset), batch_users):
        hi = min(lo + batch_users, len(evalset))
        scores = score_fn(evalset.users[lo:hi].to(device)).float()
        m_rows, m_cols = evalset._rows(evalset.mask_ptr, evalset.mask_idx, lo, hi)
        scores[m_rows.to(device), m_cols.to(device)] = MASK_VALUE
        top = torch.topk(scores, kmax, dim=1).indices
        truth = torch.zeros_like(scores, dtype=torch.bool)
        t_rows, t_cols = evalset._rows(evalset.truth_ptr, evalset.truth_idx, lo, hi)
        truth[t_rows.to(device), t_cols.to(device)] = True
        hits = torch.gather(truth, 1, top)
        n_pos = (evalset.truth_ptr[lo + 1 : hi + 1] - evalset.truth_ptr[lo:hi]).to(device)
        chunks.append({k: v.cpu() for k, v in per_user_metrics(hits, n_pos, ks).items()})
    per_user = {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
    return summarise(per_user), per_user
