"""SGL (Wu et al., SIGIR 2021, "Self-supervised Graph Learning"), RecBole's definition.

Encoder: LightGCN (:class:`crossrec.models.lightgcn.LightGCN`). At every epoch start two
augmented views of the train graph are drawn (``aug``: ``ED`` edge dropout — the default —,
``ND`` node dropout, or ``RW`` a fresh edge dropout per layer), each renormalised over what it
keeps (:func:`crossrec.graph.edge_dropout`, :func:`crossrec.graph.node_dropout`).
Losses per batch (RecBole sums, not averages, the BPR term):

* ``bpr``: ``Σ_b −log σ(u·i⁺ − u·i⁻)`` on the full-graph readout;
* ``reg``: reg_weight · EmbLoss of the batch's ego rows;
* ``ssl``: ``ssl_weight · (Σ_u NCE(z′_u, z″_u; Z″_U) + Σ_i NCE(z′_i, z″_i; Z″_I))`` over the batch's
  users and positive items, z′/z″ the two views' readouts, InfoNCE with temperature ssl_tau.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.graph import edge_dropout, layer_mean, node_dropout, propagate_layers, unique_pairs
from crossrec.kernels.gather import take
from crossrec.losses import bpr_rows, emb_loss, info_nce_sum
from crossrec.models.base import DataSpec, Encoded
from crossrec.models.lightgcn import LightGCN
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import Fraction, Layers, NonNegFloat, PosFloat, Size


@dataclass(frozen=True)
class SGLParams:
    """Hyper-parameters (RecBole SGL.yaml).

    Attributes:
        emb_size: width d of the user and item embeddings.
        n_layers: LightGCN layers.
        reg_weight: weight of the EmbLoss of the batch's ego rows.
        aug: view augmentation: ``ED`` edge dropout, ``ND`` node dropout, ``RW`` a fresh edge
            dropout per layer.
        drop_ratio: share of edges (or nodes) each view drops.
        ssl_tau: temperature of the contrastive term.
        ssl_weight: weight of the contrastive term.
    """

    emb_size: Size = 64
    n_layers: Layers = 3
    reg_weight: NonNegFloat = 1e-5
    aug: Literal["ED", "ND", "RW"] = "ED"
    drop_ratio: Fraction = 0.1
    ssl_tau: PosFloat = 0.5
    ssl_weight: NonNegFloat = 0.05


def readout(adjs: list[Tensor], ego: Tensor) -> Tensor:
    """LightGCN readout with one (symmetric) adjacency per layer: mean of E_0 … E_L."""
    return layer_mean(propagate_layers(adjs, ego))


@register_backbone("sgl")
class SGL(LightGCN):
    """LightGCN + two stochastic graph views per epoch and their InfoNCE (module docstring)."""

    Params = SGLParams

    def __init__(self, spec: DataSpec, params: SGLParams) -> None:
        super().__init__(spec, params)
        users, items = unique_pairs(spec.train_users, spec.train_items)
        self.register_buffer("edge_users", users, persistent=False)
        self.register_buffer("edge_items", items, persistent=False)
        self.views: list[list[Tensor]] | None = None

    def _view(self) -> list[Tensor]:
        """One augmented view: the adjacency of each layer (torch's global RNG)."""
        p, spec = self.params, self.spec
        args = (self.edge_users.cpu(), self.edge_items.cpu(), spec.n_users, spec.n_items)
        if p.aug == "ND":
            adj = node_dropout(*args, p.drop_ratio)
        elif p.aug == "ED":
            adj = edge_dropout(*args, p.drop_ratio)
        else:  # RW: a different edge dropout per layer
            return [
                edge_dropout(*args, p.drop_ratio).to(self.adj.device) for _ in range(p.n_layers)
            ]
        return [adj.to(self.adj.device)] * p.n_layers

    def on_epoch_start(self, epoch: int) -> None:
        """Draw the epoch's two views."""
        self.views = [self._view(), self._view()]

    def encode(self) -> Encoded:
        """Full-graph readout; in training also both views' readouts in ``extra``."""
        enc = super().encode()
        if self.training:
            if self.views is None:
                self.on_epoch_start(0)
            ego = torch.cat([self.user_emb, self.item_emb])
            for name, adjs in zip(("view1", "view2"), self.views, strict=True):
                user, item = readout(adjs, ego).split([self.spec.n_users, self.spec.n_items])
                enc.extra[f"{name}_user"], enc.extra[f"{name}_item"] = user, item
        return enc

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr", "reg", "ssl"}`` (module docstring)."""
        p = self.params
        u, pos, neg = triple(enc.user, enc.item, batch)
        terms = {
            "bpr": bpr_rows(u, pos, neg, "logsigmoid", reduction="sum"),
            "reg": p.reg_weight
            * emb_loss(*triple(enc.extra["user_ego"], enc.extra["item_ego"], batch)),
        }
        if "view1_user" not in enc.extra:
            return terms
        users, u_count = torch.unique(batch.users, return_counts=True)
        items, i_count = torch.unique(batch.pos, return_counts=True)
        e = enc.extra
        ssl = info_nce_sum(
            take(e["view1_user"], users),
            take(e["view2_user"], users),
            e["view2_user"],
            p.ssl_tau,
            u_count.float(),
        ) + info_nce_sum(
            take(e["view1_item"], items),
            take(e["view2_item"], items),
            e["view2_item"],
            p.ssl_tau,
            i_count.float(),
        )
        terms["ssl"] = p.ssl_weight * ssl
        return terms
