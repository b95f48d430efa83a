"""NCL: InfoNCE against RecBole's formula, k-means backends, warm-up, the loss terms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import ConfigError
from crossrec.kmeans import faiss_available, kmeans, resolve_backend
from crossrec.losses import info_nce_sum
from crossrec.models import DataSpec, build_backbone


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> DataSpec:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(Path(__file__).parents[1] / "fixtures" / "tiny", out, "tiny", [3], [10])
    return DataSpec.from_data(load_mmrec(out))


def _recbole_nce(q: torch.Tensor, p: torch.Tensor, c: torch.Tensor, t: float) -> torch.Tensor:
    """RecBole's ssl_layer_loss / ProtoNCE_loss expression, verbatim in maths."""
    q, p, c = F.normalize(q), F.normalize(p), F.normalize(c)
    pos = torch.exp((q * p).sum(1) / t)
    ttl = torch.exp(q @ c.T / t).sum(1)
    return -torch.log(pos / ttl).sum()


def test_info_nce_matches_reference_values_and_gradients() -> None:
    torch.manual_seed(0)
    leaves = [torch.randn(6, 4, requires_grad=True) for _ in range(2)]
    cand = torch.randn(9, 4, requires_grad=True)
    ours = info_nce_sum(leaves[0], leaves[1], cand, 0.1)
    ref = _recbole_nce(leaves[0], leaves[1], cand, 0.1)
    torch.testing.assert_close(ours, ref)
    g_ours = torch.autograd.grad(ours, [*leaves, cand])
    g_ref = torch.autograd.grad(ref, [*leaves, cand])
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_info_nce_weights_equal_duplicated_rows() -> None:
    torch.manual_seed(1)
    q, p, c = torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 4)
    counts = torch.tensor([1, 3, 2])
    weighted = info_nce_sum(q, p, c, 0.2, counts.float())
    repeated = info_nce_sum(q.repeat_interleave(counts, 0), p.repeat_interleave(counts, 0), c, 0.2)
    torch.testing.assert_close(weighted, repeated)


def _blobs(n_per: int, k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, 8, generator=gen) * 5
    return (centers.repeat_interleave(n_per, 0) + torch.randn(k * n_per, 8, generator=gen)).float()


def test_torch_kmeans_is_deterministic_and_beats_random_assignment() -> None:
    x = _blobs(40, 6, 0)
    a, b = kmeans(x, 6, backend="torch"), kmeans(x, 6, backend="torch")
    assert torch.equal(a.assign, b.assign) and a.inertia == b.inertia
    assert a.centroids.shape == (6, 8) and a.assign.shape == (240,)
    random_centroids = x[torch.randperm(240)[:6]]
    d = torch.cdist(x, random_centroids).pow(2).min(1).values.sum()
    assert a.inertia < 0.5 * float(d)
    # inertia is the sum of squared distances to the assigned centroids
    assert a.inertia == pytest.approx(float((x - a.centroids[a.assign]).pow(2).sum()), rel=1e-4)


def test_kmeans_caps_k_at_the_number_of_rows() -> None:
    assert kmeans(torch.randn(5, 3), 100, backend="torch").centroids.shape == (5, 3)


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is a declared dependency")
def test_faiss_and_torch_give_comparable_inertia() -> None:
    for seed in range(3):
        x = _blobs(60, 10, seed)
        fa, to = kmeans(x, 10, backend="faiss"), kmeans(x, 10, backend="torch")
        assert fa.assign.dtype == to.assign.dtype == torch.int64
        # the fallback (k-means++ seeding) must be no worse than faiss (random seeding) by > 25 %
        assert to.inertia <= 1.25 * fa.inertia
        # and it is within 2x of the generating blobs' own inertia (unit noise: ~n·d)
        assert to.inertia < 2 * x.shape[0] * x.shape[1]


def test_backend_names_checked() -> None:
    with pytest.raises(ConfigError, match="kmeans backend 'sklearn'"):
        resolve_backend("sklearn")
    with pytest.raises(ConfigError, match="kmeans: 'x' is not one of 'auto', 'faiss', 'torch'"):
        build_backbone("ncl", DataSpec(2, 2, torch.tensor([0]), torch.tensor([1])), {"kmeans": "x"})


def _batch(spec: DataSpec, size: int):
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    return next(iter(TrainSampler(users, items, spec.n_items, size, 0).epoch()))


def test_ncl_layers_and_terms_follow_the_definition(spec: DataSpec) -> None:
    torch.manual_seed(0)
    params = {"n_layers": 3, "hyper_layers": 1, "warm_up": 1, "num_clusters": 4, "kmeans": "torch"}
    model = build_backbone("ncl", spec, {**params, "ssl_reg": 0.5, "proto_reg": 0.25})
    ego = torch.cat([model.user_emb, model.item_emb]).detach()
    a = model.adj.to_dense()
    layers = [ego]
    for _ in range(3):
        layers.append(a @ layers[-1])
    batch = _batch(spec, 32)
    model.on_epoch_start(0)  # warm-up: no prototypes
    enc = model.encode()
    torch.testing.assert_close(torch.cat([enc.user, enc.item]), torch.stack(layers).mean(0))
    terms = model.rec_loss(enc, batch)
    assert set(terms) == {"bpr", "reg", "ssl", "proto"} and float(terms["proto"]) == 0.0
    nu = spec.n_users
    ctx_u, ctx_i = layers[2][:nu], layers[2][nu:]
    ego_u, ego_i = ego[:nu], ego[nu:]
    u, i = batch.users, batch.pos
    ssl = _recbole_nce(ctx_u[u], ego_u[u], ego_u, 0.1) + _recbole_nce(
        ctx_i[i], ego_i[i], ego_i, 0.1
    )
    torch.testing.assert_close(terms["ssl"], 0.5 * ssl)

    model.on_epoch_start(1)  # after warm-up: E-step
    assert model.user_centroids.shape == (4, 64)
    torch.testing.assert_close(model.user_centroids.norm(dim=1), torch.ones(4))
    terms = model.rec_loss(model.encode(), batch)
    cu, ci = model.user_centroids, model.item_centroids
    proto = _recbole_nce(ego_u[u], cu[model.user_cluster[u]], cu, 0.1) + _recbole_nce(
        ego_i[i], ci[model.item_cluster[i]], ci, 0.1
    )
    torch.testing.assert_close(terms["proto"], 0.25 * proto)
    terms["proto"].backward()
    assert model.user_emb.grad is not None and model.user_emb.grad.abs().sum() > 0
