"""NCL (Lin et al., WWW 2022, "Neighborhood-enriched Contrastive Learning"), RecBole's definition.

Encoder: LightGCN (:class:`crossrec.models.lightgcn.LightGCN`) propagated for
``max(n_layers, 2·hyper_layers)`` layers; the readout is the mean of layers 0..n_layers.
Losses per batch (users u, positive items i):

* ``bpr`` + ``reg``: LightGCN's (BPR on the readout, reg_weight · EmbLoss of the ego rows);
* ``ssl`` (structural neighbours): ``ssl_reg · (Σ_u NCE(E^{2h}_u, E^0_u; E^0_U)
  + alpha · Σ_i NCE(E^{2h}_i, E^0_i; E^0_I))``, NCE = InfoNCE with temperature ssl_temp;
* ``proto`` (semantic neighbours): ``proto_reg · (Σ_u NCE(E^0_u, c_{a(u)}; C_U)
  + Σ_i NCE(E^0_i, c_{a(i)}; C_I))`` against L2-normalised k-means centroids of the ego
  tables, recomputed by the epoch hook (the E-step). The term is 0 during the first
  ``warm_up`` epochs (RecBole drops it for ``epoch < warm_up_step``), so k-means is skipped then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.graph import layer_mean, propagate_layers
from crossrec.kmeans import kmeans, resolve_backend
from crossrec.losses import info_nce_sum
from crossrec.models.base import DataSpec, Encoded
from crossrec.models.lightgcn import LightGCN
from crossrec.models.registry import register_backbone
from crossrec.strict import Layers, NonNegFloat, NonNegInt, PosFloat, PosInt, Size


@dataclass(frozen=True)
class NCLParams:
    """Hyper-parameters (RecBole NCL.yaml).

    Attributes:
        emb_size: width d of the user and item embeddings.
        n_layers: LightGCN layers of the readout.
        reg_weight: weight of the EmbLoss of the batch's ego rows.
        ssl_temp: temperature of both contrastive terms.
        ssl_reg: weight of the structural-neighbour term.
        hyper_layers: h; a node's structural neighbour is its own layer-2h embedding.
        alpha: weight of the items' half of the structural term.
        proto_reg: weight of the prototype (semantic-neighbour) term.
        num_clusters: k-means centroids per table (capped at the number of rows).
        warm_up: epochs before the prototype term (and k-means) starts.
        kmeans: k-means backend: ``auto`` (faiss if installed), ``faiss`` or ``torch``.
        kmeans_iters: Lloyd iterations of each epoch's k-means.
    """

    emb_size: Size = 64
    n_layers: Layers = 3
    reg_weight: NonNegFloat = 1e-4
    ssl_temp: PosFloat = 0.1
    ssl_reg: NonNegFloat = 1e-7
    hyper_layers: Layers = 1
    alpha: NonNegFloat = 1.0
    proto_reg: NonNegFloat = 8e-8
    num_clusters: Size = 1000
    warm_up: NonNegInt = 20
    kmeans: Literal["auto", "faiss", "torch"] = "auto"
    kmeans_iters: PosInt = 25


@register_backbone("ncl")
class NCL(LightGCN):
    """LightGCN + structural and prototype contrastive terms (module docstring)."""

    Params = NCLParams

    def __init__(self, spec: DataSpec, params: NCLParams) -> None:
        super().__init__(spec, params)
        resolve_backend(params.kmeans)  # fail at build time on a bad backend name
        self.user_centroids: Tensor | None = None
        self.item_centroids: Tensor | None = None
        self.user_cluster: Tensor | None = None
        self.item_cluster: Tensor | None = None

    def on_epoch_start(self, epoch: int) -> None:
        """E-step: k-means of the ego tables (skipped during warm-up, when it is unused)."""
        if epoch < self.params.warm_up:
            self.user_centroids = self.item_centroids = None
            return
        p = self.params
        users = kmeans(self.user_emb.detach(), p.num_clusters, p.kmeans, p.kmeans_iters)
        items = kmeans(self.item_emb.detach(), p.num_clusters, p.kmeans, p.kmeans_iters)
        self.user_centroids = F.normalize(users.centroids, dim=1)
        self.item_centroids = F.normalize(items.centroids, dim=1)
        self.user_cluster, self.item_cluster = users.assign, items.assign

    def encode(self) -> Encoded:
        """Readout user [U, d] / item [I, d]; ego tables and layer 2·hyper_layers in ``extra``."""
        p = self.params
        ego = torch.cat([self.user_emb, self.item_emb])
        layers = propagate_layers(self.adj, ego, max(p.n_layers, 2 * p.hyper_layers))
        user, item = layer_mean(layers[: p.n_layers + 1]).split(
            [self.spec.n_users, self.spec.n_items]
        )
        ctx_user, ctx_item = layers[2 * p.hyper_layers].split(
            [self.spec.n_users, self.spec.n_items]
        )
        return Encoded(
            user=user,
            item=item,
            extra={
                "user_ego": self.user_emb,
                "item_ego": self.item_emb,
                "user_ctx": ctx_user,
                "item_ctx": ctx_item,
            },
        )

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr", "reg"}`` of LightGCN plus ``"ssl"`` and ``"proto"`` (module docstring)."""
        p = self.params
        terms = super().rec_loss(enc, batch)
        # each row's terms depend only on its id: sum over unique ids weighted by multiplicity
        u, u_count = torch.unique(batch.users, return_counts=True)
        i, i_count = torch.unique(batch.pos, return_counts=True)
        u_count, i_count = u_count.to(torch.float32), i_count.to(torch.float32)
        ue, ie = enc.extra["user_ego"], enc.extra["item_ego"]
        ue_u, ie_i = ue[u], ie[i]  # gathered once, used by both terms
        ssl_user = info_nce_sum(enc.extra["user_ctx"][u], ue_u, ue, p.ssl_temp, u_count)
        ssl_item = info_nce_sum(enc.extra["item_ctx"][i], ie_i, ie, p.ssl_temp, i_count)
        terms["ssl"] = p.ssl_reg * (ssl_user + p.alpha * ssl_item)
        if self.user_centroids is None or not self.training:
            terms["proto"] = ue.new_zeros(())
            return terms
        cu, ci = self.user_centroids, self.item_centroids
        proto_user = info_nce_sum(ue_u, cu[self.user_cluster[u]], cu, p.ssl_temp, u_count)
        proto_item = info_nce_sum(ie_i, ci[self.item_cluster[i]], ci, p.ssl_temp, i_count)
        terms["proto"] = p.proto_reg * (proto_user + proto_item)
        return terms
