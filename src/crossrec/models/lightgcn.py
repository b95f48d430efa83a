"""LightGCN (He et al., SIGIR 2020), MMRec's definition.

E^(0) = [E_u; E_i] (xavier-uniform), E^(l+1) = Â E^(l) with Â = D^{-1/2} A D^{-1/2}
(:func:`crossrec.graph.norm_adjacency`), final = mean(E^(0..L)).
loss = BPR on the final embeddings + reg_weight · EmbLoss of the batch's **ego** embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.graph import norm_adjacency, propagate_mean
from crossrec.losses import bpr_rows, emb_loss
from crossrec.models.base import Backbone, DataSpec, Encoded
from crossrec.models.features import xavier_table
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import Layers, NonNegFloat, Size


@dataclass(frozen=True)
class LightGCNParams:
    """Hyper-parameters (MMRec grid: n_layers 1–4 × reg_weight 1e-2 … 1e-6).

    Attributes:
        emb_size: width d of the user and item embeddings.
        n_layers: propagation layers; the readout is the mean of layers 0..n_layers.
        reg_weight: weight of the EmbLoss of the batch's ego (layer-0) rows.
    """

    emb_size: Size = 64
    n_layers: Layers = 2
    reg_weight: NonNegFloat = 1e-4


@register_backbone("lightgcn")
class LightGCN(Backbone):
    """Linear propagation on the normalised user–item graph."""

    Params = LightGCNParams

    def __init__(self, spec: DataSpec, params: LightGCNParams) -> None:
        super().__init__(spec, params)
        d = params.emb_size
        self.user_emb = xavier_table(spec.n_users, d)
        self.item_emb = xavier_table(spec.n_items, d)
        adj = norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        self.register_buffer("adj", adj, persistent=False)

    def encode(self) -> Encoded:
        """Propagated user [U, d] and item [I, d] embeddings; ego tables in ``extra``."""
        ego = torch.cat([self.user_emb, self.item_emb])
        out = propagate_mean(self.adj, ego, self.params.n_layers)
        user, item = out.split([self.spec.n_users, self.spec.n_items])
        return Encoded(
            user=user, item=item, extra={"user_ego": self.user_emb, "item_ego": self.item_emb}
        )

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": BPR(final), "reg": reg_weight · EmbLoss(ego u, ego pos, ego neg)}``."""
        u, p, n = triple(enc.user, enc.item, batch)
        reg = emb_loss(*triple(enc.extra["user_ego"], enc.extra["item_ego"], batch))
        return {
            "bpr": bpr_rows(u, p, n),
            "reg": self.params.reg_weight * reg,
        }
