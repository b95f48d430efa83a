"""Pure loss functions with MMRec's exact definitions (docs/protocol.md §6)."""

from __future__ import annotations

import torch
from torch import Tensor


def bpr_loss(pos: Tensor, neg: Tensor, gamma: float = 1e-10) -> Tensor:
    """BPR: ``-mean(log(gamma + sigmoid(pos - neg)))`` over scores [B] (MMRec's ``BPRLoss``)."""
    return -torch.log(gamma + torch.sigmoid(pos - neg)).mean()


def emb_loss(*embeddings: Tensor) -> Tensor:
    """MMRec's ``EmbLoss``: ``Σ_k ||E_k||_F / B`` (un-squared Frobenius norms, B = rows of the last).

    Args:
        embeddings: tensors [B, d] (e.g. the batch's user, positive and negative ego embeddings).
    """
    total = sum(torch.linalg.vector_norm(e) for e in embeddings)
    return total / embeddings[-1].shape[0]


def mf_terms(u: Tensor, pos: Tensor, neg: Tensor, reg_weight: float) -> dict[str, Tensor]:
    """Matrix-factorisation terms of a batch's rows u, pos, neg [B, d]:
    ``{"bpr": BPR(u·pos, u·neg), "reg": reg_weight · EmbLoss(u, pos, neg)}``."""
    return {
        "bpr": bpr_loss((u * pos).sum(1), (u * neg).sum(1)),
        "reg": reg_weight * emb_loss(u, pos, neg),
    }


class _NCE(torch.autograd.Function):
    """Per-row ``logsumexp_c(q·c) − q·p`` for unit rows (temperature folded into q), with a
    backward that reuses the forward's softmax instead of recomputing it."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, q: Tensor, p: Tensor, c: Tensor
    ) -> Tensor:
        logits = q @ c.T
        top = logits.amax(dim=1, keepdim=True)
        probs = logits.sub_(top).exp_()
        norm = probs.sum(dim=1, keepdim=True)
        probs.div_(norm)
        ctx.save_for_backward(q, p, c, probs)
        return norm.log_().add_(top).squeeze(1) - (q * p).sum(1)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        q, p, c, probs = ctx.saved_tensors
        g = grad.unsqueeze(1)
        weighted = probs * g
        return weighted @ c - g * p, -g * q, weighted.T @ q


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
    per_row = _NCE.apply(q, p, c)
    return per_row.sum() if weight is None else (per_row * weight).sum()


def in_batch_nce(query: Tensor, key: Tensor, temp: float) -> Tensor:
    """In-batch InfoNCE: ``mean_b CE(softmax_c(q_b·k_c/τ), b)`` over rows [B, d] — row b of
    ``key`` is the positive of row b of ``query``, the other rows its negatives (SLMRec's
    ``CrossEntropyLoss(q @ kᵀ / τ, arange(B))``). Rows are used as given (normalise first if
    the definition does)."""
    logits = (query / temp) @ key.T  # 1/τ on the [B, d] rows, not on the [B, B] logits
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(query), device=query.device))
