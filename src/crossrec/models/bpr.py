"""BPR-MF (Rendle et al., UAI 2009), MMRec's definition.

``score(u, i) = e_u · e_i`` with embeddings [U, d] and [I, d] initialised xavier-normal;
loss = BPR(pos, neg) + reg_weight · EmbLoss(e_u, e_pos, e_neg).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.losses import mf_terms
from crossrec.models.base import Backbone, DataSpec, Encoded
from crossrec.models.features import xavier_table
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import NonNegFloat, Size


@dataclass(frozen=True)
class BPRParams:
    """Hyper-parameters of BPR-MF (MMRec grid for reg_weight: 2.0 … 1e-5).

    Attributes:
        emb_size: width d of the user and item embeddings.
        reg_weight: weight of the EmbLoss (squared norms) of the batch's user and item rows.
    """

    emb_size: Size = 64
    reg_weight: NonNegFloat = 1e-4


@register_backbone("bpr")
class BPR(Backbone):
    """Matrix factorisation trained with the BPR loss."""

    Params = BPRParams

    def __init__(self, spec: DataSpec, params: BPRParams) -> None:
        super().__init__(spec, params)
        d = params.emb_size
        self.user_emb = xavier_table(spec.n_users, d, normal=True)
        self.item_emb = xavier_table(spec.n_items, d, normal=True)

    def encode(self) -> Encoded:
        """Return the raw embedding tables (user [U, d], item [I, d])."""
        return Encoded(user=self.user_emb, item=self.item_emb)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": BPR, "reg": reg_weight · EmbLoss(u, pos, neg)}``."""
        u, p, n = triple(enc.user, enc.item, batch)
        return mf_terms(u, p, n, self.params.reg_weight)
