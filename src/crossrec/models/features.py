"""Building blocks several backbones share: ID tables, modality checks, feature tables,
per-modality projections, the prepared kNN item graphs, and the base of the backbones built
from those (FREEDOM, LATTICE)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from crossrec.data.needs import DataNeeds
from crossrec.errors import ConfigError
from crossrec.models.base import Backbone, BackboneInfo, DataSpec


def xavier_table(*shape: int, normal: bool = False) -> nn.Parameter:
    """A trainable table of ``shape`` (e.g. [n, d]), xavier-uniform initialised (MMRec's
    default), or xavier-normal with ``normal=True`` (MMRec's BPR, DirectAU, DualGNN, GRCN)."""
    init = nn.init.xavier_normal_ if normal else nn.init.xavier_uniform_
    return nn.Parameter(init(torch.empty(*shape)))


def require_modalities(spec: DataSpec, backbone: str) -> list[str]:
    """The dataset's modality names, sorted; a ConfigError when it has none."""
    if not spec.features:
        raise ConfigError(f"backbone {backbone} needs at least one item modality (*_feat.npy)")
    return sorted(spec.features)


class FrozenFeatures(nn.Module):
    """Fixed item feature matrices [I, d_m] as non-persistent buffers (they follow ``.to()`` and
    stay out of checkpoints), shared with ``spec`` on the CPU; ``frozen[m]`` is modality m's
    matrix, or with ``concat`` ``frozen.joint`` is their concatenation [I, Σ d_m] (VBPR), built
    once rather than each step.

    Args:
        spec: the dataset.
        modalities: which matrices to keep (in this order when concatenated).
        normalize: L2-normalise each row first (SLMRec).
        concat: keep one concatenated matrix instead of one per modality.
    """

    def __init__(
        self,
        spec: DataSpec,
        modalities: list[str],
        normalize: bool = False,
        concat: bool = False,
    ) -> None:
        super().__init__()
        feats = {m: spec.features[m] for m in modalities}
        if normalize:
            feats = {m: torch.nn.functional.normalize(f, dim=1) for m, f in feats.items()}
        if concat:
            self.register_buffer("feat_joint", torch.cat(list(feats.values()), dim=1), False)
            return
        for m, feat in feats.items():
            self.register_buffer(f"feat_{m}", feat, persistent=False)

    def __getitem__(self, modality: str) -> Tensor:
        return getattr(self, f"feat_{modality}")

    @property
    def joint(self) -> Tensor:
        """The concatenated matrix [I, Σ d_m] (``concat=True``)."""
        return self.feat_joint


def trainable_features(spec: DataSpec, modalities: list[str]) -> nn.ParameterDict:
    """The raw feature matrices [I, d_m] as trainable tables (MMRec's ``freeze=False``)."""
    return nn.ParameterDict({m: nn.Parameter(spec.features[m].clone()) for m in modalities})


def modal_projections(spec: DataSpec, modalities: list[str], dim: int) -> nn.ModuleDict:
    """One ``Linear(d_m → dim)`` per modality."""
    return nn.ModuleDict({m: nn.Linear(spec.features[m].shape[1], dim) for m in modalities})


def item_knn(spec: DataSpec, backbone: str, modality: str, k: int) -> Tensor:
    """The prepared feature-kNN neighbours [I, k] of ``modality`` (``knn_<m>_k<k>_*.npy``)."""
    key = (modality, k)
    if key not in spec.item_knn:
        raise ConfigError(
            f"backbone {backbone}: no knn_{modality}_k{k}_*.npy in the dataset folder; "
            f"prepare it with --knn-k {k} (the workflow does so for every planned knn_k)"
        )
    return spec.item_knn[key]


class FeatureGraphBackbone(Backbone):
    """Base of the backbones with an item–item graph from the features' kNN (FREEDOM, LATTICE):
    ID tables ``user_emb`` [U, d] and ``item_emb`` [I, d] (xavier-uniform), the raw features as
    trainable tables ``features[m]`` [I, d_m], each projected by ``proj[m]`` (d_m →
    ``feat_embed_dim``), and the prepared feature-kNN graphs of ``knn_k``. ``Params`` has
    ``emb_size``, ``feat_embed_dim`` and ``knn_k``."""

    uses_modalities = True
    modalities: list[str]

    @classmethod
    def data_needs(cls, params: Any) -> DataNeeds:  # noqa: ANN401  (the subclass's Params)
        """The feature-kNN item graphs of its ``knn_k``."""
        return DataNeeds(item_knn_k=frozenset({params.knn_k}))

    def _feature_tables(self, spec: DataSpec, modalities: list[str]) -> None:
        """Create the ID tables, trainable feature tables and projections of ``modalities``
        (in this order: the parameters' order, hence the optimiser's and the RNG draws')."""
        p = self.params
        self.modalities = modalities
        self.user_emb = xavier_table(spec.n_users, p.emb_size)
        self.item_emb = xavier_table(spec.n_items, p.emb_size)
        self.features = trainable_features(spec, modalities)
        self.proj = modal_projections(spec, modalities, p.feat_embed_dim)

    def info(self) -> BackboneInfo:
        """ID embeddings of width emb_size; each modality projected to feat_embed_dim."""
        p = self.params
        return BackboneInfo(p.emb_size, p.emb_size, {m: p.feat_embed_dim for m in self.modalities})
