"""DualGNN (Wang et al., IEEE TMM 2021), MMRec's definition.

Per modality m (MMRec's ``GCN``): users own a preference table P_m [U, 64] (xavier-normal);
items are ``f_m = Linear(256→64)(leaky_relu(Linear(d_m→256)(x_m)))`` of the fixed features;
``X_m = normalize([P_m ; f_m])`` and two propagations on the symmetric-normalised user–item graph
(no self-loops) give ``X̂_m = X_m + Â X_m + Â² X_m``.

* items: ``Σ_m X̂_m[items]``; users: ``Σ_m w_{u,m} X̂_m[users]`` with per-user modality weights
  ``w`` [U, M] (trainable, softmax-initialised);
* user–user graph (built by ``prepare --user-graph``): each user's top ``k`` = 40 co-occurring
  users, weights softmax of the shared-item counts; a user with fewer is padded by repeating
  random ones (redrawn every epoch, as MMRec), a user with none gets nothing;
  ``user += Σ_k a_{u,k} user[n_{u,k}]``;
* loss = ``-mean(log2 σ(pos − neg))`` + reg_weight · (Σ_m mean(P_m[batch users]²) + mean(w²) +
  mean(w_item²)) — MMRec also regularises an item weight table it never uses; kept for fidelity.

MMRec scores evaluation users with the embeddings of the last training batch; here evaluation
recomputes them with the final parameters. The per-modality item representations ``X̂_m[items]``
are exposed to the plug-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossrec.data.needs import DataNeeds
from crossrec.data.sampler import Batch
from crossrec.errors import ConfigError
from crossrec.graph import norm_adjacency, sym_spmm
from crossrec.kernels.gather import take
from crossrec.losses import bpr_rows
from crossrec.models.base import Backbone, BackboneInfo, DataSpec, Encoded
from crossrec.models.features import FrozenFeatures, require_modalities, xavier_table
from crossrec.models.registry import register_backbone
from crossrec.strict import NonNegFloat, Size


@dataclass(frozen=True)
class DualGNNParams:
    """Hyper-parameters (MMRec DualGNN.yaml: grid reg_weight and learning_rate 1e-1 … 1e-5).

    Attributes:
        emb_size: width of each modality's user preference table and item projection.
        k: co-occurring neighbours per user in the user–user graph.
        reg_weight: weight of the squared-norm regulariser (preference tables, modality weights).
        user_fusion: ``weighted`` (the paper: Σ_m w_{u,m} X̂_m) or ``mmrec`` (MMRec's code, whose
            in-place ``representation += t_rep`` turns the first modality's user part into the
            sum of all modalities before the weighting: w_1 Σ_m X̂_m + Σ_{m>1} w_m X̂_m).
    """

    emb_size: Size = 64
    k: Size = 40
    reg_weight: NonNegFloat = 1e-4
    user_fusion: Literal["weighted", "mmrec"] = "weighted"


def pad_user_graph(
    idx: Tensor, cnt: Tensor, k: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The epoch's (neighbours [U, k], weights [U, k]) from the stored top lists (−1 padded).

    Users with ≥ k neighbours keep their first k; fewer are padded by repeating random ones;
    weights are the softmax of the counts (over the padded list); none → index 0, weight 0.
    """
    n_users = idx.shape[0]
    have = (idx[:, :k] >= 0).sum(1)
    cols = torch.arange(k).expand(n_users, k)
    draw = (torch.rand(n_users, k, generator=generator) * have.clamp_min(1).unsqueeze(1)).long()
    pick = torch.where(cols < have.unsqueeze(1), cols, draw)
    nbrs = torch.gather(idx[:, :k].clamp_min(0), 1, pick)
    weights = torch.softmax(torch.gather(cnt[:, :k], 1, pick), dim=1)
    weights = torch.where(have.unsqueeze(1) > 0, weights, torch.zeros_like(weights))
    return nbrs, weights


@register_backbone("dualgnn")
class DualGNN(Backbone):
    """Per-modality GCNs, user-wise modality fusion and a user co-occurrence graph."""

    Params = DualGNNParams
    uses_modalities = True

    @classmethod
    def data_needs(cls, params: DualGNNParams) -> DataNeeds:
        """The user co-occurrence graph (``prepare --user-graph``)."""
        return DataNeeds(user_graph=True)

    def __init__(self, spec: DataSpec, params: DualGNNParams) -> None:
        super().__init__(spec, params)
        self.modalities = require_modalities(spec, "dualgnn")
        if spec.user_graph is None:
            raise ConfigError(
                "backbone dualgnn: the dataset folder has no user_graph_idx.npy; run prepare "
                "with --user-graph (the workflow does so when dualgnn is configured)"
            )
        d, m = params.emb_size, len(self.modalities)
        self.preference = nn.ParameterDict(
            {name: xavier_table(spec.n_users, d, normal=True) for name in self.modalities}
        )
        self.mlp = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.Linear(spec.features[name].shape[1], 4 * d),
                    nn.LeakyReLU(),
                    nn.Linear(4 * d, d),
                )
                for name in self.modalities
            }
        )
        self.frozen = FrozenFeatures(spec, self.modalities)
        self.weight_u = nn.Parameter(
            torch.softmax(nn.init.xavier_normal_(torch.empty(spec.n_users, m, 1)), dim=1)
        )
        self.weight_i = nn.Parameter(
            torch.softmax(nn.init.xavier_normal_(torch.empty(spec.n_items, m, 1)), dim=1)
        )
        adj = norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        self.register_buffer("adj", adj, persistent=False)
        self.register_buffer("graph_idx", spec.user_graph[0].clone(), persistent=False)
        self.register_buffer("graph_cnt", spec.user_graph[1].clone(), persistent=False)
        self.nbrs: Tensor | None = None
        self.nbr_weights: Tensor | None = None

    def info(self) -> BackboneInfo:
        """Users and items emb_size wide; each modality's item representation likewise."""
        d = self.params.emb_size
        return BackboneInfo(d, d, {name: d for name in self.modalities})

    def on_epoch_start(self, epoch: int) -> None:
        """Redraw the padding of the user graph (torch's global RNG)."""
        nbrs, weights = pad_user_graph(self.graph_idx.cpu(), self.graph_cnt.cpu(), self.params.k)
        self.nbrs, self.nbr_weights = nbrs.to(self.adj.device), weights.to(self.adj.device)

    def encode(self) -> Encoded:
        """User [U, d], item [I, d]; per-modality item representations in ``modal``."""
        if self.nbrs is None:
            self.on_epoch_start(0)
        n_users = self.spec.n_users
        reps = {}
        for name in self.modalities:
            items = self.mlp[name](self.frozen[name])
            x = F.normalize(torch.cat([self.preference[name], items]), dim=1)
            h = sym_spmm(self.adj, x)
            reps[name] = x + h + sym_spmm(self.adj, h)
        item = sum(rep[n_users:] for rep in reps.values())
        parts = [reps[name][:n_users] for name in self.modalities]
        if self.params.user_fusion == "mmrec":
            parts[0] = sum(parts)
        stacked = torch.stack(parts, dim=2)
        user = (stacked @ self.weight_u).squeeze(2)  # [U, d, M] @ [U, M, 1]
        neighbours = (self.nbr_weights.unsqueeze(2) * user[self.nbrs]).sum(1)
        user = user + neighbours
        modal = {name: rep[n_users:] for name, rep in reps.items()}
        return Encoded(user=user, item=item, modal=modal)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": -mean log2 σ(pos − neg), "reg": reg_weight · (...)}`` (module docstring)."""
        u = take(enc.user, batch.users)
        reg = sum(
            (take(self.preference[name], batch.users) ** 2).mean() for name in self.modalities
        )
        reg = reg + (self.weight_u**2).mean() + (self.weight_i**2).mean()
        return {
            "bpr": bpr_rows(u, take(enc.item, batch.pos), take(enc.item, batch.neg), "log2"),
            "reg": self.params.reg_weight * reg,
        }
