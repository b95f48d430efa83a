"""VBPR (He & McAuley, AAAI 2016), MMRec's definition.

User ``p_u`` ∈ R^{2d} (xavier-uniform); item ``q_i = [e_i ; W f_i + b]`` ∈ R^{2d}, with e_i an ID
embedding (xavier-uniform), f_i the **fixed** concatenation of all item features and W, b a
linear map (xavier-normal, zero bias, as MMRec's ``xavier_normal_initialization``).
loss = BPR(p_u·q_{i+}, p_u·q_{i-}) + reg_weight · EmbLoss(p_u, q_{i+}, q_{i-}).

The fused projection is not per-modality, so VBPR exposes no ``Encoded.modal``: alignment
plug-ins add their own per-modality heads, of the item width 2d (docs/method.md §7.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from crossrec.data.sampler import Batch
from crossrec.losses import mf_terms
from crossrec.models.base import Backbone, BackboneInfo, DataSpec, Encoded
from crossrec.models.features import FrozenFeatures, require_modalities, xavier_table
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import NonNegFloat, Size


@dataclass(frozen=True)
class VBPRParams:
    """Hyper-parameters (MMRec grid for reg_weight: 2.0 … 1e-5).

    Attributes:
        emb_size: d; users are 2d wide, items an ID part and a projected-feature part of d each.
        reg_weight: weight of the EmbLoss (squared norms) of the batch's user and item rows.
    """

    emb_size: Size = 64
    reg_weight: NonNegFloat = 1e-4


@register_backbone("vbpr")
class VBPR(Backbone):
    """Visual BPR over every item modality (module docstring)."""

    Params = VBPRParams
    uses_modalities = True

    def __init__(self, spec: DataSpec, params: VBPRParams) -> None:
        super().__init__(spec, params)
        modalities = require_modalities(spec, "vbpr")
        d = params.emb_size
        self.frozen = FrozenFeatures(spec, modalities, concat=True)  # fixed, not trained
        self.user_emb = xavier_table(spec.n_users, 2 * d)
        self.item_emb = xavier_table(spec.n_items, d)
        self.item_linear = nn.Linear(self.frozen.joint.shape[1], d)
        nn.init.xavier_normal_(self.item_linear.weight)
        nn.init.zeros_(self.item_linear.bias)

    def info(self) -> BackboneInfo:
        """Users and items are 2d wide; no per-modality outputs."""
        return BackboneInfo(2 * self.params.emb_size, 2 * self.params.emb_size)

    def encode(self) -> Encoded:
        """User [U, 2d] and item [I, 2d] = [ID ; projected features]."""
        item = torch.cat([self.item_emb, self.item_linear(self.frozen.joint)], dim=1)
        return Encoded(user=self.user_emb, item=item)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": BPR, "reg": reg_weight · EmbLoss(u, pos, neg)}``."""
        u, p, n = triple(enc.user, enc.item, batch)
        return mf_terms(u, p, n, self.params.reg_weight)
