"""K-means for NCL's prototype step: faiss when installed, a pure-torch Lloyd fallback otherwise.

Both return the same :class:`KMeansResult`. faiss (``faiss.Kmeans``, RecBole's choice) is the
default when importable; the torch path runs Lloyd's algorithm from a k-means++ initialisation (``niter``
iterations, empty clusters re-seeded from data points) with its own
seeded generator, so results are reproducible on a machine without faiss.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from crossrec.errors import ConfigError

BACKENDS = ("auto", "faiss", "torch")


@dataclass(frozen=True)
class KMeansResult:
    """Centroids float32 [k, d], assignment int64 [n] (nearest centroid), inertia
    ``Σ_n ||x_n − c_{a(n)}||²``."""

    centroids: Tensor
    assign: Tensor
    inertia: float


def faiss_available() -> bool:
    """Whether ``faiss`` can be imported."""
    return importlib.util.find_spec("faiss") is not None


def resolve_backend(backend: str) -> str:
    """``auto`` → ``faiss`` when installed, else ``torch``; unknown names are a ConfigError."""
    if backend not in BACKENDS:
        raise ConfigError(f"kmeans backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "faiss" if faiss_available() else "torch"
    if backend == "faiss" and not faiss_available():
        raise ConfigError("kmeans backend 'faiss' requested but faiss is not installed")
    return backend


def _assign(x: Tensor, centroids: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest centroid per row and its squared distance: ([n], [n])."""
    d2 = (x * x).sum(1, keepdim=True) - 2 * x @ centroids.T + (centroids * centroids).sum(1)
    dist, idx = d2.min(dim=1)
    return idx, dist.clamp_min(0)


def _kmeans_pp(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding: each next centroid drawn ∝ squared distance to the nearest chosen one."""
    n = x.shape[0]
    chosen = [int(torch.randint(n, (1,), generator=gen))]
    d2 = (x - x[chosen[0]]).pow(2).sum(1)
    for _ in range(1, k):
        weights = d2.cpu().double()
        if float(weights.sum()) <= 0:  # fewer distinct points than k
            nxt = int(torch.randint(n, (1,), generator=gen))
        else:
            nxt = int(torch.multinomial(weights, 1, generator=gen))
        chosen.append(nxt)
        d2 = torch.minimum(d2, (x - x[nxt]).pow(2).sum(1))
    return x[torch.tensor(chosen, device=x.device)].clone()


def kmeans_torch(x: Tensor, k: int, niter: int = 25, seed: int = 1234) -> KMeansResult:
    """Lloyd's k-means on float32 x [n, d] (any device); deterministic for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    centroids = _kmeans_pp(x, k, gen)
    for _ in range(niter):
        assign, _ = _assign(x, centroids)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = sums / counts.clamp_min(1).unsqueeze(1)
        if bool(empty.any()):
            refill = torch.randint(n, (int(empty.sum()),), generator=gen).to(x.device)
            centroids[empty] = x[refill]
    assign, dist = _assign(x, centroids)
    return KMeansResult(centroids, assign, float(dist.sum()))


def kmeans_faiss(x: Tensor, k: int, niter: int = 25, seed: int = 1234) -> KMeansResult:
    """``faiss.Kmeans`` on x [n, d] (computed on the CPU, results moved back to x's device)."""
    import faiss

    arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    km = faiss.Kmeans(
        arr.shape[1], k, niter=niter, seed=seed, verbose=False, min_points_per_centroid=1
    )
    km.train(arr)
    dist, idx = km.index.search(arr, 1)
    return KMeansResult(
        torch.from_numpy(km.centroids.copy()).to(x.device),
        torch.from_numpy(idx[:, 0].astype(np.int64)).to(x.device),
        float(dist.sum()),
    )


def kmeans(
    x: Tensor, k: int, backend: str = "auto", niter: int = 25, seed: int = 1234
) -> KMeansResult:
    """k-means of the rows of x [n, d] into ``min(k, n)`` clusters with the chosen backend."""
    k = min(k, x.shape[0])
    x = x.detach().float()
    if resolve_backend(backend) == "faiss":
        return kmeans_faiss(x, k, niter, seed)
    return kmeans_torch(x, k, niter, seed)
