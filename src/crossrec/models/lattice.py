"""LATTICE (Zhang et al., ACM MM 2021, "Mining Latent Structures for Multimedia
Recommendation"), MMRec's definition with ``cf_model: lightgcn``.

* Original item graph per modality m: cosine top-k (self included) of the raw features, edge
  values = the cosine similarities, ``D^{-1/2} W D^{-1/2}`` with row sums D (neighbour indices
  from ``prepare``: ``knn_<m>_k<k>_<hash>.npy``).
* Learned item graph, rebuilt at the first batch of every epoch (and for every evaluation):
  the same construction on the projected features ``f_m = Linear_m(x_m)`` with trainable
  feature tables, combined as ``Σ_m w_m W_m`` with ``w = softmax(modal_weight)`` (init equal),
  then normalised. Item graph ``S = (1 − λ) · norm(Σ_m w_m W_m) + λ · Σ_m w_m S^orig_m``.
  Gradients reach the projections, the feature tables and ``modal_weight`` only through the
  batch that rebuilt S; the other batches of the epoch use it detached (MMRec).
* ``h = S^{n_layers} E_item``; users/items = LightGCN readout over ``n_ui_layers`` layers of the
  row-normalised ``D^{-1}(A + I)``; item = readout + L2-normalised h. Score = u · i.
* loss = ``-mean(logsigmoid(pos − neg)) + reg_weight · ½(‖u‖² + ‖i⁺‖² + ‖i⁻‖²) / B`` on the
  final embeddings (MMRec divides by the configured batch size; we use the batch's own size,
  which differs only for the last, smaller batch of an epoch).
* Learning rate × ``lr_decay^(epoch / lr_decay_every)`` (MMRec LATTICE.yaml: 0.96, 50).

The graphs are kept as top-k edge lists (O(I·k) memory), never the dense I × I matrix MMRec
builds; ``tests/models/test_lattice.py`` checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossrec.data.sampler import Batch
from crossrec.graph import (
    csr_transpose,
    edge_cosine,
    edge_spmm,
    edges_to_csr,
    knn_neighbors,
    layer_mean,
    propagate_layers,
    row_norm_adjacency,
    spmm,
    sym_normalize_edges,
)
from crossrec.losses import bpr_rows
from crossrec.models.base import DataSpec, Encoded
from crossrec.models.features import FeatureGraphBackbone, item_knn, require_modalities
from crossrec.models.registry import register_backbone
from crossrec.models.rows import triple
from crossrec.strict import Decay, Layers, NonNegFloat, PosInt, Size, Unit


@dataclass(frozen=True)
class LATTICEParams:
    """Hyper-parameters (MMRec LATTICE.yaml; grid reg_weight {0, 1e-5, 1e-4, 1e-3} ×
    learning_rate {1e-4, 5e-4, 1e-3, 5e-3}).

    Attributes:
        emb_size: width d of the user and item ID embeddings.
        feat_embed_dim: width of each modality's projected features.
        n_ui_layers: LightGCN layers on the user–item graph.
        n_layers: propagations of the item embeddings over the learned item graph.
        knn_k: neighbours per item in the original and learned feature-kNN graphs.
        lambda_coeff: λ, the original graphs' share in S = (1 − λ) learned + λ original.
        reg_weight: weight of the squared-norm regulariser of the batch's final embeddings.
        lr_decay: learning-rate factor applied every ``lr_decay_every`` epochs.
        lr_decay_every: epochs per ``lr_decay`` factor (applied smoothly, once per epoch).
    """

    emb_size: Size = 64
    feat_embed_dim: Size = 64
    n_ui_layers: Layers = 2
    n_layers: Layers = 1
    knn_k: Size = 10
    lambda_coeff: Unit = 0.9
    reg_weight: NonNegFloat = 0.0
    lr_decay: Decay = 0.96
    lr_decay_every: PosInt = 50


@dataclass(frozen=True)
class EdgeList:
    """A sparse [n, n] matrix as rows, cols int64 [E] and values float [E]."""

    rows: Tensor
    cols: Tensor
    values: Tensor


def knn_graph(features: Tensor, neighbors: Tensor) -> EdgeList:
    """The normalised cosine-weighted kNN graph of features [n, d] with neighbours [n, k]."""
    n, k = neighbors.shape
    rows = torch.arange(n, device=features.device).repeat_interleave(k)
    cols = neighbors.reshape(-1)
    values = edge_cosine(features, rows, cols)
    return EdgeList(rows, cols, sym_normalize_edges(rows, cols, values, n))


@register_backbone("lattice")
class LATTICE(FeatureGraphBackbone):
    """Learned multimodal item graph + LightGCN user–item graph (module docstring)."""

    Params = LATTICEParams

    def __init__(self, spec: DataSpec, params: LATTICEParams) -> None:
        super().__init__(spec, params)
        self._feature_tables(spec, require_modalities(spec, "lattice"))
        self.modal_weight = nn.Parameter(torch.full((len(self.modalities),), 0.5))
        originals = [
            knn_graph(spec.features[m], item_knn(spec, "lattice", m, params.knn_k))
            for m in self.modalities
        ]
        # the original graphs, one equal-sized block of I·k edges per modality
        self.register_buffer("orig_rows", torch.cat([g.rows for g in originals]), False)
        self.register_buffer("orig_cols", torch.cat([g.cols for g in originals]), False)
        self.register_buffer("orig_values", torch.stack([g.values for g in originals]), False)
        adj = row_norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        self.register_buffer("adj", adj, persistent=False)
        self.register_buffer("adj_t", csr_transpose(adj), persistent=False)
        self._cached: tuple[Tensor, Tensor] | None = None  # detached S as CSR (S, Sᵀ)

    def lr_factor(self, epoch: int) -> float:
        """``lr_decay^(epoch / lr_decay_every)`` (MMRec's LambdaLR, stepped once per epoch)."""
        return self.params.lr_decay ** (epoch / self.params.lr_decay_every)

    def on_epoch_start(self, epoch: int) -> None:
        """Rebuild the learned item graph at the epoch's first batch."""
        self._cached = None

    def item_graph(self, projected: dict[str, Tensor]) -> EdgeList:
        """S (module docstring) from the projected features {m: [I, d_f]}, differentiable."""
        p, n = self.params, self.spec.n_items
        weight = torch.softmax(self.modal_weight, dim=0)
        k = min(p.knn_k, n)
        rows, cols, learned = [], [], []
        for w, m in zip(weight, self.modalities, strict=True):
            nbrs = knn_neighbors(projected[m].detach(), k)
            rows.append(torch.arange(n, device=nbrs.device).repeat_interleave(k))
            cols.append(nbrs.reshape(-1))
            learned.append(w * edge_cosine(projected[m], rows[-1], cols[-1]))
        rows, cols = torch.cat(rows), torch.cat(cols)
        learned_norm = sym_normalize_edges(rows, cols, torch.cat(learned), n)
        orig = (weight.unsqueeze(1) * self.orig_values).reshape(-1)
        return EdgeList(
            torch.cat([rows, self.orig_rows]),
            torch.cat([cols, self.orig_cols]),
            torch.cat([(1 - p.lambda_coeff) * learned_norm, p.lambda_coeff * orig]),
        )

    def encode(self) -> Encoded:
        """User [U, d] and item [I, d] (= readout + normalised item-graph term); modal projections."""
        p = self.params
        projected = {m: self.proj[m](self.features[m]) for m in self.modalities}
        h = self.item_emb
        if self.training and self._cached is not None:
            graph, graph_t = self._cached
            for _ in range(p.n_layers):
                h = spmm(graph, graph_t, h)
        else:
            s = self.item_graph(projected)
            if self.training:
                self._cached = edges_to_csr(s.rows, s.cols, s.values, self.spec.n_items)
            for _ in range(p.n_layers):
                h = edge_spmm(s.rows, s.cols, s.values, h)
        ego = torch.cat([self.user_emb, self.item_emb])
        layers = propagate_layers(self.adj, ego, p.n_ui_layers, adj_t=self.adj_t)
        user, item = layer_mean(layers).split([self.spec.n_users, self.spec.n_items])
        modal = projected if self.training else {}
        return Encoded(user=user, item=item + F.normalize(h, dim=1), modal=modal)

    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """``{"bpr": -mean logsigmoid(u·i⁺ − u·i⁻), "reg": reg_weight · ½ Σ squares / B}``."""
        u, pos, neg = triple(enc.user, enc.item, batch)
        bpr = bpr_rows(u, pos, neg, "logsigmoid")
        terms = {"bpr": bpr}
        if self.params.reg_weight > 0:
            squares = u.pow(2).sum() + pos.pow(2).sum() + neg.pow(2).sum()
            terms["reg"] = self.params.reg_weight * 0.5 * squares / u.shape[0]
        return terms
