"""FREEDOM (Zhou & Shen, ACM MM 2023, "A Tale of Two Graphs"), MMRec's definition.

* Frozen item–item graph: per modality m the feature-cosine top-k neighbours (self included,
  built once by ``prepare``: ``knn_<m>_k<k>_<hash>.npy``), values ``r_i^{-1/2} r_j^{-1/2}``
  (≈ 1/k), combined as ``S = Σ_m w_m S_m`` (MMRec: 0.1 · image + 0.9 · text).
* User–item graph: degree-sensitive edge pruning resampled every epoch (``dropout`` 0.8 keeps 20 %
  of the train edges, sampled ∝ 1/sqrt(d_u d_i), renormalised); the full normalised graph at
  evaluation.
* ``h = S^{L_mm} E_item`` (L_mm = 1); users/items = LightGCN mean over layers 0..L_ui (2);
  item = LightGCN item + h. Score = u · i.
* Raw features are trainable tables (``from_pretrained(freeze=False)``), projected per modality
  by ``Linear(feat_dim → feat_embed_dim)``; these projections are exposed in ``Encoded.modal``.
* loss = ``-mean(logsigmoid(pos − neg))`` + ``reg_weight · Σ_m BPR(u, f_m(pos), f_m(neg))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from crossrec.data.sampler import Batch
from crossrec.errors import ConfigError
from crossrec.graph import knn_adjacency, norm_adjacency, propagate_mean, prune_edges, spmm, to_csr
from crossrec.kernels.gather import take
from crossrec.losses import bpr_rows
from crossrec.models.base import DataSpec, Encoded
from crossrec.models.features import FeatureGraphBackbone, item_knn, require_modalities
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import Fraction, Layers, NonNegFloat, Size


@dataclass(frozen=True)
class FREEDOMParams:
    """Hyper-parameters (MMRec FREEDOM.yaml; grid dropout {0.8, 0.9} × reg_weight {0, 1e-5,
    1e-4, 1e-3}).

    Attributes:
        emb_size: width d of the user and item ID embeddings.
        feat_embed_dim: width of each modality's projected features.
        knn_k: neighbours per item in each modality's feature-kNN graph.
        n_mm_layers: propagations over the frozen item–item graph.
        n_ui_layers: LightGCN layers on the (pruned) user–item graph.
        dropout: share of train edges pruned each epoch (degree-sensitive sampling).
        reg_weight: weight of the per-modality BPR on the projected features.
        mm_weights: modality → weight of its kNN graph; empty: 0.1 image + 0.9 text when the
            dataset has exactly those, otherwise equal weights.
    """

    emb_size: Size = 64
    feat_embed_dim: Size = 64
    knn_k: Size = 10
    n_mm_layers: Layers = 1
    n_ui_layers: Layers = 2
    dropout: Fraction = 0.8
    reg_weight: NonNegFloat = 0.0
    mm_weights: dict[str, float] = field(default_factory=dict)


@register_backbone("freedom")
class FREEDOM(FeatureGraphBackbone):
    """Frozen multimodal item graph + pruned user–item graph (module docstring)."""

    Params = FREEDOMParams

    def __init__(self, spec: DataSpec, params: FREEDOMParams) -> None:
        super().__init__(spec, params)
        names = require_modalities(spec, "freedom")
        weights = dict(params.mm_weights) or (
            {"image": 0.1, "text": 0.9}
            if names == ["image", "text"]
            else {m: 1.0 / len(names) for m in names}
        )
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(f"backbone freedom: mm_weights names unknown modality {unknown[0]!r}")
        self._feature_tables(spec, [m for m in names if m in weights])
        mm = None
        for m in self.modalities:
            part = knn_adjacency(item_knn(spec, "freedom", m, params.knn_k)) * weights[m]
            mm = part if mm is None else (mm + part).coalesce()
        self.register_buffer("mm_adj", to_csr(mm), persistent=False)
        self.register_buffer("mm_adj_t", to_csr(mm.t()), persistent=False)
        adj = norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        self.register_buffer("full_adj", adj, persistent=False)
        self.register_buffer("edge_users", spec.train_users.clone(), persistent=False)
        self.register_buffer("edge_items", spec.train_items.clone(), persistent=False)
        self.masked_adj: Tensor | None = None

    def on_epoch_start(self, epoch: int) -> None:
        """Resample the pruned user–item graph (torch's global RNG, seeded by the trainer)."""
        if self.params.dropout <= 0:
            self.masked_adj = self.full_adj
            return
        self.masked_adj = prune_edges(
            self.edge_users.cpu(),
            self.edge_items.cpu(),
            self.spec.n_users,
            self.spec.n_items,
            keep=1.0 - self.params.dropout,
        ).to(self.full_adj.device)

    def encode(self) -> Encoded:
        """User [U, d] and item [I, d] (= LightGCN + item-graph term); modal projections."""
        p = self.params
        h = self.item_emb
        for _ in range(p.n_mm_layers):
            h = spmm(self.mm_adj, self.mm_adj_t, h)
        if self.training:
            if self.masked_adj is None:
                self.on_epoch_start(0)
            adj = self.masked_adj
        else:
            adj = self.full_adj
        ego = torch.cat([self.user_emb, self.item_emb])
        user, item = propagate_mean(adj, ego, p.n_ui_layers).split(
            [self.spec.n_users, self.spec.n_items]
        )
        modal = (
            {m: self.proj[m](self.features[m]) for m in self.modalities} if self.training else {}
        )
        return Encoded(user=user, item=item + h, modal=modal)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": BPR(u, i⁺, i⁻), "modal_bpr": reg_weight · Σ_m BPR(u, f_m(i⁺), f_m(i⁻))}``."""
        u, pos, neg = triple(enc.user, enc.item, batch)
        terms = {"bpr": bpr_rows(u, pos, neg, "logsigmoid")}
        if self.params.reg_weight > 0:
            modal = sum(
                bpr_rows(u, take(f, batch.pos), take(f, batch.neg), "logsigmoid")
                for f in enc.modal.values()
            )
            terms["modal_bpr"] = self.params.reg_weight * modal
        return terms
