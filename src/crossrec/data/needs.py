"""What a run needs prepared beyond interactions and features, declared without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataNeeds:
    """The prepared files a model needs beyond interactions and features, declared by the model
    (:meth:`Backbone.data_needs`, :meth:`crossrec.align.base.Plugin.data_needs`) so that the
    workflow prepares exactly them.

    Attributes:
        neighbors_k: K of the item-neighbour files ``neighbors_k{K}.npy`` (CNA).
        item_knn_k: K of the feature-kNN item graphs (FREEDOM's, LATTICE's ``knn_k``).
        user_graph: whether the user co-occurrence graph is read (DualGNN).
    """

    neighbors_k: frozenset[int] = frozenset()
    item_knn_k: frozenset[int] = frozenset()
    user_graph: bool = False

    def __or__(self, other: DataNeeds) -> DataNeeds:
        """Both sets of needs."""
        return DataNeeds(
            self.neighbors_k | other.neighbors_k,
            self.item_knn_k | other.item_knn_k,
            self.user_graph or other.user_graph,
        )
