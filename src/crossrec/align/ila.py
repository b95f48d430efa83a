"""ILA / ILDA: item-level alignment with direction tuning (FETTLE, SIGIR 2024; CROSS).

Implements docs/method.md §2 (ILA + DT) and §3 (ILDA), over the ID table plus M item modalities
(the paper: M = 2, image and text, six ordered directions). For a batch of interacted pairs
(u_b, i_b), b = 1..B, with N unique items (sorted) and modality tables E^0 (ID), E^1..E^M:

1. ``s^m_b = <û_{u_b}, ê^m_{i_b}>``; per-item means ``s̄^m_i`` (no grad).
2. Direction mask ``M_{A→B}(i)``:
   * ``oneway`` (FETTLE): ``s̄^B_i > s̄^A_i``;
   * ``dynamic`` (ILDA): ``s̃^B_i > s̄^A_i`` with ``s̃^B_i = s̄^B_i + c_B (exp(1 - s̄^B_i) - 1)``,
     ``c_B = Var_j(s̄^B_j)`` (unbiased, over the batch's unique items; ``std`` as a switch).
     With one unique item the variance is undefined: c_B = 0 (the reference gives NaN, so
     every mask False; docs/method.md §3.2);
   * ``all``: every direction on (the "bidirectional" ablation, not in the reference code).
3. Residual bias-free maps: ``ẽ^{A→B}_i = normalise(W_{A→B} ê^A_i + ê^A_i)``.
4. ILA: ``(1/N) Σ_{A→B} Σ_{i ∈ M_{A→B}} CE(ẽ^{A→B}_i · Ê^{B⊤}_{detached} / τ, target i)``
   (in-batch negatives; τ learnable, clamped to [1e-3, 0.5] at every forward).
5. DT (users detached): ``(1/P) Σ_{A→B, mask non-empty} -mean_{i ∈ M}( p^{A→B}_i - s̄^A_i )``
   with ``p^{A→B}_i = (1/c_i) Σ_{b: i_b = i} <û_{u_b}, ẽ^{A→B}_i>`` and P = (M+1)M directions.

Computation (one code path on every device, no host synchronisation): the directions are kept
grouped by target table, so the maps are one batched product ``[P, N, d] × [P, d, d]`` and the
contrastive term one batched ``[M+1, M·N, d] × [M+1, d, N]`` product through
:func:`crossrec.kernels.fused.nce_rows`; the masks enter as 0/1 weights on fixed-size tensors (an
inactive row costs its arithmetic but no data-dependent shape, hence no ``nonzero``). The
per-item means use ``s̄^m_i = <ū_i, ê^m_i>`` with ``ū_i = (1/c_i) Σ_{b: i_b = i} û_{u_b}`` (the
mean of a dot product is the dot product of the mean), and likewise ``p^{A→B}_i = <ū_i, ẽ^{A→B}_i>``.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from crossrec.align.batch import BatchView, l2norm, ordered_pairs
from crossrec.align.buckets import masked_keys, masked_mean_var
from crossrec.kernels.fused import nce_rows
from crossrec.kernels.gather import take, take_unique

Mask = Literal["oneway", "dynamic", "all"]
Compensation = Literal["var", "std"]
MASKS: tuple[str, ...] = typing.get_args(Mask)
COMPENSATIONS: tuple[str, ...] = typing.get_args(Compensation)


@dataclass
class ILAOutput:
    """ILA's pieces for one batch.

    Attributes:
        ila: scalar contrastive term (already divided by N).
        dt: scalar direction-tuning term (already divided by P).
        scores: [M+1, N] per-item modality scores s̄ (no grad), row 0 = ID.
        active: [P, N] bool direction masks.
    """

    ila: Tensor
    dt: Tensor
    scores: Tensor
    active: Tensor


class ILALoss(nn.Module):
    """Item-level alignment with direction tuning, over ID + ``n_modalities`` item modalities.

    Call shape (as in the papers' code): ``loss = ILALoss(64, 0.1, leaky_bi=True)(user_emb,
    item_emb, v_emb, t_emb, users, pos_items)`` — full tables [U, d], [I, d], [I, d], ... and
    the batch's int64 user and positive-item ids [B]; returns ILA + DT as a scalar.

    Args:
        dim: embedding size d.
        temp: initial temperature τ₀ (the experiments used 0.1; the reference default 0.007).
        leaky_bi: True → the ILDA dynamic mask (same as ``mask="dynamic"``).
        n_modalities: M, the item modalities besides ID.
        mask: ``oneway`` | ``dynamic`` | ``all`` (overrides ``leaky_bi`` when given).
        compensation: ``var`` (the reference code) or ``std`` for ILDA's margin.
        use_ila, use_dt: switch the two summands (the paper's "+ILA" / "+DT" ablations).
    """

    def __init__(
        self,
        dim: int = 64,
        temp: float = 0.1,
        leaky_bi: bool = False,
        n_modalities: int = 2,
        mask: str | None = None,
        compensation: str = "var",
        use_ila: bool = True,
        use_dt: bool = True,
    ) -> None:
        super().__init__()
        mask = mask or ("dynamic" if leaky_bi else "oneway")
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
        if compensation not in COMPENSATIONS:
            raise ValueError(f"compensation must be one of {COMPENSATIONS}, got {compensation!r}")
        self.mask, self.compensation = mask, compensation
        self.use_ila, self.use_dt = use_ila, use_dt
        self.padded = False  # the bucketed compiled step: items with count 0 are pads

        self.n_tables = n_modalities + 1
        self.pairs = ordered_pairs(self.n_tables)
        # Directions grouped by target table (a stable sort of `pairs` by B): row r of every
        # [P, ...] tensor below is direction pairs[order[r]]; `restore` undoes it.
        order = sorted(range(len(self.pairs)), key=lambda p: self.pairs[p][1])
        self.register_buffer("order", torch.tensor(order), persistent=False)
        self.register_buffer("restore", torch.argsort(torch.tensor(order)), persistent=False)
        self.register_buffer(
            "src", torch.tensor([self.pairs[p][0] for p in order]), persistent=False
        )
        self.register_buffer(
            "dst", torch.tensor([self.pairs[p][1] for p in order]), persistent=False
        )
        weight = torch.empty(len(self.pairs), dim, dim)
        for w in weight:
            nn.init.xavier_uniform_(w)
        self.maps = nn.Parameter(weight)  # W_{A→B}, bias-free, [P, d, d], in `pairs` order
        self.temperature = nn.Parameter(torch.tensor(float(temp)))

    def directions(self, scores: Tensor, real: Tensor | None = None) -> Tensor:
        """Direction masks [P, N] from per-item scores s̄ [M+1, N], rows grouped by target
        (``self.order``; docs/method.md §2.2 step 3, §3.1). ``real`` [N] (bucketed step):
        only real items count in the variance, and pads get no direction."""
        if real is not None:
            return self._directions_padded(scores, real)
        src, dst = scores[self.src], scores[self.dst]
        if self.mask == "all":
            return torch.ones_like(src, dtype=torch.bool)
        if self.mask == "oneway":
            return dst > src
        if scores.shape[1] > 1:
            spread = scores.var(dim=1, unbiased=True)
            if self.compensation == "std":
                spread = spread.sqrt()
        else:
            spread = torch.zeros(scores.shape[0], dtype=scores.dtype, device=scores.device)
        compensated = scores + spread[:, None] * (torch.exp(1 - scores) - 1)
        return compensated[self.dst] > src

    def _directions_padded(self, scores: Tensor, real: Tensor) -> Tensor:
        """:meth:`directions` over real items only (pads: False), the variance over the real
        ones (0 with fewer than two), without a host read."""
        src, dst = scores[self.src], scores[self.dst]
        if self.mask == "all":
            active = torch.ones_like(src, dtype=torch.bool)
        elif self.mask == "oneway":
            active = dst > src
        else:
            spread = masked_mean_var(scores, real)[1]
            if self.compensation == "std":
                spread = spread.sqrt()
            compensated = scores + spread[:, None] * (torch.exp(1 - scores) - 1)
            active = compensated[self.dst] > src
        return active & real

    def compute(
        self, user: Tensor, tables: list[Tensor], users: Tensor, items: Tensor
    ) -> ILAOutput:
        """The ILA and DT terms for full tables ``tables`` = [E^ID, E^1, ..., E^M], each [I, d],
        user table ``user`` [U, d] and the batch's ids ``users``, ``items`` [B]."""
        if len(tables) != self.n_tables:
            raise ValueError(
                f"expected {self.n_tables} item tables (ID + modalities), got {len(tables)}"
            )
        return self.compute_view(BatchView.of(user, tables, users, items))

    def compute_view(self, view: BatchView) -> ILAOutput:
        """The ILA and DT terms from a batch view (its ``e_hat`` [M+1, N, d] holds the tables)."""
        with torch.no_grad():
            self.temperature.clamp_(1e-3, 0.5)
        items, e_hat = view.items, view.e_hat
        real = items.counts > 0 if self.padded else None  # [N]: pads have count 0
        n = len(items) if real is None else real.sum().to(e_hat.dtype)
        if real is None:
            u_bar = items.mean(view.user_rows().detach(), dim=0)  # ū [N, d], users detached
        else:  # a pad's mean is 0 (its count clamped to 1), not 0 / 0
            u_bar = items.sum(view.user_rows().detach(), dim=0) / items.counts.clamp(min=1)[:, None]
        with torch.no_grad():
            scores = (e_hat * u_bar).sum(-1)  # s̄ [M+1, N]
            active = self.directions(scores, real)  # [P, N], grouped by target
        weight = active.to(e_hat.dtype)
        src = take(e_hat, self.src)  # [P, N, d]
        maps = take_unique(self.maps, self.order).transpose(1, 2)
        mapped = l2norm(torch.baddbmm(src, src, maps))  # ẽ = normalise(W ê + ê)
        zero = e_hat.new_zeros(())
        ila = zero
        if self.use_ila:
            ila = (self._contrastive(mapped, e_hat.detach(), real) * weight).sum() / n
        dt = zero
        if self.use_dt:
            p = (mapped * u_bar).sum(-1)  # [P, N]
            gain = (p - scores[self.src]) * weight
            n_active = weight.sum(dim=1)
            per_direction = -gain.sum(dim=1) / n_active.clamp(min=1)
            dt = per_direction.sum() / len(self.pairs)  # an empty mask adds 0 / 1
        return ILAOutput(ila=ila, dt=dt, scores=scores, active=active[self.restore])

    def _contrastive(self, mapped: Tensor, targets: Tensor, real: Tensor | None = None) -> Tensor:
        """Per (direction, item) cross-entropies CE [P, N] (rows grouped by target), every row.

        The M directions into target B share B's keys, so the queries of each target are one
        [M·N, d] block scored against that target's N keys; 1/τ scales the queries.
        """
        t, n, d = targets.shape
        queries = (mapped / self.temperature).reshape(t, -1, d)  # [M+1, M·N, d]
        if real is not None:  # pads are no candidates (buckets.masked_keys)
            queries, targets = masked_keys(queries, targets, real)
            d += 1
        positives = targets.unsqueeze(1).expand(t, t - 1, n, d).reshape(t, -1, d)
        return nce_rows(queries, positives, targets).reshape(-1, n)

    def forward(self, user_emb: Tensor, item_emb: Tensor, *modal_and_ids: Tensor) -> Tensor:
        """``ILA + DT`` for ``(user_emb, item_emb, *modal_embs, users, pos_items)``."""
        *modal, users, items = modal_and_ids
        out = self.compute(user_emb, [item_emb, *modal], users, items)
        return out.ila + out.dt
