"""SLMRec (Tao et al., IEEE TMM 2022, "Self-supervised Learning for Multimedia Recommendation"),
MMRec's definition.

Towers: one LightGCN (symmetric-normalised user–item graph, ``n_layers``, mean readout) per
table — the ID tower over ``[U ; I]`` and one per modality m over ``[U ; D_m x̂_m]``, where the users
share the ID table U, ``x̂_m`` are the row-normalised fixed features and ``D_m`` a Linear(d_m → d).
Fusion (``concat``; ``mean`` as an option): ``user = L_u([t_0 ; t_1 ; …]_users)``,
``item = L_i([…]_items)``, L Linear(d·(M+1) → d).

* main loss: in-batch InfoNCE between the normalised user and positive-item rows, temperature
  ``temp`` (no negatives sampled);
* ``ssl``: ``ssl_alpha`` × one self-supervised task (``ssl_task``):

  - ``fac`` (fine and coarse, MMRec's only working task): a chain of spaces over the batch's
    positive items, ``h_1 = g_1(t_0)``, ``h_k = g_k(h_{k−1})``; level k's modality is mapped into
    the same space, ``z = g'_k(t_m)``, and ``InfoNCE(h_k, z)`` (un-normalised, ``ssl_temp``) is
    summed over the levels. Widths d, …, d, d/2 (last). With two modalities MMRec keeps the
    audio level of the paper's image → audio → text chain without its loss
    (``fac_phantom_level``), so text is reached through two maps;
  - ``fd`` (feature dropout): two views of every tower with dropout after each propagation;
  - ``fm`` (feature masking): two views in which a different random tower (of M + 1) has its
    item inputs zeroed; ``fd+fm``: masking plus dropout;

  both contrast the two fused views' normalised user and item rows of the batch (InfoNCE,
  ``ssl_temp``, summed over users and items). MMRec's FD/FM code paths read config keys that do
  not exist and cannot run; they follow the paper here.

MMRec trains SLMRec with Adam weight decay 1e-4 (``weight_decay``, applied to the backbone's
parameters only); its ``reg`` grid parameter is never read by the model. MMRec scores with the
last training batch's embeddings (through a sigmoid, which keeps the ranking); here evaluation
recomputes them with the final parameters. The modality towers' item rows are exposed to the
plug-ins as ``Encoded.modal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossrec.data.sampler import Batch
from crossrec.graph import layer_mean, norm_adjacency, propagate_layers
from crossrec.kernels.gather import take
from crossrec.losses import in_batch_nce
from crossrec.models.base import Backbone, BackboneInfo, DataSpec, Encoded
from crossrec.models.features import (
    FrozenFeatures,
    modal_projections,
    require_modalities,
    xavier_table,
)
from crossrec.models.registry import register_backbone
from crossrec.strict import Fraction, Layers, NonNegFloat, PosFloat, Size


@dataclass(frozen=True)
class SLMRecParams:
    """Hyper-parameters (MMRec SLMRec.yaml: recdim 64, layer_num 3, temp 0.2, dropout_rate 0.3,
    ssl_task FAC, concat fusion, weight_decay 1e-4; grids ssl_alpha 0.01 … 1.0, ssl_temp 0.1 … 1.0,
    learning_rate 1e-4 … 1e-1 — ssl_alpha and ssl_temp default to a point of that grid).

    Attributes:
        emb_size: width d of every tower.
        n_layers: LightGCN layers per tower.
        temp: temperature of the main in-batch InfoNCE.
        ssl_task: ``fac`` (fine and coarse), ``fd`` (feature dropout), ``fm`` (feature
            masking) or ``fd+fm``.
        ssl_alpha: weight of the self-supervised task.
        ssl_temp: temperature of the self-supervised task.
        dropout: dropout after each propagation in the ``fd`` views.
        fusion: how towers are fused: ``concat`` (then a linear map) or ``mean``.
        weight_decay: Adam weight decay on the backbone's parameters only.
        fac_phantom_level: keep MMRec's loss-less audio level of ``fac`` with two modalities.
    """

    emb_size: Size = 64
    n_layers: Layers = 3
    temp: PosFloat = 0.2
    ssl_task: Literal["fac", "fd", "fm", "fd+fm"] = "fac"
    ssl_alpha: NonNegFloat = 0.1
    ssl_temp: PosFloat = 0.1
    dropout: Fraction = 0.3
    fusion: Literal["concat", "mean"] = "concat"
    weight_decay: NonNegFloat = 1e-4
    fac_phantom_level: bool = True


def fac_levels(modalities: list[str], phantom: bool) -> list[str | None]:
    """The FAC chain's levels: each a modality name, or None for a level without a loss."""
    if phantom and len(modalities) == 2:
        return [modalities[0], None, modalities[1]]
    return list(modalities)


@register_backbone("slmrec")
class SLMRec(Backbone):
    """ID and modality LightGCN towers, fused, trained by InfoNCE plus a self-supervised task."""

    Params = SLMRecParams
    uses_modalities = True

    def __init__(self, spec: DataSpec, params: SLMRecParams) -> None:
        super().__init__(spec, params)
        self.modalities = require_modalities(spec, "slmrec")
        d = params.emb_size
        self.user_emb = xavier_table(spec.n_users, d)
        self.item_emb = xavier_table(spec.n_items, d)
        self.dense = modal_projections(spec, self.modalities, d)
        for name in self.modalities:
            nn.init.xavier_uniform_(self.dense[name].weight)
        self.frozen = FrozenFeatures(spec, self.modalities, normalize=True)
        fused = d * (len(self.modalities) + 1) if params.fusion == "concat" else d
        self.user_out = nn.Linear(fused, d)
        self.item_out = nn.Linear(fused, d)
        for layer in (self.user_out, self.item_out):
            nn.init.xavier_uniform_(layer.weight)
        self.levels = fac_levels(self.modalities, params.fac_phantom_level)
        if params.ssl_task == "fac":
            widths = [d] * (len(self.levels) - 1) + [d // 2]
            ins = [d, *widths[:-1]]
            self.chain = nn.ModuleList(nn.Linear(a, b) for a, b in zip(ins, widths, strict=True))
            self.to_level = nn.ModuleDict(
                {
                    name: nn.Linear(d, widths[k])
                    for k, name in enumerate(self.levels)
                    if name is not None
                }
            )
            for layer in [*self.chain, *self.to_level.values()]:
                nn.init.xavier_uniform_(layer.weight)
        adj = norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        self.register_buffer("adj", adj, persistent=False)

    def info(self) -> BackboneInfo:
        """Users and items emb_size wide; each modality tower's item rows likewise."""
        d = self.params.emb_size
        return BackboneInfo(d, d, {name: d for name in self.modalities})

    def weight_decay(self) -> float | None:
        """Adam weight decay of the backbone's parameters (MMRec: 1e-4)."""
        return self.params.weight_decay

    def _inputs(self) -> list[Tensor]:
        """Item inputs [I, d] of the towers: the ID table, then each modality's projection."""
        return [self.item_emb] + [self.dense[name](self.frozen[name]) for name in self.modalities]

    def _tower(self, items: Tensor, dropout: float = 0.0) -> Tensor:
        """LightGCN readout [(U+I), d] of ``[user_emb ; items]``, dropout after each layer."""
        ego = torch.cat([self.user_emb, items])
        return layer_mean(propagate_layers(self.adj, ego, self.params.n_layers, dropout=dropout))

    def _fuse(self, towers: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Fused user [U, d] and item [I, d] rows of the tower readouts."""
        n_users = self.spec.n_users
        if self.params.fusion == "concat":
            joint = torch.cat(towers, dim=1)
        else:
            joint = torch.stack(towers).mean(0)
        return self.user_out(joint[:n_users]), self.item_out(joint[n_users:])

    def encode(self) -> Encoded:
        """Fused user [U, d] and item [I, d]; the modality towers' item rows in ``modal``, the ID
        tower's in ``extra["id"]`` and, for the view tasks, the towers' inputs [M+1, I, d] in
        ``extra["inputs"]``."""
        n_users = self.spec.n_users
        inputs = self._inputs()
        towers = [self._tower(x) for x in inputs]
        user, item = self._fuse(towers)
        modal = {name: t[n_users:] for name, t in zip(self.modalities, towers[1:], strict=True)}
        extra = {"id": towers[0][n_users:]}
        if self.params.ssl_task != "fac":  # the view tasks re-propagate the same inputs
            extra["inputs"] = torch.stack(inputs)
        return Encoded(user=user, item=item, modal=modal, extra=extra)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"nce": InfoNCE(user, pos; temp), "ssl": ssl_alpha · task}`` (module docstring)."""
        p = self.params
        u = F.normalize(take(enc.user, batch.users), dim=1)
        i = F.normalize(take(enc.item, batch.pos), dim=1)
        if p.ssl_task == "fac":
            ssl = self._fac(enc, batch.pos)
        else:
            ssl = self._views(list(enc.extra["inputs"]), batch)
        return {"nce": in_batch_nce(u, i, p.temp), "ssl": p.ssl_alpha * ssl}

    def _fac(self, enc: Encoded, items: Tensor) -> Tensor:
        """Fine-and-coarse InfoNCE along the level chain over the batch's items [B]."""
        h = take(enc.extra["id"], items)
        total = h.new_zeros(())
        for layer, name in zip(self.chain, self.levels, strict=True):
            h = layer(h)
            if name is not None:
                z = self.to_level[name](take(enc.modal[name], items))
                total = total + in_batch_nce(h, z, self.params.ssl_temp)
        return total

    def _views(self, inputs: list[Tensor], batch: Batch) -> Tensor:
        """Two augmented views (dropout and/or one masked tower each), contrasted per user and
        per item of the batch."""
        p = self.params
        dropout = p.dropout if "fd" in p.ssl_task else 0.0
        masked = [-1, -1]
        if "fm" in p.ssl_task:
            masked = torch.randperm(len(inputs))[:2].tolist()
        total = inputs[0].new_zeros(())
        views = []
        for view in range(2):
            towers = [
                self._tower(torch.zeros_like(x) if k == masked[view] else x, dropout)
                for k, x in enumerate(inputs)
            ]
            views.append(self._fuse(towers))
        (u1, i1), (u2, i2) = views
        for a, b, idx in ((u1, u2, batch.users), (i1, i2, batch.pos)):
            a, b = F.normalize(take(a, idx), dim=1), F.normalize(take(b, idx), dim=1)
            total = total + in_batch_nce(a, b, p.ssl_temp)
        return total
