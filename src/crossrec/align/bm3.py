"""BM3's self-supervised objective as a plug-in (Zhou et al., WWW 2023; MMRec's BM3), for the
FETTLE paper's "+BM3" rows.

With the backbone's outputs u = Encoded.user, i = Encoded.item and modality tables e^m (the
backbone's own or this plug-in's projection heads), a shared predictor P = Linear(d, d), and
target views ``t(x) = dropout(x.detach(), p)`` (no gradient):

    L_ui = (1 - cos(P(u)_b, t(i)_b)) + (1 - cos(P(i)_b, t(u)_b))            (means over the batch)
    L_mm = Σ_m (1 - cos(P(e^m)_b, t(i)_b)) + (1 - cos(P(e^m)_b, t(e^m)_b))

Added loss: ``ui_weight · L_ui`` (term ``bm3_ui``) + ``cl_weight · L_mm`` (term ``bm3_mm``).
BM3's own EmbLoss on the full tables is left to the backbone's regulariser. Defaults follow
BM3.yaml's first grid values (dropout 0.3, cl_weight 2.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from crossrec.align.base import Plugin
from crossrec.align.inputs import ModalityInputs
from crossrec.align.registry import register_plugin
from crossrec.data.sampler import Batch
from crossrec.kernels.gather import take
from crossrec.models.base import BackboneInfo, DataSpec, Encoded
from crossrec.strict import Fraction, NonNegFloat


@dataclass(frozen=True)
class BM3Params:
    """Hyper-parameters of the BM3 plug-in.

    Attributes:
        ui_weight: weight of the user–item term L_ui.
        cl_weight: weight of the modality term L_mm.
        dropout: dropout of the target views.
        modalities: modalities used (default: all of the dataset's).
    """

    ui_weight: NonNegFloat = 1.0
    cl_weight: NonNegFloat = 2.0
    dropout: Fraction = 0.3
    modalities: list[str] | None = None


def _cos_loss(online: Tensor, target: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


@register_plugin("bm3")
class BM3Plugin(Plugin):
    """BM3's bootstrapped latent alignment of ID ↔ user and ID ↔ modalities (module docstring)."""

    Params = BM3Params

    def __init__(self, spec: DataSpec, params: BM3Params, info: BackboneInfo) -> None:
        super().__init__(spec, params, info)
        self.inputs = ModalityInputs(spec, info, params.modalities, "bm3")
        self.predictor = nn.Linear(self.inputs.dim, self.inputs.dim)
        nn.init.xavier_normal_(self.predictor.weight)

    def _target(self, x: Tensor) -> Tensor:
        return F.dropout(x.detach(), self.params.dropout, training=self.training)

    def loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bm3_ui": ui_weight · L_ui, "bm3_mm": cl_weight · L_mm}``."""
        p = self.params
        users, items = batch.users, batch.pos
        u, i = take(enc.user, users), take(enc.item, items)
        i_target = self._target(i)
        l_ui = _cos_loss(self.predictor(u), i_target) + _cos_loss(
            self.predictor(i), self._target(u)
        )
        l_mm = enc.item.new_zeros(())
        for table in self.inputs(enc):
            e = take(table, items)
            online = self.predictor(e)
            l_mm = l_mm + _cos_loss(online, i_target) + _cos_loss(online, self._target(e))
        return {"bm3_ui": p.ui_weight * l_ui, "bm3_mm": p.cl_weight * l_mm}
