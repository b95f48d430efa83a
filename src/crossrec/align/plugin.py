"""The FETTLE / CROSS plug-in: ILA or ILDA (+DT) · α, CLA · β and CNA · γ on any backbone.

Total added loss, with tables T = [E^ID (the backbone's items), E^1..E^M] and the batch's
positive pairs (users, items):

    α (L_ILA + L_DT)  +  β L_CLA  +  γ (L_cl + λ_reg L_reg)

reported as the named terms ``ila``, ``dt``, ``cla``, ``cna`` and ``cna_reg``. A component with
weight 0 is not built (no parameters, no cost). Presets (:mod:`crossrec.align.presets`) are this
class with other defaults.

Choices where the papers are silent (docs/method.md §5.3, §8.2), each a parameter:
* ``cna_reg`` = λ_reg, default 1e-4 (the reference never shows how its (cl, reg) pair is weighted);
* ``ila_temp`` = τ₀ = 0.1 (FETTLE's logged value); CROSS's λ_f is unknown (τ₀ or λ_reg);
* ``cla_prototypes`` default 10,240 as in the paper; the ml100k config sets a smaller K.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from crossrec.align.base import Plugin
from crossrec.align.batch import BatchView
from crossrec.align.buckets import bucket, masked_mean, masked_mean_var, pad_groups, pad_rows
from crossrec.align.cla import CLALoss
from crossrec.align.cna import CNALoss, Reduction
from crossrec.align.compiled import CompiledOrEager
from crossrec.align.ila import Compensation, ILALoss, Mask
from crossrec.align.inputs import ModalityInputs, table_names
from crossrec.data.groups import Groups, sorted_union
from crossrec.data.needs import DataNeeds
from crossrec.data.sampler import Batch
from crossrec.errors import ConfigError
from crossrec.kernels.gather import take_unique
from crossrec.models.base import BackboneInfo, DataSpec, Encoded
from crossrec.strict import NonNegFloat, PosFloat, PosInt, Size


@dataclass(frozen=True)
class AlignParams:
    """Hyper-parameters of the alignment plug-in (defaults: CROSS, docs/method.md §8.3).

    Attributes:
        alpha: α, weight of ILA/ILDA and DT.
        beta: β, weight of CLA.
        gamma: γ, weight of CNA (the papers' symbol; not a temperature).
        modalities: item modalities aligned with the ID table (default: all of the dataset's).
        ila_mask: ILA's direction mask: ``oneway`` (FETTLE), ``dynamic`` (CROSS's ILDA) or
            ``all`` (every direction).
        ila_compensation: ILDA's compensation of the target's score: ``var`` (the reference
            code) or ``std``.
        ila_temp: τ₀, ILA's initial temperature (learnable, clamped to [1e-3, 0.5]).
        use_ila: include ILA's contrastive term.
        use_dt: include the direction-tuning term DT.
        cla_prototypes: K, CLA's number of prototypes.
        cla_temp: γ₀, CLA's initial temperature (learnable, clamped to [0.01, 0.99]).
        sinkhorn_eps: ε of CLA's Sinkhorn–Knopp assignment.
        sinkhorn_iters: Sinkhorn–Knopp iterations.
        cna_k: neighbours per item in CNA.
        cna_temp: τ_n, CNA's temperature.
        cna_reduction: how CNA weighs a row's neighbours: ``mean`` or ``param_attn`` (learned).
        cna_reg: λ_reg, weight of CNA's regulariser.
    """

    alpha: NonNegFloat = 1e-3
    beta: NonNegFloat = 1e-4
    gamma: NonNegFloat = 1e-3
    modalities: list[str] | None = None
    ila_mask: Mask = "dynamic"
    ila_compensation: Compensation = "var"
    ila_temp: PosFloat = 0.1
    use_ila: bool = True
    use_dt: bool = True
    cla_prototypes: Size = 10240
    cla_temp: PosFloat = 0.3
    sinkhorn_eps: PosFloat = 0.05
    sinkhorn_iters: PosInt = 3
    cna_k: Size = 3
    cna_temp: PosFloat = 0.1
    cna_reduction: Reduction = "mean"
    cna_reg: NonNegFloat = 1e-4


class AlignmentPlugin(Plugin):
    """ILA/ILDA + DT, CLA and CNA over ID + M item modalities (module docstring)."""

    Params = AlignParams
    name = "cross"

    def __init__(self, spec: DataSpec, params: AlignParams, info: BackboneInfo) -> None:
        super().__init__(spec, params, info)
        self.inputs = ModalityInputs(spec, info, params.modalities, self.name)
        self.tables = table_names(self.inputs)
        m, d = len(self.inputs.names), self.inputs.dim
        self.ila = None
        if params.alpha > 0 and (params.use_ila or params.use_dt):
            self.ila = ILALoss(
                d,
                params.ila_temp,
                n_modalities=m,
                mask=params.ila_mask,
                compensation=params.ila_compensation,
                use_ila=params.use_ila,
                use_dt=params.use_dt,
            )
        self.cla = None
        if params.beta > 0:
            self.cla = CLALoss(
                params.cla_prototypes,
                d,
                params.cla_temp,
                n_modalities=m,
                eps=params.sinkhorn_eps,
                iters=params.sinkhorn_iters,
            )
        self.cna = None
        if params.gamma > 0:
            if params.cna_k not in spec.neighbors:
                raise ConfigError(
                    f"plugin {self.name}: CNA needs neighbors_k{params.cna_k}.npy in the dataset "
                    f"folder (found K = {sorted(spec.neighbors)}); add {params.cna_k} to "
                    "neighbors_k in the config, or pass --neighbors-k to crossrec prepare"
                )
            self.cna = CNALoss(spec.neighbors[params.cna_k], params.cna_temp, params.cna_reduction)
            self._host_neighbors = spec.neighbors[params.cna_k].long().numpy()

    @classmethod
    def data_needs(cls, params: AlignParams) -> DataNeeds:
        """CNA reads ``neighbors_k{cna_k}.npy`` when it is on (γ > 0)."""
        return DataNeeds(neighbors_k=frozenset({params.cna_k}) if params.gamma > 0 else frozenset())

    def prepare(self, batch: Batch) -> Batch:
        """Host side: the item rows the losses read — the batch's unique positive items and, with
        CNA, their neighbours — as ``extra["align_rows"]`` [R] (sorted ids), with the positions
        of the unique items (``align_pos`` [N]) and of their neighbours (``align_nb`` [N, K]) in
        it. Only these R rows of the item tables are formed (projection heads included)."""
        if batch.pos_groups is None or batch.pos.device.type != "cpu":
            return batch
        ids = batch.pos_groups.ids.numpy()
        extra = dict(batch.extra)
        if self.cna is None:
            rows, pos = ids, np.arange(len(ids))
        else:
            nb = self._host_neighbors[ids]  # [N, K]
            rows, rank = sorted_union(len(self._host_neighbors), ids, nb)
            pos = rank[ids]
            extra["align_nb"] = torch.from_numpy(rank[nb])
        extra["align_rows"] = torch.from_numpy(rows)
        extra["align_pos"] = torch.from_numpy(pos)
        return dataclasses.replace(batch, extra=extra)

    def loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """Weighted terms ``ila``, ``dt``, ``cla``, ``cna``, ``cna_reg`` (the enabled ones)."""
        users, items = batch.grouped()
        rows = batch.extra.get("align_rows")
        if rows is None:  # a batch not prepared on the host: full tables
            tables = [enc.item, *self.inputs(enc)]
            neighbors = None
        else:  # the R rows the losses read; item ids become positions in them
            tables = [take_unique(enc.item, rows), *self.inputs(enc, rows)]
            items = Groups(batch.extra["align_pos"], items.inverse, items.counts)
            neighbors = batch.extra.get("align_nb")
        if self.bucketed:  # a few shapes for the compiled step (crossrec.align.buckets)
            users = pad_groups(users, self._padded_size("users", len(users)))
            items = pad_groups(items, self._padded_size("items", len(items)))
            rows_to = self._padded_size("rows", tables[0].shape[0])
            tables = [pad_rows(t, rows_to) for t in tables]
            if neighbors is not None:
                neighbors = pad_rows(neighbors, len(items))
        terms, stats = self.terms(enc.user, tables, users, items, neighbors)
        if stats:
            self.record(stats)
        return terms

    bucketed = False  # train.compile: sizes padded to buckets (crossrec.align.buckets)

    def _padded_size(self, what: str, n: int) -> int:
        """The size ``n`` rows of ``what`` are padded to: the bucket of ``n``, or the largest
        bucket this run used for ``what`` so far if that is larger — sizes only grow, so the
        shapes settle during the first epoch (the short last batch included) and the compiled
        losses are not recompiled after it."""
        sizes = self.__dict__.setdefault("_sizes", {})
        sizes[what] = max(bucket(n), sizes.get(what, 0))
        return sizes[what]

    def compile_losses(self, log: Callable[[str], None], cuda: bool = False) -> None:
        """``train.compile``: :meth:`terms` through ``torch.compile`` (eager if that fails),
        with static shapes: the batch's unique users, unique items and item rows padded to
        bucket sizes (exactly neutral, crossrec.align.buckets), so a handful of graphs is
        compiled and none after the warm-up."""
        self.bucketed = True
        if self.ila is not None:
            self.ila.padded = True
        self.terms = CompiledOrEager(self.terms, f"plugin {self.name}", log, cuda)  # type: ignore[method-assign]

    def terms(
        self,
        user: Tensor,
        tables: list[Tensor],
        users: Groups,
        items: Groups,
        neighbors: Tensor | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The weighted terms and ILA's diagnostics for the user table ``user`` [U, d], the item
        tables ``tables`` = [E^ID, E^1..E^M] (each [I, d], or the same R rows of each, with
        ``items.ids`` and ``neighbors`` [N, K] as row positions) and the batch's groups: a
        function of its inputs and parameters only (what ``train.compile`` compiles)."""
        p = self.params
        view = BatchView.build(user, tables, users, items)  # shared by the three losses
        terms: dict[str, Tensor] = {}
        stats: dict[str, Tensor] = {}
        if self.ila is not None:
            out = self.ila.compute_view(view)
            if p.use_ila:
                terms["ila"] = p.alpha * out.ila
            if p.use_dt:
                terms["dt"] = p.alpha * out.dt
            stats = self._ila_stats(
                out.scores, out.active, items.counts > 0 if self.bucketed else None
            )
        if self.cla is not None:
            terms["cla"] = p.beta * self.cla.compute_view(view)
        if self.cna is not None:
            real = items.counts > 0 if self.bucketed else None
            cl, reg = self.cna.compute(tables, items.ids, view.e_hat, neighbors, real)
            terms["cna"] = p.gamma * cl
            if p.cna_reg > 0:
                terms["cna_reg"] = p.gamma * p.cna_reg * reg
        return terms, stats

    def _ila_stats_padded(self, scores: Tensor, active: Tensor, real: Tensor) -> dict[str, Tensor]:
        """:meth:`_ila_stats` over the real items (std: 0 with fewer than two)."""
        stats = {"ila_active_dirs": masked_mean(active.sum(0).float(), real)}
        mean, var = masked_mean_var(scores, real)
        std = var.sqrt()
        for name, m, spread in zip(self.tables, mean, std, strict=True):
            stats[f"score_mean_{name}"] = m
            stats[f"score_std_{name}"] = spread
        return stats

    def _ila_stats(
        self, scores: Tensor, active: Tensor, real: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Per-item modality score mean/std per table and active directions per item (over the
        real items only when ``real`` [N] marks pads)."""
        if real is not None:
            return self._ila_stats_padded(scores, active, real)
        stats = {"ila_active_dirs": active.sum(0).float().mean()}
        std = scores.std(dim=1) if scores.shape[1] > 1 else torch.zeros_like(scores[:, 0])
        for name, mean, spread in zip(self.tables, scores.mean(dim=1), std, strict=True):
            stats[f"score_mean_{name}"] = mean
            stats[f"score_std_{name}"] = spread
        return stats
