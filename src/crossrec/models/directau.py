"""DirectAU (Wang et al., KDD 2022, "Towards Representation Alignment and Uniformity in
Collaborative Filtering"), the authors' RecBole model.

Encoder: MF (the ID tables) or LightGCN (``encoder: lightgcn``, ``n_layers``). No negatives: for
the batch's (user, positive item) rows, with x̃ = x / ‖x‖,

    align   = mean_b ‖ũ_b − ĩ_b‖²
    uniform = (log mean_{b<b'} exp(−2‖ũ_b − ũ_b'‖²) + the same over items) / 2
    loss    = align + gamma · uniform

The authors' defaults: gamma 1 (tuned per dataset in 0.2–10), weight_decay 1e-6 and batch 256
(set those in the config's ``train`` section; the sampler's negatives are ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.graph import norm_adjacency, propagate_mean
from crossrec.kernels.gather import take
from crossrec.models.base import Backbone, DataSpec, Encoded
from crossrec.models.features import xavier_table
from crossrec.models.registry import register_backbone
from crossrec.strict import Layers, NonNegFloat, Size


@dataclass(frozen=True)
class DirectAUParams:
    """Hyper-parameters (DirectAU's RecBole config).

    Attributes:
        emb_size: width d of the user and item embeddings.
        gamma: weight of the uniformity term (loss = align + gamma · uniform; the paper's γ).
        encoder: ``mf`` (the ID tables) or ``lightgcn`` (the tables propagated ``n_layers``).
        n_layers: LightGCN layers when ``encoder`` is ``lightgcn``.
    """

    emb_size: Size = 64
    gamma: NonNegFloat = 1.0
    encoder: Literal["mf", "lightgcn"] = "mf"
    n_layers: Layers = 2


def alignment(x: Tensor, y: Tensor) -> Tensor:
    """``mean_b ‖x̃_b − ỹ_b‖²`` of row-normalised x, y [B, d]."""
    return (F.normalize(x, dim=-1) - F.normalize(y, dim=-1)).norm(dim=1).pow(2).mean()


def uniformity(x: Tensor) -> Tensor:
    """``log mean_{b≠b'} exp(−2‖x̃_b − x̃_b'‖²)`` of row-normalised x [B, d] (the same as over
    b < b', as the authors' ``pdist``). For unit rows ``‖x̃_b − x̃_b'‖² = 2 − 2 x̃_b·x̃_b'``, so
    one B × B matmul replaces ``pdist`` and its much slower backward."""
    unit = F.normalize(x, dim=-1)
    kernel = torch.exp(4 * (unit @ unit.T) - 4)
    n = x.shape[0]
    return ((kernel.sum() - kernel.diagonal().sum()) / (n * (n - 1))).log()


@register_backbone("directau")
class DirectAU(Backbone):
    """Alignment + uniformity on normalised embeddings (module docstring)."""

    Params = DirectAUParams

    def __init__(self, spec: DataSpec, params: DirectAUParams) -> None:
        super().__init__(spec, params)
        d = params.emb_size
        self.user_emb = xavier_table(spec.n_users, d, normal=True)
        self.item_emb = xavier_table(spec.n_items, d, normal=True)
        if params.encoder == "lightgcn":
            adj = norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
            self.register_buffer("adj", adj, persistent=False)

    def encode(self) -> Encoded:
        """User [U, d] and item [I, d] of the encoder."""
        if self.params.encoder == "mf":
            return Encoded(user=self.user_emb, item=self.item_emb)
        out = propagate_mean(
            self.adj, torch.cat([self.user_emb, self.item_emb]), self.params.n_layers
        )
        user, item = out.split([self.spec.n_users, self.spec.n_items])
        return Encoded(user=user, item=item)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"align": align, "uniform": gamma · uniform}`` on the batch's positive pairs."""
        u, i = take(enc.user, batch.users), take(enc.item, batch.pos)
        return {
            "align": alignment(u, i),
            "uniform": self.params.gamma * (uniformity(u) + uniformity(i)) / 2,
        }
