"""Graph operators shared by every graph backbone (written once, reused).

The user–item graph is the bipartite adjacency over ``n_users + n_items`` nodes
(users first, items offset by ``n_users``):

    A = [[0, R], [R^T, 0]],   Â = D^{-1/2} A D^{-1/2},   D_ii = Σ_j 1[A_ij > 0] + 1e-7

exactly as LightGCN in MMRec (duplicate train pairs count once; no self-loops).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


def bipartite_edges(users: Tensor, items: Tensor, n_users: int) -> tuple[Tensor, Tensor]:
    """Both directions of the unique (user, item) train pairs as node-index arrays [2E]."""
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    u, i = pairs[0], pairs[1] + n_users
    return torch.cat([u, i]), torch.cat([i, u])


def sym_norm_adj(rows: Tensor, cols: Tensor, n_nodes: int, eps: float = 1e-7) -> Tensor:
    """``D^{-1/2} A D^{-1/2}`` as a coalesced sparse COO tensor [n_nodes, n_nodes].

    Args:
        rows, cols: int64 [E] edge endpoints of a symmetric 0/1 adjacency (no duplicates).
        eps: added to every degree (MMRec: 1e-7) so isolated nodes do not divide by zero.
    """
    deg = torch.zeros(n_nodes, dtype=torch.float32).index_add_(
        0, rows, torch.ones_like(rows, dtype=torch.float32)
    )
    d_inv_sqrt = (deg + eps).pow(-0.5)
    values = d_inv_sqrt[rows] * d_inv_sqrt[cols]
    idx = torch.stack([rows, cols])
    return torch.sparse_coo_tensor(
        idx, values, (n_nodes, n_nodes), check_invariants=False
    ).coalesce()


def norm_adjacency(users: Tensor, items: Tensor, n_users: int, n_items: int) -> Tensor:
    """The normalised user–item adjacency Â [(U+I), (U+I)] of the train interactions.

    Returned in CSR layout, which makes ``Â @ X`` (and its backward) fast on CPU and GPU.
    """
    rows, cols = bipartite_edges(users, items, n_users)
    adj = sym_norm_adj(rows, cols, n_users + n_items)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adj.to_sparse_csr()


class _SymSpMM(torch.autograd.Function):
    """``Â @ X`` for a constant **symmetric** sparse Â: the gradient is ``Â @ G`` (Â^T = Â).

    torch's generic sparse backward transposes Â (a sort of all edges) on every call; using
    symmetry removes that, which is most of LightGCN's CPU step time.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        return adj @ x

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[None, Tensor]:
        (adj,) = ctx.saved_tensors
        return None, adj @ grad


def sym_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` [N, d] for a constant symmetric sparse ``adj`` [N, N], with a cheap backward."""
    return _SymSpMM.apply(adj, x)


def propagate_mean(adj: Tensor, ego: Tensor, n_layers: int) -> Tensor:
    """LightGCN propagation: ``mean(E_0, Â E_0, ..., Â^L E_0)``; ego/out [(U+I), d].

    ``adj`` must be symmetric (as :func:`norm_adjacency` is).
    """
    out = ego
    layer = ego
    for _ in range(n_layers):
        layer = sym_spmm(adj, layer)
        out = out + layer
    return out / (n_layers + 1)
