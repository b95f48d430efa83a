"""Pure loss functions with MMRec's exact definitions (docs/protocol.md §6)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossrec.kernels.fused import nce_rows

BprForm = Literal["mmrec", "logsigmoid", "log2"]


def bpr_loss(
    pos: Tensor,
    neg: Tensor,
    form: BprForm = "mmrec",
    reduction: Literal["mean", "sum"] = "mean",
) -> Tensor:
    """BPR over a batch's scores pos, neg [B] with x = pos − neg, in each model's published form:

    * ``mmrec`` — ``-reduce log(1e-10 + σ(x))`` (MMRec's ``BPRLoss``: BPR, LightGCN, VBPR);
    * ``logsigmoid`` — ``-reduce log σ(x)`` (FREEDOM, LATTICE, GRCN, SGL; no underflow);
    * ``log2`` — ``-reduce log₂ σ(x)`` = the ``logsigmoid`` form / ln 2 (DualGNN's reference).

    ``reduction``: ``mean`` over B, or ``sum`` (RecBole's SGL).
    """
    x = pos - neg
    if form == "mmrec":
        terms = torch.log(1e-10 + torch.sigmoid(x))
    elif form in ("logsigmoid", "log2"):
        terms = F.logsigmoid(x)
    else:
        raise ValueError(f"bpr_loss: unknown form {form!r}")
    value = -(terms.mean() if reduction == "mean" else terms.sum())
    return value / math.log(2) if form == "log2" else value


def bpr_rows(
    u: Tensor,
    pos: Tensor,
    neg: Tensor,
    form: BprForm = "mmrec",
    reduction: Literal["mean", "sum"] = "mean",
) -> Tensor:
    """:func:`bpr_loss` of dot-product scores: rows u, pos, neg [B, d] → ``u·pos``, ``u·neg``."""
    return bpr_loss((u * pos).sum(1), (u * neg).sum(1), form, reduction)


class _EmbLoss(torch.autograd.Function):
    """``Σ_k ||E_k||_F / B`` with autograd's own arithmetic and no zero-norm mask pass.

    Forward: the same operations as ``sum(vector_norm(E_k)) / B``. Backward: ``∂/∂E_k = (g / B)
    · (E_k / n_k)`` — autograd's norm backward computes exactly this product and then masks
    ``n_k = 0`` with a ``masked_fill_`` over the whole [B, d] tensor (114 µs of a 2.1 ms BPR step
    on ml100k, 1 thread, three times per step); here a zero norm divides by 1 instead (its rows
    are all zero, so the gradient is 0 either way), a 0-d operation. Gradients are bit-identical
    to autograd's for every non-zero norm (tests/align/test_losses_metrics.py).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, *embeddings: Tensor) -> Tensor:
        norms = [torch.linalg.vector_norm(e) for e in embeddings]
        ctx.save_for_backward(*embeddings, *norms)
        ctx.rows = embeddings[-1].shape[0]
        return sum(norms) / ctx.rows

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, ...]:
        saved = ctx.saved_tensors
        k = len(saved) // 2
        scale = grad / ctx.rows
        return tuple(
            scale * (e / (n + (n == 0))) if ctx.needs_input_grad[i] else None
            for i, (e, n) in enumerate(zip(saved[:k], saved[k:], strict=True))
        )


def emb_loss(*embeddings: Tensor) -> Tensor:
    """MMRec's ``EmbLoss``: ``Σ_k ||E_k||_F / B`` (un-squared Frobenius norms, B = rows of the last).

    Args:
        embeddings: tensors [B, d] (e.g. the batch's user, positive and negative ego embeddings).
    """
    return _EmbLoss.apply(*embeddings)


def mf_terms(u: Tensor, pos: Tensor, neg: Tensor, reg_weight: float) -> dict[str, Tensor]:
    """Matrix-factorisation terms of a batch's rows u, pos, neg [B, d]:
    ``{"bpr": BPR(u·pos, u·neg), "reg": reg_weight · EmbLoss(u, pos, neg)}``."""
    return {
        "bpr": bpr_rows(u, pos, neg),
        "reg": reg_weight * emb_loss(u, pos, neg),
    }


def info_nce_sum(
    query: Tensor,
    positive: Tensor,
    candidates: Tensor,
    temp: float,
    weight: Tensor | None = None,
) -> Tensor:
    """NCL's InfoNCE, summed over rows (RecBole's ``-log(exp(q·p/τ) / Σ_c exp(q·c/τ)).sum()``).

    Rows are L2-normalised here. Computed as ``Σ_b w_b (logsumexp_c(q_b·c/τ) − q_b·p_b/τ)``,
    which equals the reference formula without its overflow risk.

    Args:
        query, positive: [B, d]; candidates: [N, d] (all users/items, or the prototypes).
        weight: optional [B] row multiplicities (a batch reduced to its unique rows).
    """
    q = torch.nn.functional.normalize(query, dim=1) / temp
    p = torch.nn.functional.normalize(positive, dim=1)
    c = torch.nn.functional.normalize(candidates, dim=1)
    per_row = nce_rows(q, p, c)
    return per_row.sum() if weight is None else (per_row * weight).sum()


def in_batch_nce(query: Tensor, key: Tensor, temp: float) -> Tensor:
    """In-batch InfoNCE: ``mean_b CE(softmax_c(q_b·k_c/τ), b)`` over rows [B, d] — row b of
    ``key`` is the positive of row b of ``query``, the other rows its negatives (SLMRec's
    ``CrossEntropyLoss(q @ kᵀ / τ, arange(B))``). Rows are used as given (normalise first if
    the definition does)."""
    logits = (query / temp) @ key.T  # 1/τ on the [B, d] rows, not on the [B, B] logits
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(query), device=query.device))
