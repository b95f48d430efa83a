"""LATTICE: the sparse learned graph equals MMRec's dense computation; gradients; lr schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.data.sources.folder import prepare_folder
from crossrec.graph import row_norm_adjacency
from crossrec.models import DataSpec, build_backbone
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(Path(__file__).parents[1] / "fixtures" / "tiny", out, "tiny", [3], [4])
    return out


@pytest.fixture(scope="module")
def spec(prepared: Path) -> DataSpec:
    return DataSpec.from_data(load_mmrec(prepared))


def _dense_knn_laplacian(feats: torch.Tensor, k: int) -> torch.Tensor:
    """MMRec utils: build_sim → build_knn_neighbourhood → compute_normalized_laplacian (dense)."""
    unit = feats / feats.norm(dim=-1, keepdim=True)
    sim = unit @ unit.T
    val, ind = torch.topk(sim, k, dim=-1)
    adj = torch.zeros_like(sim).scatter_(-1, ind, val)
    d = adj.sum(-1).pow(-0.5)
    d[torch.isinf(d)] = 0.0
    return d[:, None] * adj * d[None, :]


def _dense_item_graph(model, k: int, lam: float) -> torch.Tensor:
    w = torch.softmax(model.modal_weight, 0)
    learned = sum(
        wm * _dense_sim_topk(model.proj[m](model.features[m]), k)
        for wm, m in zip(w, model.modalities, strict=True)
    )
    learned = _laplacian(learned)
    orig = sum(
        wm * _dense_knn_laplacian(model.spec.features[m], k)
        for wm, m in zip(w, model.modalities, strict=True)
    )
    return (1 - lam) * learned + lam * orig


def _dense_sim_topk(feats: torch.Tensor, k: int) -> torch.Tensor:
    unit = feats / feats.norm(dim=-1, keepdim=True)
    sim = unit @ unit.T
    val, ind = torch.topk(sim, k, dim=-1)
    return torch.zeros_like(sim).scatter_(-1, ind, val)


def _laplacian(adj: torch.Tensor) -> torch.Tensor:
    d = adj.sum(-1).pow(-0.5)
    d = torch.where(torch.isinf(d), torch.zeros_like(d), d)
    return d[:, None] * adj * d[None, :]


def test_sparse_item_graph_equals_dense_mmrec(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("lattice", spec, {"knn_k": 4, "lambda_coeff": 0.7})
    with torch.no_grad():
        model.modal_weight.copy_(torch.tensor([0.2, 0.9])[: len(model.modalities)])
    projected = {m: model.proj[m](model.features[m]) for m in model.modalities}
    s = model.item_graph(projected)
    n = spec.n_items
    sparse = torch.zeros(n, n).index_put_((s.rows, s.cols), s.values.detach(), accumulate=True)
    torch.testing.assert_close(sparse, _dense_item_graph(model, 4, 0.7).detach())


def test_learned_graph_gradient_only_on_the_rebuild_batch(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("lattice", spec, {"knn_k": 4, "reg_weight": 1e-3})
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    batch = next(iter(TrainSampler(users, items, spec.n_items, 32, 0).epoch()))
    model.train()
    model.on_epoch_start(0)
    for rebuild in (True, False):
        model.zero_grad()
        enc = model.encode()
        assert set(model.rec_loss(enc, batch)) == {"bpr", "reg"}
        sum(model.rec_loss(enc, batch).values()).backward()
        got = model.modal_weight.grad
        assert (got is not None and got.abs().sum() > 0) == rebuild
        assert model.item_emb.grad.abs().sum() > 0


def test_item_term_and_readout(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("lattice", spec, {"knn_k": 4, "n_ui_layers": 2})
    model.eval()
    with torch.no_grad():
        enc = model.encode()
        a = row_norm_adjacency(spec.train_users, spec.train_items, spec.n_users, spec.n_items)
        a = a.to_dense()
        torch.testing.assert_close(a.sum(1), torch.ones(a.shape[0]))  # D^-1 (A + I)
        ego = torch.cat([model.user_emb, model.item_emb])
        readout = (ego + a @ ego + a @ a @ ego) / 3
        h = _dense_item_graph(model, 4, 0.9) @ model.item_emb
        torch.testing.assert_close(enc.user, readout[: spec.n_users])
        torch.testing.assert_close(enc.item, readout[spec.n_users :] + F.normalize(h, dim=1))


def test_lr_schedule_reaches_the_optimizer(prepared: Path, tmp_path: Path) -> None:
    data = load_mmrec(prepared)
    run = RunSpec(
        dataset="tiny",
        backbone="lattice",
        backbone_params={"knn_k": 4, "lr_decay": 0.5, "lr_decay_every": 2},
        train=TrainConfig(epochs=1, lr=0.01, device="cpu", topk=(5, 10, 20)),
    )
    trainer = Trainer(run, data, tmp_path, log=lambda line: None)
    trainer.train_epoch(4)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**2)
