"""CLA: cluster-level alignment with prototypes and Sinkhorn–Knopp codes (FETTLE; CROSS).

Implements docs/method.md §4 in SwAV mode (the reference's other modes are dead code and are left
out). Two codebooks of K unit-norm prototypes: C^UI, shared by users and ID item embeddings,
and C^ITV, shared by the item's ID and M modality embeddings. For a batch of B interactions
(duplicates kept), with L2-normalised rows and z = x̂ C^⊤ ([B, K] cosines):

* codes ``q = SK(z)``: Sinkhorn–Knopp on ``exp(z/ε)`` (ε 0.05, 3 iterations, fp32, no grad);
* ``ℓ(q, z) = -(1/B) Σ_b Σ_k q_bk log softmax(z_b/γ)_k`` with γ learnable, clamped [0.01, 0.99];
* ``L_UI = ℓ(q^u, z^i) + ℓ(q^i, z^u)``, ``L_ITV = Σ_{a≠b} ℓ(q^a, z^b)`` over ID + M modalities;
* ``L_CLA = L_UI / 2 + L_ITV / ((M+1) M)`` (= /6 in the paper).

Prototypes are renormalised in place at each forward (SwAV; docs/method.md §4.2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossrec.align.common import l2norm


@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, iters: int = 3) -> Tensor:
    """Soft codes [..., B, K] for prototype scores [..., B, K] (SwAV's Sinkhorn–Knopp).

    ``Q = exp(z/ε)^⊤ / Σ``; ``iters`` × (rows: each prototype's mass 1/K; columns: each sample's
    mass 1/B); finally × B, so every sample's code sums to 1. Computed in fp32.

    The iterations only rescale rows and columns, so they are carried as two scaling vectors
    (``Q = diag(r) Q₀ diag(c)``, updated with matrix–vector products) and Q is formed once. The
    global max of z and the initial division by ``Σ Q`` are scalars that the first row
    normalisation cancels, so they only guard ``exp`` against overflow.
    """
    z = scores.detach().float()
    b, k = z.shape[-2], z.shape[-1]
    q = torch.mul(z, 1.0 / eps)
    q = q.sub_(q.amax(dim=(-2, -1), keepdim=True)).exp_()  # [..., B, K] (= Q₀ᵀ up to a scalar)
    col = torch.ones(*z.shape[:-1], dtype=z.dtype, device=z.device)  # per sample, [..., B]
    row = torch.ones(*z.shape[:-2], k, dtype=z.dtype, device=z.device)  # per prototype, [..., K]
    for _ in range(iters):
        proto_mass = row * (col.unsqueeze(-2) @ q).squeeze(-2)  # [..., K]
        row = row / (proto_mass * k)
        sample_mass = col * (q @ row.unsqueeze(-1)).squeeze(-1)  # [..., B]
        col = col / (sample_mass * b)
    return q.mul_((col * b).unsqueeze(-1)).mul_(row.unsqueeze(-2))


class CLALoss(nn.Module):
    """Cluster-level alignment. Call shape: ``CLALoss(K, D, gamma)(user_emb, item_emb, v_emb,
    t_emb, users, pos_items)`` with full tables and batch ids [B]; returns L_CLA (scalar).

    Args:
        K: prototypes per codebook (the paper: 10,240).
        D: embedding size.
        gamma: initial temperature γ₀ (the experiments: 0.3).
        n_modalities: M item modalities besides ID.
        eps, iters: Sinkhorn settings (0.05, 3 in the reference).
    """

    def __init__(
        self,
        K: int = 10240,  # noqa: N803  (the paper's symbol)
        D: int = 64,  # noqa: N803
        gamma: float = 0.3,
        n_modalities: int = 2,
        eps: float = 0.05,
        iters: int = 3,
    ) -> None:
        super().__init__()
        self.n_tables = n_modalities + 1
        self.eps, self.iters = eps, iters
        self.ui_codebook = nn.Linear(D, K, bias=False)  # C^UI, weight [K, D]
        self.item_codebook = nn.Linear(D, K, bias=False)  # C^ITV, weight [K, D]
        nn.init.xavier_uniform_(self.ui_codebook.weight)
        nn.init.xavier_uniform_(self.item_codebook.weight)
        self.temperature = nn.Parameter(torch.tensor(float(gamma)))

    @staticmethod
    def swapped(codes: Tensor, logits: Tensor) -> Tensor:
        """``Σ_{a≠b} ℓ(q^a, z^b)`` for codes and tempered scores ``z/γ``, stacked [n, B, K].

        Each code row sums to 1, so ``Σ_k q_k log softmax(z/γ)_k = <q, z/γ> - logsumexp(z/γ)``:
        no [n, B, K] log-probability tensor is materialised.
        """
        n, b = logits.shape[0], logits.shape[1]
        others = torch.neg(codes).add_(codes.sum(0, keepdim=True))  # Σ_{a≠b} q^a, with z^b
        dot = (others * logits).sum()
        lse = torch.logsumexp(logits, dim=-1).sum()
        return -(dot - (n - 1) * lse) / b

    def forward(self, user_emb: Tensor, item_emb: Tensor, *modal_and_ids: Tensor) -> Tensor:
        """``L_UI / 2 + L_ITV / ((M+1) M)`` for ``(user_emb, item_emb, *modal_embs, users, items)``."""
        *modal, users, items = modal_and_ids
        tables = [item_emb, *modal]
        if len(tables) != self.n_tables:
            raise ValueError(
                f"expected {self.n_tables} item tables (ID + modalities), got {len(tables)}"
            )
        with torch.no_grad():
            self.temperature.clamp_(0.01, 0.99)
            for book in (self.ui_codebook, self.item_codebook):
                book.weight.copy_(l2norm(book.weight))
        u_hat = l2norm(user_emb[users])
        e_hat = torch.stack([l2norm(t[items]) for t in tables])  # [M+1, B, d]
        # Tempered scores z/γ, with 1/γ folded into the [D, K] codebook (cheaper than scaling
        # [B, K]); Sinkhorn's exp(z/ε) is then exp((z/γ) / (ε/γ)).
        inv_t = 1.0 / self.temperature
        s_ui = torch.stack([u_hat, e_hat[0]]) @ (self.ui_codebook.weight.T * inv_t)  # [2, B, K]
        s_item = e_hat @ (self.item_codebook.weight.T * inv_t)  # [M+1, B, K]
        eps = self.eps / float(self.temperature.detach())
        q_ui = sinkhorn(s_ui, eps, self.iters)
        q_item = sinkhorn(s_item, eps, self.iters)
        n_pairs = self.n_tables * (self.n_tables - 1)
        return self.swapped(q_ui, s_ui) / 2 + self.swapped(q_item, s_item) / n_pairs
