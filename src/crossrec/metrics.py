"""Top-K metrics with MMRec's definitions (docs/protocol.md §5), vectorised over users.

For a user u with held-out set T_u, ranked list r_1..r_N (N >= K) and hits h_i = 1[r_i ∈ T_u]:

* Recall@K    = Σ_{i≤K} h_i / |T_u|                       (denominator |T_u|, not min(K, |T_u|))
* Precision@K = Σ_{i≤K} h_i / K
* NDCG@K      = Σ_{i≤K} h_i / log2(i+1)  /  Σ_{i≤min(|T_u|,K)} 1 / log2(i+1)
* MAP@K       = Σ_{i≤K} P@i · h_i / min(|T_u|, K)

Each reported value is the mean over evaluated users, rounded to 4 decimals (MMRec rounds before
early stopping and selection).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from crossrec.run import METRICS, metric_names

__all__ = ["METRICS", "metric_names", "per_user_metrics", "summarise"]


def per_user_metrics(hits: Tensor, n_pos: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-user metric values.

    Args:
        hits: bool/float [B, N] — hits of the top-N list, N >= max(ks).
        n_pos: int [B] — |T_u| >= 1.
        ks: cut-offs.
    Returns:
        ``{"recall@K": Tensor[B], "ndcg@K": ..., "precision@K": ..., "map@K": ...}`` (float64).
    """
    kmax = max(ks)
    if hits.shape[1] < kmax:
        raise ValueError(f"need at least {kmax} ranked items, got {hits.shape[1]}")
    h = hits[:, :kmax].to(torch.float64)
    n_pos = n_pos.to(torch.float64)
    ranks = torch.arange(1, kmax + 1, dtype=torch.float64, device=h.device)
    discount = 1.0 / torch.log2(ranks + 1.0)
    cum_hits = h.cumsum(1)
    dcg = (h * discount).cumsum(1)
    ideal = discount.cumsum(0)
    prec_at_i = cum_hits / ranks
    ap_sum = (prec_at_i * h).cumsum(1)
    out: dict[str, Tensor] = {}
    for k in ks:
        col = k - 1
        n_ideal = torch.clamp(n_pos, max=k).long()
        out[f"recall@{k}"] = cum_hits[:, col] / n_pos
        out[f"ndcg@{k}"] = dcg[:, col] / ideal[n_ideal - 1]
        out[f"precision@{k}"] = cum_hits[:, col] / k
        out[f"map@{k}"] = ap_sum[:, col] / n_ideal.to(torch.float64)
    return out


def summarise(per_user: dict[str, Tensor], decimals: int = 4) -> dict[str, float]:
    """Mean over users of each per-user metric, rounded as MMRec does."""
    return {name: round(float(v.mean()), decimals) for name, v in per_user.items()}
