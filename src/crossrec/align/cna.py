"""CNA: collaborative-neighbour alignment (CROSS), docs/method.md §5.

For the batch's N unique (positive) items and each table m ∈ {ID, 1..M}, with item i's K
neighbours 𝒩_i (rows of a ``neighbors_k{K}.npy`` file, built from train interactions only):

* aggregate ``ẽ^m_i = Σ_k a_k ê^m_{𝒩_i(k)}`` with ``a = softmax(w)``; ``w`` fixed ones
  (``mean``) or one learnable weight per neighbour rank shared by all items (``param_attn``);
* intra-modality InfoNCE (computed with logsumexp) with temperature τ_n:
  ``L_cl = (1/(M+1)) Σ_m (1/N) Σ_i -log( exp(cos(ê^m_i, ẽ^m_i)/τ_n) / Σ_j exp(cos(ê^m_i, ẽ^m_j)/τ_n) )``;
* regulariser ``L_reg = ½ Σ_m Σ_i ||ẽ^m_i||²`` (summed over the batch, as the reference).

Returns the pair (L_cl, L_reg). The reference README's ``weight * (cl, reg)`` cannot run
(docs/method.md §5.3); the plug-in combines them as ``γ (L_cl + λ_reg L_reg)`` with λ_reg configurable.
Nothing is detached: gradients reach the items, their neighbours and w.
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor, nn

from crossrec.align.batch import l2norm, normalised_rows
from crossrec.align.buckets import masked_keys, masked_mean
from crossrec.data.groups import Groups
from crossrec.kernels.fused import nce_rows
from crossrec.kernels.gather import take

Reduction = Literal["mean", "param_attn"]
REDUCTIONS: tuple[str, ...] = typing.get_args(Reduction)


class CNALoss(nn.Module):
    """Neighbour-level alignment. Call shape: ``CNALoss(neighbors, cl_temp=0.2)(item_emb, v_emb,
    t_emb, items)`` with full tables [I, d] and batch positive items [B]; returns (L_cl, L_reg).

    Args:
        neighbors: int64 [I, K] neighbour ids per item.
        cl_temp: τ_n (reference default 0.2; CROSS's best 0.1).
        reduction: ``mean`` or ``param_attn``.
    """

    def __init__(self, neighbors: Tensor, cl_temp: float = 0.2, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if neighbors.dim() != 2:
            raise ValueError(f"neighbors must be [n_items, K], got shape {tuple(neighbors.shape)}")
        self.register_buffer("neighbors", neighbors.long(), persistent=False)
        self.cl_temp = cl_temp
        weights = torch.ones(neighbors.shape[1])
        if reduction == "param_attn":
            self.rank_weights = nn.Parameter(weights)
        else:
            self.register_buffer("rank_weights", weights, persistent=False)

    def forward(self, item_emb: Tensor, *modal_and_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(L_cl, L_reg)`` for ``(item_emb, *modal_embs, items)``."""
        *modal, items = modal_and_ids
        tables = [item_emb, *modal]
        groups = Groups.of(items)
        return self.compute(tables, groups.ids, normalised_rows(tables, groups.ids))

    def compute(
        self,
        tables: list[Tensor],
        items: Tensor,
        anchors: Tensor,
        neighbors: Tensor | None = None,
        real: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(L_cl, L_reg)`` for the T = M+1 full tables [I, d], the batch's sorted unique items
        ``items`` [N] and their normalised rows ``anchors`` [T, N, d] (shared with ILA and CLA
        through :class:`~crossrec.align.batch.BatchView`). ``neighbors`` [N, K], when given,
        are the neighbours' row positions in ``tables`` (tables restricted to the rows the batch
        needs); by default ``self.neighbors[items]`` (full tables).

        All tables at once: neighbour rows [T, N, K, d], aggregates [T, N, d], and one batched
        [T, N, N] InfoNCE through :func:`crossrec.kernels.fused.nce_rows`. ``real`` [N] bool
        (the bucketed compiled step): pad items are no candidates and left out of the mean and
        the regulariser (crossrec.align.buckets).
        """
        nb = self.neighbors[items] if neighbors is None else neighbors  # [N, K] rows of tables
        attn = torch.softmax(self.rank_weights, dim=0)  # [K]
        neighbours = l2norm(torch.stack([take(t, nb) for t in tables]))  # [T, N, K, d]
        agg = torch.einsum("k,tnkd->tnd", attn, neighbours)  # ẽ [T, N, d]
        keys = l2norm(agg)
        if real is not None:
            query, keys = masked_keys(anchors / self.cl_temp, keys, real)
            per_item = nce_rows(query, keys, keys)  # [T, N]
            cl = masked_mean(per_item, real).sum() / len(tables)
            reg = 0.5 * (agg.pow(2).sum(-1) * real.to(agg.dtype)).sum()
            return cl, reg
        per_item = nce_rows(anchors / self.cl_temp, keys, keys)  # [T, N]
        cl = per_item.mean(dim=1).sum() / len(tables)
        reg = 0.5 * agg.pow(2).sum()
        return cl, reg
