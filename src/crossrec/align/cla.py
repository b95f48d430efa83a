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

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from crossrec.align.batch import BatchView, l2norm
from crossrec.kernels.blocks import as_tables, row_blocks
from crossrec.kernels.fused import logsumexp_rows, matmul, soft_cross_entropy_rows
from crossrec.kernels.gather import take


@torch.no_grad()
def sinkhorn(
    scores: Tensor | Sequence[Tensor],
    eps: float | Tensor = 0.05,
    iters: int = 3,
    weights: Tensor | None = None,
) -> Tensor:
    """Soft codes [..., B, K] for prototype scores [..., B, K] (SwAV's Sinkhorn–Knopp).

    ``Q = exp(z/ε)^⊤ / Σ``; ``iters`` × (rows: each prototype's mass 1/K; columns: each sample's
    mass 1/B); finally × B, so every sample's code sums to 1. Computed in fp32.

    The iterations only rescale rows and columns, so they are carried as two scaling vectors
    (``Q = diag(r) Q₀ diag(c)``, updated with matrix–vector products) and Q is formed once. The
    global max of z and the initial division by ``Σ Q`` are scalars that the first row
    normalisation cancels, so they only guard ``exp`` against overflow.

    ``weights`` [B] (optional) are row multiplicities: rows stand for ``weights`` identical
    samples each (a batch reduced to its unique rows), so B becomes ``Σ weights`` and a
    prototype's mass counts every copy. Identical rows get identical codes in the unreduced
    algorithm, so the reduced codes equal the unreduced ones row for row. ``eps`` may be a
    0-d tensor (no host read of a learnable temperature).

    ``scores`` may also be a sequence of such tensors with the same B and K (CLA's ID rows
    against C^UI and its item rows against C^ITV): their tables, in order, are solved as one
    batch of independent problems, [T, B, K] out (T their tables in all) — one set of
    iterations for all of them instead of one per tensor, each table's arithmetic unchanged.
    """
    parts = [scores] if isinstance(scores, Tensor) else list(scores)
    zs = [as_tables(part.detach().float().contiguous()) for part in parts]  # [T_i, B, K] each
    n_tables, n_rows, k = sum(len(z) for z in zs), zs[0].shape[1], zs[0].shape[2]
    q3 = zs[0].new_empty(n_tables, n_rows, k)
    start = 0
    for z3 in zs:
        # Q₀ᵀ up to a scalar per table: exp(z/ε − max(z/ε)), block by block
        # (crossrec.kernels.blocks); max(z/ε) is max(z)/ε exactly, as ε > 0 and correctly rounded
        # division is monotone.
        top = torch.div(z3.amax(dim=(-2, -1), keepdim=True), eps)  # [T_i, 1, 1]
        out = q3[start : start + len(z3)]
        for tables, rows in row_blocks(z3):
            torch.div(z3[tables, rows], eps, out=out[tables, rows]).sub_(top[tables]).exp_()
        start += len(z3)
    col = q3.new_ones(n_tables, n_rows)  # per sample, [T, B]
    row = q3.new_ones(n_tables, k)  # per prototype, [T, K]
    if weights is None:
        b: float | Tensor = n_rows
        mass = col
    else:
        w = weights.to(q3.dtype)
        b = w.sum()
    for _ in range(iters):
        if weights is not None:
            mass = col * w
        proto_mass = row * matmul(mass.unsqueeze(-2), q3).squeeze(-2)  # [T, K]
        row = row / (proto_mass * k)
        sample_mass = col * matmul(q3, row.unsqueeze(-1)).squeeze(-1)  # [T, B]
        col = col / (sample_mass * b)
        if weights is None:
            mass = col
    col3, row3 = (col * b).unsqueeze(-1), row.unsqueeze(-2)
    for tables, rows in row_blocks(q3):  # q ← diag(col · B) q diag(row)
        q3[tables, rows].mul_(col3[tables, rows]).mul_(row3[tables])
    return q3.view(scores.shape) if isinstance(scores, Tensor) else q3


class CLALoss(nn.Module):
    """Cluster-level alignment. Call shape: ``CLALoss(K, D, temp)(user_emb, item_emb, v_emb,
    t_emb, users, pos_items)`` with full tables and batch ids [B]; returns L_CLA (scalar).

    Computed over the batch's unique users and items with their multiplicities as weights
    (every loss term is a per-interaction sum whose user part depends only on the user and item
    part only on the item; Sinkhorn with ``weights``): ``N_u + (M+2) N`` score rows instead of
    ``(M+3) B``. The user–item cross terms ``Σ_b <q^u_{u_b}, z^i_{i_b}>`` are evaluated in the
    d-dimensional space as ``Σ_b <q^u_{u_b} C/γ, ê_{i_b}>`` (no [B, K] gather).

    Args:
        K: prototypes per codebook (the paper: 10,240).
        D: embedding size.
        temp: initial temperature γ₀ (the experiments: 0.3).
        n_modalities: M item modalities besides ID.
        eps, iters: Sinkhorn settings (0.05, 3 in the reference).
    """

    def __init__(
        self,
        K: int = 10240,  # noqa: N803  (the paper's symbol)
        D: int = 64,  # noqa: N803
        temp: float = 0.3,
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
        self.temperature = nn.Parameter(torch.tensor(float(temp)))

    def forward(self, user_emb: Tensor, item_emb: Tensor, *modal_and_ids: Tensor) -> Tensor:
        """``L_UI / 2 + L_ITV / ((M+1) M)`` for ``(user_emb, item_emb, *modal_embs, users, items)``."""
        *modal, users, items = modal_and_ids
        tables = [item_emb, *modal]
        if len(tables) != self.n_tables:
            raise ValueError(
                f"expected {self.n_tables} item tables (ID + modalities), got {len(tables)}"
            )
        return self.compute_view(BatchView.of(user_emb, tables, users, items))

    def compute_view(self, view: BatchView) -> Tensor:
        """L_CLA from a batch view: ``û`` [N_u, d], ``ê`` [M+1, N, d] and the groups."""
        with torch.no_grad():
            self.temperature.clamp_(0.01, 0.99)
            for book in (self.ui_codebook, self.item_codebook):
                book.weight.copy_(l2norm(book.weight))
        users, items, b = view.users, view.items, view.size
        # Tempered scores z/γ, with 1/γ folded into the [D, K] codebooks (cheaper than scaling
        # [·, K]); Sinkhorn's exp(z/ε) is then exp((z/γ) / (ε/γ)).
        inv_t = 1.0 / self.temperature
        c_ui = self.ui_codebook.weight.T * inv_t  # [d, K]
        c_it = self.item_codebook.weight.T * inv_t
        s_user = view.u_hat @ c_ui  # [N_u, K]
        s_id = view.e_hat[0] @ c_ui  # [N, K]
        s_item = view.e_hat @ c_it  # [M+1, N, K]
        eps = self.eps * self.temperature.detach().reciprocal()
        dtype = s_user.dtype  # the codes are fp32 whatever the model's precision
        q_user = sinkhorn(s_user, eps, self.iters, users.counts).to(dtype)
        # The ID rows (C^UI) and the M+1 item tables (C^ITV) share their rows: one solve.
        q_items = sinkhorn([s_id, s_item], eps, self.iters, items.counts).to(dtype)
        q_id, q_item = q_items[0], q_items[1:]  # [N, K], [M+1, N, K]: views of one tensor
        # L_ITV's soft targets Σ_{a≠b} q^a = Σ_a q^a − q^b, paired with z^b, formed in place in
        # q_item before anything saves q_id for the backward (the two share a version counter).
        for _, rows in row_blocks(q_item, across_tables=True):
            block = q_item[:, rows]  # [M+1, r, K]
            total = block.sum(0, keepdim=True)
            block.neg_().add_(total)
        others = q_item
        # L_UI: ℓ(q^u, z^i) + ℓ(q^i, z^u), each -(1/B) Σ_b (<q_b, z_b> - logsumexp(z_b)).
        # The cross terms Σ_b <q^u_{u_b} C^UI/γ, ê_{i_b}> + Σ_b <q^i_{i_b} C^UI/γ, û_{u_b}> as one
        # sum Σ_b <x_{u_b}, y_{i_b}> over x = [q^u C/γ | û] [N_u, 2d], y = [ê | q^i C/γ] [N, 2d].
        x = torch.cat([q_user @ c_ui.T, view.u_hat], dim=1)
        y = torch.cat([view.e_hat[0], q_id @ c_ui.T], dim=1)
        cross = (take(x, users.inverse) * take(y, items.inverse)).sum()
        lse = (users.counts * logsumexp_rows(s_user)).sum() + (
            items.counts * logsumexp_rows(s_id)
        ).sum()
        l_ui = (lse - cross) / b
        # L_ITV: Σ_{a≠b} ℓ(q^a, z^b) = Σ_b CE(Σ_{a≠b} q^a, z^b), soft targets of mass M.
        per_item = soft_cross_entropy_rows(s_item, others, float(self.n_tables - 1))  # [M+1, N]
        l_itv = (per_item * items.counts).sum() / b
        n_pairs = self.n_tables * (self.n_tables - 1)
        return l_ui / 2 + l_itv / n_pairs
