"""GRCN (Wei et al., ACM MM 2020, "Graph-Refined Convolutional Network"), MMRec's definition.

Over the unique train pairs (u, i), with every table row-normalised (``has_norm``):

* per modality m (MMRec's ``CGCN``): item content ``f_m = normalize(leaky_relu(W_m x_m + b_m))``
  [I, d_c] from the fixed features, user preference ``p_m = normalize(P_m)`` [U, d_c]; edge score
  ``s_ui = p_u · f_i``; attention ``α→i`` = softmax of s over the users of item i and ``α→u`` =
  softmax over the items of user u (torch_geometric's ``GATConv`` over both directions);
  content representation ``C_m = [p_m + Σ_i α→u f_i ; f_m + Σ_u α→i p_u]`` [(U+I), d_c];
* routing (``n_routing`` rounds before that): ``paper`` updates ``p_u ← normalize(p_u + Σ_i α→u
  f_i)`` as the paper describes; ``mmrec`` is MMRec's (and the authors') code, whose messages
  flow user → item so users receive nothing and the rounds leave p unchanged — skipped;
* graph refinement (``weight_mode: confid``): each directed edge's weight is
  ``relu(max_m α_m · c_m[source])`` with a trainable confidence table c [(U+I), M], which prunes
  edges whose weight goes negative;
* ID GCN (``EGCN``): ``x = normalize(E)`` [(U+I), d], two weighted sum-aggregations
  ``h₁ = A_w x``, ``h₂ = A_w h₁``, ``X = x + h₁ + h₂``;
* representation ``[X ; C_1 ; … ; C_M]`` [(U+I), d + M·d_c] for users and items alike;
* loss = ``-mean log σ(pos − neg)`` + reg_weight · (mean(E_u²) + ½(mean(E_{i+}²) + mean(E_{i−}²))
  + Σ_m mean(P_m[users]²) + mean(P_1²)) — MMRec also regularises the whole first modality's
  preference table once more; kept for fidelity.

MMRec scores evaluation users with the representation of the last training batch; here evaluation
recomputes it with the final parameters. The representation concatenates the modalities, so no
per-modality table has the item width: GRCN exposes no ``Encoded.modal`` and the alignment
plug-ins add their own heads of the full width (docs/method.md §7.3, as for VBPR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossrec.data.sampler import Batch
from crossrec.graph import EdgeGraph, segment_softmax, unique_pairs
from crossrec.kernels.gather import take
from crossrec.losses import bpr_rows
from crossrec.models.base import Backbone, BackboneInfo, DataSpec, Encoded
from crossrec.models.features import FrozenFeatures, require_modalities, xavier_table
from crossrec.models.registry import register_backbone
from crossrec.strict import Layers, NonNegFloat, Size


@dataclass(frozen=True)
class GRCNParams:
    """Hyper-parameters (MMRec GRCN.yaml: embedding_size 64, latent_embedding 64, n_layers 3 —
    the routing rounds —, grid reg_weight 1e-1 … 1e-5 and learning_rate 1 … 1e-4).

    Attributes:
        emb_size: width d of the ID embeddings.
        latent_size: width d_c of each modality's content representation.
        n_routing: routing rounds that refine the users' preferences.
        reg_weight: weight of the squared-norm regulariser of the batch's rows.
        routing: ``paper`` (routing updates the preferences) or ``mmrec`` (MMRec's code, where
            the rounds change nothing and are skipped).
    """

    emb_size: Size = 64
    latent_size: Size = 64
    n_routing: Layers = 3
    reg_weight: NonNegFloat = 1e-4
    routing: Literal["paper", "mmrec"] = "paper"


@register_backbone("grcn")
class GRCN(Backbone):
    """Modality-aware edge refinement, a weighted ID GCN and concatenated content GCNs."""

    Params = GRCNParams
    uses_modalities = True

    def __init__(self, spec: DataSpec, params: GRCNParams) -> None:
        super().__init__(spec, params)
        self.modalities = require_modalities(spec, "grcn")
        n_nodes, m = spec.n_users + spec.n_items, len(self.modalities)
        self.id_emb = xavier_table(n_nodes, params.emb_size, normal=True)
        self.preference = nn.ParameterDict(
            {
                name: xavier_table(spec.n_users, params.latent_size, normal=True)
                for name in self.modalities
            }
        )
        self.mlp = nn.ModuleDict(
            {
                name: nn.Linear(spec.features[name].shape[1], params.latent_size)
                for name in self.modalities
            }
        )
        for name in self.modalities:
            nn.init.xavier_normal_(self.mlp[name].weight)
        self.frozen = FrozenFeatures(spec, self.modalities)
        self.confidence = xavier_table(n_nodes, m, normal=True)
        users, items = unique_pairs(spec.train_users, spec.train_items)
        self.edges = EdgeGraph(users, items, spec.n_users, spec.n_items)

    def info(self) -> BackboneInfo:
        """Users and items ``emb_size + M · latent_size`` wide; no per-modality outputs."""
        width = self.params.emb_size + len(self.modalities) * self.params.latent_size
        return BackboneInfo(width, width)

    def _content(self, name: str) -> tuple[Tensor, Tensor, Tensor]:
        """Modality ``name``'s content representation [(U+I), d_c] and its attention weights
        ``α→i`` [E] (edges user→item) and ``α→u`` [E] (edges item→user)."""
        g = self.edges
        u, i = g.rows, g.cols
        n_users, n_items = self.spec.n_users, self.spec.n_items
        feats = F.normalize(F.leaky_relu(self.mlp[name](self.frozen[name])), dim=1)
        pref = F.normalize(self.preference[name], dim=1)
        if self.params.routing == "paper":
            for _ in range(self.params.n_routing):
                to_user = segment_softmax(g.dot(pref, feats), u, n_users)
                pref = F.normalize(pref + g.mm(to_user, feats), dim=1)
        scores = g.dot(pref, feats)
        to_item = segment_softmax(scores, i, n_items)
        to_user = segment_softmax(scores, u, n_users)
        users = pref + g.mm(to_user, feats)
        items = feats + g.mm_t(to_item, pref)
        return torch.cat([users, items]), to_item, to_user

    def encode(self) -> Encoded:
        """User [U, w] and item [I, w] rows of ``[X ; C_1 ; … ; C_M]`` (module docstring)."""
        g = self.edges
        n_users = self.spec.n_users
        contents, to_item, to_user = [], [], []
        for name in self.modalities:
            rep, a_item, a_user = self._content(name)
            contents.append(rep)
            to_item.append(a_item)
            to_user.append(a_user)
        # Edge u→i carries the source user's confidence, edge i→u the source item's.
        w_item = (torch.stack(to_item, 1) * self.confidence[g.rows]).amax(1).relu()
        w_user = (torch.stack(to_user, 1) * self.confidence[g.cols + n_users]).amax(1).relu()
        layers = [F.normalize(self.id_emb, dim=1)]
        for _ in range(2):
            x_u, x_i = layers[-1][:n_users], layers[-1][n_users:]
            layers.append(torch.cat([g.mm(w_user, x_i), g.mm_t(w_item, x_u)]))
        rep = torch.cat([layers[0] + layers[1] + layers[2], *contents], dim=1)
        return Encoded(user=rep[:n_users], item=rep[n_users:])

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": -mean log σ(pos − neg), "reg": reg_weight · (...)}`` (module docstring)."""
        u = take(enc.user, batch.users)
        n_users = self.spec.n_users
        ids = self.id_emb
        reg = (take(ids, batch.users) ** 2).mean() + 0.5 * (
            (take(ids, batch.pos + n_users) ** 2).mean()
            + (take(ids, batch.neg + n_users) ** 2).mean()
        )
        reg = reg + sum(
            (take(self.preference[m], batch.users) ** 2).mean() for m in self.modalities
        )
        reg = reg + (self.preference[self.modalities[0]] ** 2).mean()
        bpr = bpr_rows(u, take(enc.item, batch.pos), take(enc.item, batch.neg), "logsigmoid")
        return {"bpr": bpr, "reg": self.params.reg_weight * reg}
