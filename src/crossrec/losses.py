"""Pure loss functions with MMRec's exact definitions (protocol §6)."""

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
