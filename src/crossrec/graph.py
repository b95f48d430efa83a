"""Graph operators shared by every graph backbone (written once, reused).

The user–item graph is the bipartite adjacency over ``n_users + n_items`` nodes
(users first, items offset by ``n_users``):

    A = [[0, R], [R^T, 0]],   Â = D^{-1/2} A D^{-1/2},   D_ii = Σ_j 1[A_ij > 0] + 1e-7

exactly as LightGCN in MMRec (duplicate train pairs count once; no self-loops).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def unique_pairs(users: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct (user, item) pairs of parallel id arrays [N] → (users [E], items [E]),
    sorted by user then item (``torch.unique`` over the stacked pairs)."""
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    return pairs[0], pairs[1]


def bipartite_edges(users: Tensor, items: Tensor, n_users: int) -> tuple[Tensor, Tensor]:
    """Both directions of the unique (user, item) train pairs as node-index arrays [2E]."""
    u, i = unique_pairs(users, items)
    i = i + n_users
    return torch.cat([u, i]), torch.cat([i, u])


def degree(index: Tensor, n: int, eps: float = 1e-7) -> Tensor:
    """Occurrences of each of ``n`` node ids in ``index`` [E], plus ``eps``, as float32 [n]."""
    return torch.zeros(n).index_add_(0, index, torch.ones(index.shape[0])) + eps


def sym_norm_adj(rows: Tensor, cols: Tensor, n_nodes: int, eps: float = 1e-7) -> Tensor:
    """``D^{-1/2} A D^{-1/2}`` as a coalesced sparse COO tensor [n_nodes, n_nodes].

    Args:
        rows, cols: int64 [E] edge endpoints of a symmetric 0/1 adjacency (no duplicates).
        eps: added to every degree (MMRec: 1e-7) so isolated nodes do not divide by zero.
    """
    d_inv_sqrt = degree(rows, n_nodes, eps).pow(-0.5)
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
    return to_csr(sym_norm_adj(rows, cols, n_users + n_items))


class _SpMM(torch.autograd.Function):
    """``A @ X`` for a constant sparse A whose transpose is given: the gradient is ``Aᵀ @ G``.

    torch's generic sparse backward transposes A (a sort of all edges) on every call; passing
    Aᵀ once (or A itself when it is symmetric) removes that, which is most of LightGCN's CPU
    step time.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, adj: Tensor, adj_t: Tensor, x: Tensor
    ) -> Tensor:
        ctx.save_for_backward(adj_t)
        return adj @ x

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[None, None, Tensor]:
        (adj_t,) = ctx.saved_tensors
        return None, None, adj_t @ grad


def spmm(adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` [N, d] for a constant sparse ``adj`` [N, M] with its transpose ``adj_t``."""
    return _SpMM.apply(adj, adj_t, x)


def sym_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` [N, d] for a constant symmetric sparse ``adj`` [N, N], with a cheap backward."""
    return _SpMM.apply(adj, adj, x)


def to_csr(adj: Tensor) -> Tensor:
    """A sparse COO tensor in CSR layout (fast ``@`` on CPU and GPU), without the beta warning,
    with int32 row pointers and column indices where they fit (:func:`index_dtype`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = adj.coalesce().to_sparse_csr()
        dtype = index_dtype(csr._nnz(), *csr.shape)
        return torch.sparse_csr_tensor(
            csr.crow_indices().to(dtype),
            csr.col_indices().to(dtype),
            csr.values(),
            csr.shape,
            check_invariants=False,
        )


def index_dtype(*sizes: int) -> torch.dtype:
    """int32 for the indices of a CSR matrix whose sizes and number of entries are all below
    2³¹, else int64. The CPU product ``csr @ x`` (MKL) runs on int32 indices and converted int64
    ones on every call: two copies of the index arrays per product (ml100k's Â, 159,580 entries:
    1.14 against 1.21-1.26 ms per ``Â @ X`` at d = 64, 1 thread; the same result bits)."""
    return torch.int32 if max(sizes, default=0) < 2**31 else torch.int64


def csr_transpose(adj: Tensor) -> Tensor:
    """The transpose of a sparse matrix, in CSR layout."""
    return to_csr(adj.to_sparse_coo().t())


def knn_neighbors(features: Tensor, k: int, block: int = 4096) -> Tensor:
    """Indices [n, k] of each row's k most cosine-similar rows, **itself included** (FREEDOM).

    Computed in row blocks of ``block`` so memory stays O(block · n), never n × n at once.
    """
    unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = []
    for start in range(0, unit.shape[0], block):
        sim = unit[start : start + block] @ unit.T
        out.append(torch.topk(sim, k, dim=1).indices)
    return torch.cat(out)


def knn_adjacency(neighbors: Tensor, eps: float = 1e-7) -> Tensor:
    """FREEDOM's normalised kNN graph [n, n] from neighbour indices [n, k].

    Edges (i, j) for j in the neighbours of i, value 1, normalised by the directed row sums:
    ``r_i^{-1/2} r_j^{-1/2}`` with ``r = k + eps`` (MMRec's ``compute_normalized_laplacian``), so
    every value is ≈ 1/k. COO, not coalesced-summed: (i, j) occurs once per row.
    """
    n, k = neighbors.shape
    rows = torch.arange(n).repeat_interleave(k)
    cols = neighbors.reshape(-1)
    deg = degree(rows, n, eps)
    values = deg[rows].pow(-0.5) * deg[cols].pow(-0.5)
    idx = torch.stack([rows, cols])
    return torch.sparse_coo_tensor(idx, values, (n, n), check_invariants=False).coalesce()


def bipartite_norm_values(users: Tensor, items: Tensor, n_users: int, n_items: int) -> Tensor:
    """``d_u^{-1/2} d_i^{-1/2}`` per (user, item) edge, degrees over the given edges (+1e-7)."""
    du, di = degree(users, n_users), degree(items, n_items)
    return du[users].pow(-0.5) * di[items].pow(-0.5)


def prune_edges(
    users: Tensor,
    items: Tensor,
    n_users: int,
    n_items: int,
    keep: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """FREEDOM's degree-sensitive edge pruning: a symmetric normalised adjacency of a sample.

    Samples ``int(E · keep)`` train edges without replacement with probability ∝
    ``1/sqrt(d_u d_i)`` (``torch.multinomial``), renormalises the kept edges by their own degrees
    and returns the symmetric [(U+I), (U+I)] matrix in CSR layout.
    """
    weights = bipartite_norm_values(users, items, n_users, n_items)
    n_keep = int(users.shape[0] * keep)
    idx = torch.multinomial(weights, n_keep, replacement=False, generator=generator)
    ku, ki = users[idx], items[idx]
    values = bipartite_norm_values(ku, ki, n_users, n_items)
    rows = torch.cat([ku, ki + n_users])
    cols = torch.cat([ki + n_users, ku])
    n = n_users + n_items
    idx, vals = torch.stack([rows, cols]), torch.cat([values, values])
    adj = torch.sparse_coo_tensor(idx, vals, (n, n), check_invariants=False)
    return to_csr(adj)


def propagate_layers(
    adj: Tensor | Sequence[Tensor],
    ego: Tensor,
    n_layers: int | None = None,
    adj_t: Tensor | None = None,
    dropout: float = 0.0,
) -> list[Tensor]:
    """Layer outputs ``[E_0, Â E_0, ..., Â^L E_0]``, each [(U+I), d] — the one LightGCN
    propagation loop of every graph backbone.

    Args:
        adj: the symmetric CSR adjacency Â [(U+I), (U+I)] applied ``n_layers`` times, or one
            adjacency per layer (SGL's per-epoch graph views; ``n_layers`` then unused).
        ego: E_0 [(U+I), d].
        adj_t: Â's stored transpose, for the product with a separate backward matrix
            (:func:`spmm`, LATTICE); default the symmetric product (:func:`sym_spmm`).
        dropout: dropout after each layer's product (SLMRec), in training mode.
    """
    adjs = list(adj) if isinstance(adj, Sequence) else [adj] * int(n_layers or 0)
    layers = [ego]
    for a in adjs:
        out = sym_spmm(a, layers[-1]) if adj_t is None else spmm(a, adj_t, layers[-1])
        layers.append(F.dropout(out, dropout, training=True) if dropout else out)
    return layers


def layer_mean(layers: list[Tensor]) -> Tensor:
    """LightGCN's readout: the mean of the given layer outputs."""
    out = layers[0]
    for layer in layers[1:]:
        out = out + layer
    return out / len(layers)


def propagate_mean(adj: Tensor, ego: Tensor, n_layers: int) -> Tensor:
    """LightGCN propagation: ``mean(E_0, Â E_0, ..., Â^L E_0)``; ego/out [(U+I), d].

    ``adj`` must be symmetric (as :func:`norm_adjacency` is).
    """
    return layer_mean(propagate_layers(adj, ego, n_layers))


def row_norm_adjacency(users: Tensor, items: Tensor, n_users: int, n_items: int) -> Tensor:
    """``D^{-1} (A + I)`` [(U+I), (U+I)] in CSR: the user–item graph with self-loops, row-normalised
    (LATTICE's and NGCF's ``normalized_adj_single(adj + I)``). Not symmetric: pair it with its
    transpose in :func:`spmm`."""
    rows, cols = bipartite_edges(users, items, n_users)
    n = n_users + n_items
    loop = torch.arange(n)
    rows, cols = torch.cat([rows, loop]), torch.cat([cols, loop])
    values = degree(rows, n, eps=0.0).reciprocal()[rows]
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False)
    return to_csr(adj)


def edge_cosine(features: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Cosine similarity [E] of the feature rows of each edge (differentiable in ``features``)."""
    unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (unit[rows] * unit[cols]).sum(1)


def sym_normalize_edges(rows: Tensor, cols: Tensor, values: Tensor, n: int) -> Tensor:
    """``D^{-1/2} W D^{-1/2}`` on an edge list: ``w_rc · s_r^{-1/2} · s_c^{-1/2}`` with ``s`` the
    row sums of W [n, n] (duplicate edges add up); a zero row sum gives 0 (MMRec's
    ``compute_normalized_laplacian``: inf → 0). Differentiable in ``values`` [E]."""
    sums = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, rows, values)
    inv = sums.pow(-0.5)
    inv = torch.where(torch.isinf(inv), torch.zeros_like(inv), inv)
    return values * inv[rows] * inv[cols]


def edge_spmm(rows: Tensor, cols: Tensor, values: Tensor, x: Tensor) -> Tensor:
    """``W @ x`` [n, d] for W given as an edge list (duplicates add up), differentiable in both
    ``values`` [E] and ``x`` [n, d]. Memory O(E · d): for graphs rebuilt every step."""
    messages = values.unsqueeze(1) * x[cols]
    return torch.zeros_like(x).index_add(0, rows, messages)


def edges_to_csr(rows: Tensor, cols: Tensor, values: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """A constant edge list as CSR matrices ``(W, Wᵀ)`` [n, n] for :func:`spmm`."""
    coo = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), values.detach(), (n, n), check_invariants=False
    ).coalesce()
    return to_csr(coo), to_csr(coo.t())


def pairs_adjacency(users: Tensor, items: Tensor, n_users: int, n_items: int) -> Tensor:
    """``D^{-1/2} A D^{-1/2}`` (CSR, [(U+I), (U+I)]) of the given (user, item) pairs, degrees
    counted over these pairs only (+1e-7): the graph of an augmented view (SGL)."""
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    return to_csr(sym_norm_adj(rows, cols, n_users + n_items))


def edge_dropout(
    users: Tensor,
    items: Tensor,
    n_users: int,
    n_items: int,
    drop: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SGL's edge dropout: a uniform sample of ``int(E · (1 − drop))`` train edges, renormalised
    (:func:`pairs_adjacency`)."""
    keep = torch.randperm(users.shape[0], generator=generator)[: int(users.shape[0] * (1 - drop))]
    return pairs_adjacency(users[keep], items[keep], n_users, n_items)


def node_dropout(
    users: Tensor,
    items: Tensor,
    n_users: int,
    n_items: int,
    drop: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SGL's node dropout: ``int(U · drop)`` users and ``int(I · drop)`` items removed with all
    their edges, the rest renormalised (:func:`pairs_adjacency`)."""
    gone_u = torch.randperm(n_users, generator=generator)[: int(n_users * drop)]
    gone_i = torch.randperm(n_items, generator=generator)[: int(n_items * drop)]
    alive_u = torch.ones(n_users, dtype=torch.bool)
    alive_u[gone_u] = False
    alive_i = torch.ones(n_items, dtype=torch.bool)
    alive_i[gone_i] = False
    keep = alive_u[users] & alive_i[items]
    return pairs_adjacency(users[keep], items[keep], n_users, n_items)


def segment_softmax(scores: Tensor, index: Tensor, n: int) -> Tensor:
    """Softmax of edge scores [E] within each group of equal ``index`` [E] (n groups):
    ``exp(s_e − max_g) / (Σ_{e'∈g} exp(s_e' − max_g) + 1e-16)`` (torch_geometric's ``softmax``,
    with ``scatter_reduce``/``index_add`` instead of torch_scatter). Differentiable in ``scores``."""
    top = torch.full((n,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, index, scores.detach(), reduce="amax", include_self=True)
    ex = (scores - top[index]).exp()
    sums = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add(0, index, ex)
    return ex / (sums[index] + 1e-16)


class EdgeGraph(torch.nn.Module):
    """A fixed bipartite edge list (rows [E] into [0, n_rows), cols [E] into [0, n_cols), no
    duplicates) whose edge values change every step (attention, learned weights).

    ``mm(values, x)`` is ``W @ x`` and ``mm_t(values, x)`` is ``Wᵀ @ x`` for W [n_rows, n_cols]
    with ``W[rows_e, cols_e] = values_e``, differentiable in both ``values`` [E] and ``x``. They run
    as CSR products (both orientations' orders precomputed), so no [E, d] message tensor is built in
    the forward pass; the backward needs one for the value gradient ``Σ_k g[r_e, k] x[c_e, k]``.
    Equal to :func:`edge_spmm` on the same edges.
    """

    def __init__(self, rows: Tensor, cols: Tensor, n_rows: int, n_cols: int) -> None:
        super().__init__()
        self.n_rows, self.n_cols = n_rows, n_cols
        self.register_buffer("rows", rows.clone(), persistent=False)
        self.register_buffer("cols", cols.clone(), persistent=False)
        for tag, major, minor, n_major, n_minor in (
            ("", rows, cols, n_rows, n_cols),
            ("_t", cols, rows, n_cols, n_rows),
        ):
            order = torch.argsort(major * n_minor + minor)
            dtype = index_dtype(len(rows), n_rows, n_cols)
            crow = torch.zeros(n_major + 1, dtype=dtype)
            crow[1:] = torch.cumsum(torch.bincount(major, minlength=n_major), 0)
            self.register_buffer(f"order{tag}", order, persistent=False)
            self.register_buffer(f"crow{tag}", crow, persistent=False)
            self.register_buffer(f"minor{tag}", minor[order].to(dtype), persistent=False)

    def csr(self, values: Tensor, transpose: bool = False) -> Tensor:
        """W [n_rows, n_cols] (or Wᵀ) with the given edge values [E], in CSR layout."""
        tag = "_t" if transpose else ""
        shape = (self.n_cols, self.n_rows) if transpose else (self.n_rows, self.n_cols)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                getattr(self, f"crow{tag}"),
                getattr(self, f"minor{tag}"),
                values[getattr(self, f"order{tag}")],
                shape,
                check_invariants=False,
            )

    def pair_dots(self, a: Tensor, b: Tensor) -> Tensor:
        """Per-edge ``a[rows_e] · b[cols_e]`` [E] (no gradient; see :meth:`dot`)."""
        return (a.index_select(0, self.rows) * b.index_select(0, self.cols)).sum(1)

    def dot(self, a: Tensor, b: Tensor) -> Tensor:
        """Per-edge scores ``a[rows_e] · b[cols_e]`` [E] for a [n_rows, d], b [n_cols, d]; the
        backward runs as two CSR products (``W(g) @ b``, ``W(g)ᵀ @ a``)."""
        return _EdgeDot.apply(a, b, self)

    def mm(self, values: Tensor, x: Tensor) -> Tensor:
        """``W @ x`` [n_rows, d] for x [n_cols, d]."""
        return _EdgeMM.apply(values, x, self, False)

    def mm_t(self, values: Tensor, x: Tensor) -> Tensor:
        """``Wᵀ @ x`` [n_cols, d] for x [n_rows, d]."""
        return _EdgeMM.apply(values, x, self, True)


class _EdgeMM(torch.autograd.Function):
    """``W(values) @ x`` (or ``Wᵀ @ x``) over an :class:`EdgeGraph`, with an explicit backward."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        values: Tensor,
        x: Tensor,
        graph: EdgeGraph,
        transpose: bool,
    ) -> Tensor:
        ctx.save_for_backward(values, x)
        ctx.graph, ctx.transpose = graph, transpose
        return graph.csr(values, transpose) @ x

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None, None]:
        values, x = ctx.saved_tensors
        graph, transpose = ctx.graph, ctx.transpose
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_values = graph.pair_dots(x, grad) if transpose else graph.pair_dots(grad, x)
        if ctx.needs_input_grad[1]:
            grad_x = graph.csr(values, not transpose) @ grad
        return grad_values, grad_x, None, None


class _EdgeDot(torch.autograd.Function):
    """Per-edge dot products over an :class:`EdgeGraph` (an SDDMM) with a CSR backward."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, a: Tensor, b: Tensor, graph: EdgeGraph
    ) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.graph = graph
        return graph.pair_dots(a, b)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None]:
        a, b = ctx.saved_tensors
        graph = ctx.graph
        grad_a = graph.csr(grad) @ b if ctx.needs_input_grad[0] else None
        grad_b = graph.csr(grad, transpose=True) @ a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None
