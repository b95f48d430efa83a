"""The item-modality tables a plug-in aligns: the backbone's own, or the plug-in's projections.

A multi-modal backbone (FREEDOM, VBPR, ...) exposes projected modality embeddings in
``Encoded.modal``; they are used as they are. A collaborative-filtering backbone (BPR, LightGCN,
NCL, ...) has none: the plug-in then owns one ``Linear(feat_dim → d)`` with bias per modality over
the frozen features, applied to all items at every step, as the reference NCL wiring does
(docs/method.md §7.1). These heads are xavier-uniform with zero bias (the reference applies
``xavier_uniform_initialization`` to the whole model) and are unused at inference.
"""

from __future__ import annotations

from torch import Tensor, nn

from crossrec.errors import ConfigError
from crossrec.kernels.gather import take_unique
from crossrec.models.base import BackboneInfo, DataSpec, Encoded
from crossrec.models.features import FrozenFeatures


class ModalityInputs(nn.Module):
    """Produces ``[E^1, ..., E^M]`` (each [I, d]) for the configured modalities.

    Args:
        spec: the dataset (its frozen features feed the projection heads).
        info: the backbone's output description.
        modalities: names to align (default: the backbone's modal outputs, else every feature).
        name: the plug-in's name, for error messages.
    Raises:
        ConfigError: no modality, an unknown modality, or mismatched widths.
    """

    def __init__(
        self, spec: DataSpec, info: BackboneInfo, modalities: list[str] | None, name: str
    ) -> None:
        super().__init__()
        available = info.modal or {m: f.shape[1] for m, f in spec.features.items()}
        if modalities is not None and len(modalities) == 0:
            raise ConfigError(
                f"plugin {name}: modalities is empty; leave it out for every modality, or name "
                f"some of {sorted(available)}"
            )
        self.names = list(modalities) if modalities is not None else sorted(available)
        if not self.names:
            raise ConfigError(
                f"plugin {name}: the dataset has no item modality (*_feat.npy) to align with"
            )
        unknown = [m for m in self.names if m not in available]
        if unknown:
            where = "the backbone's modal outputs" if info.modal else "the dataset's features"
            raise ConfigError(
                f"plugin {name}: modality {unknown[0]!r} is not among {where} ({sorted(available)})"
            )
        if info.user_dim != info.item_dim:
            raise ConfigError(
                f"plugin {name}: user ({info.user_dim}) and item ({info.item_dim}) embeddings "
                "differ in width; alignment needs one embedding space"
            )
        self.dim = info.item_dim
        self.from_backbone = bool(info.modal)
        if self.from_backbone:
            wrong = [m for m in self.names if info.modal[m] != self.dim]
            if wrong:
                raise ConfigError(f"plugin {name}: modal output {wrong[0]!r} is not {self.dim}-d")
            self.heads = nn.ModuleDict()
        else:
            self.heads = nn.ModuleDict({m: nn.Linear(available[m], self.dim) for m in self.names})
            for head in self.heads.values():
                nn.init.xavier_uniform_(head.weight)
                nn.init.zeros_(head.bias)
            self.frozen = FrozenFeatures(spec, self.names)

    def forward(self, enc: Encoded, rows: Tensor | None = None) -> list[Tensor]:
        """The M modality tables, in ``self.names`` order: [I, d], or [R, d] for the item ids
        ``rows`` [R] only (a projection head then projects just those rows)."""
        if self.from_backbone:
            tables = [enc.modal[m] for m in self.names]
            return tables if rows is None else [take_unique(t, rows) for t in tables]
        if rows is None:
            return [self.heads[m](self.frozen[m]) for m in self.names]
        return [self.heads[m](take_unique(self.frozen[m], rows)) for m in self.names]


def table_names(inputs: ModalityInputs) -> list[str]:
    """``["id", *modalities]``: names of the tables the losses see, in order."""
    return ["id", *inputs.names]
