"""The backbone contract (docs/design.md §3).

A backbone turns its parameters into embeddings (:meth:`Backbone.encode`), scores users against
all items (:meth:`Backbone.score`) and returns its own named recommendation losses
(:meth:`Backbone.rec_loss`). Alignment plug-ins only see the :class:`Encoded` output, so any
plug-in fits any backbone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from crossrec.data.formats import InteractionData
from crossrec.data.needs import DataNeeds
from crossrec.data.sampler import Batch


@dataclass(frozen=True)
class DataSpec:
    """What a model may know about a dataset.

    Attributes:
        n_users, n_items: sizes (``max id + 1``).
        train_users, train_items: int64 [E] train pairs (the training graph).
        features: modality name -> float32 [n_items, d_m] frozen item features.
        neighbors: K -> int64 [n_items, K] item neighbours (CNA), from ``neighbors_k{K}.npy``.
        item_knn: (modality, K) -> int64 [n_items, K] feature-kNN neighbours, self included.
        user_graph: (indices [n_users, top], counts [n_users, top]) co-occurring users (DualGNN).
    """

    n_users: int
    n_items: int
    train_users: Tensor
    train_items: Tensor
    features: dict[str, Tensor] = field(default_factory=dict)
    neighbors: dict[int, Tensor] = field(default_factory=dict)
    item_knn: dict[tuple[str, int], Tensor] = field(default_factory=dict)
    user_graph: tuple[Tensor, Tensor] | None = None

    @classmethod
    def from_data(cls, data: InteractionData) -> DataSpec:
        """The spec of a loaded dataset."""
        return cls(
            n_users=data.n_users,
            n_items=data.n_items,
            train_users=torch.from_numpy(data.train.users),
            train_items=torch.from_numpy(data.train.items),
            features={k: torch.from_numpy(v) for k, v in data.features.items()},
            neighbors={k: torch.from_numpy(v) for k, v in data.neighbors.items()},
            item_knn={k: torch.from_numpy(v) for k, v in data.item_knn.items()},
            user_graph=(
                None
                if data.user_graph is None
                else (torch.from_numpy(data.user_graph[0]), torch.from_numpy(data.user_graph[1]))
            ),
        )


@dataclass
class Encoded:
    """A forward pass's output.

    Attributes:
        user: [U, d_u] user representations used for scoring.
        item: [I, d_i] item representations used for scoring.
        modal: modality name -> [I, d] projected item modality embeddings (multi-modal
            backbones only; empty for collaborative-filtering backbones).
        extra: backbone-specific tensors (e.g. ego embeddings) for its own losses.
    """

    user: Tensor
    item: Tensor
    modal: dict[str, Tensor] = field(default_factory=dict)
    extra: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneInfo:
    """What a backbone's :class:`Encoded` output looks like, known before the first step.

    Attributes:
        user_dim, item_dim: widths of ``Encoded.user`` and ``Encoded.item``.
        modal: modality name -> width of ``Encoded.modal[name]`` (empty: a CF backbone, whose
            plug-ins must project the frozen features themselves).
    """

    user_dim: int
    item_dim: int
    modal: dict[str, int] = field(default_factory=dict)


class Backbone(nn.Module, ABC):
    """Base class of every recommender backbone.

    Subclasses set ``Params`` to a dataclass of hyper-parameters and implement :meth:`encode`
    and :meth:`rec_loss`. ``uses_modalities`` says whether the backbone reads item features.
    """

    Params: ClassVar[type]
    uses_modalities: ClassVar[bool] = False

    @classmethod
    def data_needs(cls, params: Any) -> DataNeeds:  # noqa: ANN401
        """The prepared files this backbone reads with ``params`` (default: none)."""
        return DataNeeds()

    def __init__(self, spec: DataSpec, params: Any) -> None:  # noqa: ANN401
        super().__init__()
        self.spec = spec
        self.params = params

    @abstractmethod
    def encode(self) -> Encoded:
        """Compute user and item representations with the current parameters."""

    @abstractmethod
    def rec_loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """Named scalar recommendation losses for one batch (summed by the trainer)."""

    def info(self) -> BackboneInfo:
        """Output widths (default: ``params.emb_size`` for users and items, no modal outputs)."""
        return BackboneInfo(self.params.emb_size, self.params.emb_size)

    def score(self, enc: Encoded, users: Tensor) -> Tensor:
        """Scores [B, I] of users int64 [B] against every item: ``user[users] @ item^T``."""
        return enc.user[users] @ enc.item.T

    def weight_decay(self) -> float | None:
        """Adam weight decay of this backbone's parameters; None (default): the run's
        ``train.weight_decay``, which also applies to the plug-in's parameters."""
        return None

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of the configured learning rate during ``epoch`` (0-based); default 1."""
        return 1.0

    def on_epoch_start(self, epoch: int) -> None:  # noqa: B027  (optional hook)
        """Called by the trainer before each epoch (0-based); default: nothing."""
