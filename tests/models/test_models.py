"""Graph operators and backbones; every backbone × plug-in pair takes one optimiser step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from crossrec.align import PLUGINS, build_plugin
from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import ConfigError
from crossrec.graph import EdgeGraph, index_dtype, norm_adjacency, propagate_mean, sym_spmm
from crossrec.models import BACKBONES, DataSpec, build_backbone
from crossrec.models.lightgcn import LightGCNParams
from crossrec.strict import from_dict


def test_norm_adjacency_matches_dense_formula() -> None:
    users = torch.tensor([0, 0, 1, 2, 2])
    items = torch.tensor([0, 1, 1, 2, 2])  # (2, 2) twice: counted once
    adj = norm_adjacency(users, items, n_users=4, n_items=3).to_dense()
    a = torch.zeros(7, 7)
    for u, i in {(0, 0), (0, 1), (1, 1), (2, 2)}:
        a[u, 4 + i] = a[4 + i, u] = 1
    d = (a.sum(1) + 1e-7).pow(-0.5)
    torch.testing.assert_close(adj, d[:, None] * a * d[None, :])
    assert adj[3].abs().sum() == 0  # isolated user 3


def test_sym_spmm_gradient_equals_dense() -> None:
    adj = norm_adjacency(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2, 2)
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(4, 3)
    (sym_spmm(adj, x) * w).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (adj.to_dense() @ x2 * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_csr_indices_are_int32_and_products_unchanged() -> None:
    """int32 CSR indices (what MKL's product takes without a conversion per call) give the
    same bits as the int64 form; EdgeGraph's precomputed orders too."""
    g = torch.Generator().manual_seed(0)
    users, items = (
        torch.randint(0, 50, (400,), generator=g),
        torch.randint(0, 40, (400,), generator=g),
    )
    adj = norm_adjacency(users, items, 50, 40)
    assert adj.crow_indices().dtype == adj.col_indices().dtype == torch.int32
    wide = torch.sparse_csr_tensor(
        adj.crow_indices().long(),
        adj.col_indices().long(),
        adj.values(),
        adj.shape,
        check_invariants=True,
    )
    x = torch.randn(90, 16, generator=g)
    assert torch.equal(adj @ x, wide @ x)
    edges = EdgeGraph(users, items, 50, 40)
    assert edges.csr(torch.ones(400)).crow_indices().dtype == torch.int32
    assert index_dtype(10, 2**31) == torch.int64


def test_propagate_mean_is_layer_average() -> None:
    adj = norm_adjacency(torch.tensor([0, 1]), torch.tensor([1, 0]), 2, 2)
    ego = torch.randn(4, 2)
    dense = adj.to_dense()
    expected = (ego + dense @ ego + dense @ dense @ ego) / 3
    torch.testing.assert_close(propagate_mean(adj, ego, 2), expected)


def _fields(plugin: str) -> set[str]:
    return {f.name for f in dataclasses.fields(PLUGINS[plugin].Params)}


def _first_batch(spec: DataSpec, size: int):
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    return next(iter(TrainSampler(users, items, spec.n_items, size, 0).epoch()))


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> DataSpec:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    tiny = Path(__file__).parents[1] / "fixtures" / "tiny"
    prepare_folder(tiny, out, "tiny", [3], [10], user_graph=True)
    return DataSpec.from_data(load_mmrec(out))


SMALL = {"cla_prototypes": 16}


@pytest.mark.parametrize("plugin", list(PLUGINS))
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_pair_takes_a_step(spec: DataSpec, backbone: str, plugin: str) -> None:
    torch.manual_seed(0)
    model = build_backbone(backbone, spec)
    hyper = SMALL if "cla_prototypes" in _fields(plugin) else {}
    plug = build_plugin(plugin, spec, model.info(), hyper)
    params = [*model.parameters(), *plug.parameters()]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=1e-2)
    batch = _first_batch(spec, 64)
    enc = model.encode()
    assert enc.user.shape[0] == spec.n_users and enc.item.shape[0] == spec.n_items
    terms = {**model.rec_loss(enc, batch), **plug.loss(enc, batch)}
    total = sum(terms.values())
    assert all(torch.isfinite(t) for t in terms.values())
    total.backward()
    opt.step()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, params, strict=True))
    assert all(torch.isfinite(p).all() for p in params)
    scores = model.score(model.encode(), torch.tensor([0, 1]))
    assert scores.shape == (2, spec.n_items)


def test_lightgcn_encode_matches_dense(spec: DataSpec) -> None:
    model = build_backbone("lightgcn", spec, {"n_layers": 3})
    enc = model.encode()
    a = model.adj.to_dense()
    ego = torch.cat([model.user_emb, model.item_emb])
    layers = [ego]
    for _ in range(3):
        layers.append(a @ layers[-1])
    out = torch.stack(layers).mean(0)
    torch.testing.assert_close(torch.cat([enc.user, enc.item]), out)


def test_bpr_reg_term_golden(spec: DataSpec) -> None:
    model = build_backbone("bpr", spec, {"reg_weight": 0.5})
    batch = _first_batch(spec, 8)
    enc = model.encode()
    u, p, n = enc.user[batch.users], enc.item[batch.pos], enc.item[batch.neg]
    expected = 0.5 * (u.norm() + p.norm() + n.norm()) / 8
    torch.testing.assert_close(model.rec_loss(enc, batch)["reg"], expected)


def test_strict_params() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(LightGCNParams, {"layers": 2}, "backbone lightgcn")
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(LightGCNParams, {"n_layers": 2.5}, "backbone lightgcn")
    assert from_dict(LightGCNParams, {"reg_weight": 1}, "x").reg_weight == 1.0
    with pytest.raises(ConfigError, match="unknown backbone .nope."):
        build_backbone("nope", None)
