"""GRCN and SLMRec against dense re-statements of their definitions; the edge-valued graph
operators they run on; SLMRec's backbone-level weight decay."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import ConfigError
from crossrec.graph import EdgeGraph, edge_spmm, segment_softmax
from crossrec.losses import in_batch_nce
from crossrec.models import DataSpec, build_backbone
from crossrec.models.slmrec import fac_levels
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(TINY, out, "tiny", [3], [10])
    return out


@pytest.fixture(scope="module")
def spec(prepared: Path) -> DataSpec:
    return DataSpec.from_data(load_mmrec(prepared))


def _batch(spec: DataSpec, size: int = 32):
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    return next(iter(TrainSampler(users, items, spec.n_items, size, 0).epoch()))


def _random_edges(n_rows: int, n_cols: int, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(n_rows * n_cols, generator=g)[:n]
    return flat // n_cols, flat % n_cols


def test_edge_graph_products_equal_edge_list_and_gradcheck() -> None:
    rows, cols = _random_edges(7, 5, 20, 0)
    graph = EdgeGraph(rows, cols, 7, 5)
    values = torch.randn(20, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(7, 5, dtype=torch.float64).index_put((rows, cols), values.detach())
    torch.testing.assert_close(graph.mm(values, x), dense @ x)
    torch.testing.assert_close(graph.mm_t(values, y), dense.T @ y)
    n = 12
    torch.testing.assert_close(
        graph.mm(values, x),
        edge_spmm(rows, cols + n, values, torch.cat([torch.zeros(n, 3).double(), x]))[:7],
    )
    torch.testing.assert_close(graph.dot(y, x), (y[rows] * x[cols]).sum(1))
    assert torch.autograd.gradcheck(graph.mm, (values, x))
    assert torch.autograd.gradcheck(graph.mm_t, (values, y))
    assert torch.autograd.gradcheck(graph.dot, (y, x))


def test_segment_softmax_equals_masked_dense_softmax() -> None:
    rows, cols = _random_edges(6, 4, 15, 1)
    scores = torch.randn(15, dtype=torch.float64) * 30  # large: needs the max shift
    got = segment_softmax(scores, cols, 4)
    dense = torch.full((6, 4), float("-inf"), dtype=torch.float64).index_put((rows, cols), scores)
    expected = torch.softmax(dense, dim=0).nan_to_num()[rows, cols]
    torch.testing.assert_close(got, expected)


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim).nan_to_num()


def _dense_grcn(model, spec: DataSpec) -> torch.Tensor:
    """GRCN's representation [(U+I), w] from dense matrices, following the module docstring."""
    nu, ni = spec.n_users, spec.n_items
    mask = torch.zeros(nu, ni, dtype=torch.bool)
    mask[spec.train_users, spec.train_items] = True
    contents, to_user, to_item = [], [], []
    for name in model.modalities:
        feats = F.normalize(F.leaky_relu(model.mlp[name](model.frozen[name])), dim=1)
        pref = F.normalize(model.preference[name], dim=1)
        if model.params.routing == "paper":
            for _ in range(model.params.n_routing):
                attn = _masked_softmax(pref @ feats.T, mask, dim=1)
                pref = F.normalize(pref + attn @ feats, dim=1)
        scores = pref @ feats.T
        a_user, a_item = _masked_softmax(scores, mask, 1), _masked_softmax(scores, mask, 0)
        contents.append(torch.cat([pref + a_user @ feats, feats + a_item.T @ pref]))
        to_user.append(a_user)
        to_item.append(a_item)
    conf = model.confidence
    w_item = torch.stack([a * conf[:nu, m : m + 1] for m, a in enumerate(to_item)]).amax(0)
    w_user = torch.stack([a * conf[nu:, m].unsqueeze(0) for m, a in enumerate(to_user)]).amax(0)
    w_item, w_user = w_item.relu() * mask, w_user.relu() * mask
    x = F.normalize(model.id_emb, dim=1)
    layers = [x]
    for _ in range(2):
        prev = layers[-1]
        layers.append(torch.cat([w_user @ prev[nu:], w_item.T @ prev[:nu]]))
    return torch.cat([layers[0] + layers[1] + layers[2], *contents], dim=1)


@pytest.mark.parametrize("routing", ["paper", "mmrec"])
def test_grcn_forward_follows_the_definition(spec: DataSpec, routing: str) -> None:
    torch.manual_seed(0)
    model = build_backbone("grcn", spec, {"routing": routing})
    enc = model.encode()
    expected = _dense_grcn(model, spec)
    torch.testing.assert_close(torch.cat([enc.user, enc.item]), expected, atol=1e-5, rtol=1e-5)
    assert model.info().item_dim == 64 + 64 * len(model.modalities) == enc.item.shape[1]
    assert not model.info().modal  # plug-ins add their own heads (concatenated representation)


def test_grcn_mmrec_routing_is_paper_routing_without_rounds(spec: DataSpec) -> None:
    torch.manual_seed(0)
    mmrec = build_backbone("grcn", spec, {"routing": "mmrec"})
    torch.manual_seed(0)
    none = build_backbone("grcn", spec, {"routing": "paper", "n_routing": 0})
    torch.manual_seed(0)
    paper = build_backbone("grcn", spec, {"routing": "paper"})
    torch.testing.assert_close(mmrec.encode().item, none.encode().item)
    assert not torch.allclose(mmrec.encode().user, paper.encode().user)


def test_grcn_loss_terms(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("grcn", spec, {"reg_weight": 0.5})
    enc, batch = model.encode(), _batch(spec)
    terms = model.rec_loss(enc, batch)
    u = enc.user[batch.users]
    diff = (u * enc.item[batch.pos]).sum(1) - (u * enc.item[batch.neg]).sum(1)
    torch.testing.assert_close(terms["bpr"], -torch.log(torch.sigmoid(diff)).mean())
    ids, nu = model.id_emb, spec.n_users
    items = torch.stack([batch.pos, batch.neg], 1).reshape(-1) + nu
    reg = (ids[batch.users.repeat_interleave(2)] ** 2 + ids[items] ** 2).mean()  # MMRec's form
    for name in model.modalities:
        reg = reg + (model.preference[name][batch.users] ** 2).mean()
    reg = reg + (model.preference[model.modalities[0]] ** 2).mean()
    torch.testing.assert_close(terms["reg"], 0.5 * reg)


def test_grcn_rejects_unknown_routing(spec: DataSpec) -> None:
    with pytest.raises(ConfigError, match="routing"):
        build_backbone("grcn", spec, {"routing": "both"})


def test_slmrec_forward_follows_the_definition(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("slmrec", spec, {"n_layers": 2})
    enc = model.encode()
    nu = spec.n_users
    adj = model.adj.to_dense()
    towers = []
    inputs = [model.item_emb] + [
        model.dense[m](F.normalize(spec.features[m], dim=1)) for m in model.modalities
    ]
    for items in inputs:
        e0 = torch.cat([model.user_emb, items])
        e1 = adj @ e0
        towers.append((e0 + e1 + adj @ e1) / 3)
    joint = torch.cat(towers, dim=1)
    torch.testing.assert_close(enc.user, model.user_out(joint[:nu]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc.item, model.item_out(joint[nu:]), atol=1e-5, rtol=1e-5)
    for m, tower in zip(model.modalities, towers[1:], strict=True):
        torch.testing.assert_close(enc.modal[m], tower[nu:], atol=1e-5, rtol=1e-5)


def test_slmrec_main_loss_and_fac_chain(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("slmrec", spec, {"ssl_alpha": 0.5, "ssl_temp": 0.3})
    assert model.modalities == ["image", "text"]
    assert fac_levels(model.modalities, True) == ["image", None, "text"]
    assert fac_levels(["a", "b", "c"], True) == ["a", "b", "c"]
    assert [layer.out_features for layer in model.chain] == [64, 64, 32]
    enc, batch = model.encode(), _batch(spec)
    terms = model.rec_loss(enc, batch)
    u = F.normalize(enc.user[batch.users], dim=1)
    p = F.normalize(enc.item[batch.pos], dim=1)
    logits = u @ p.T / 0.2
    torch.testing.assert_close(terms["nce"], F.cross_entropy(logits, torch.arange(len(u))))
    h = model.chain[0](enc.extra["id"][batch.pos])
    image = model.to_level["image"](enc.modal["image"][batch.pos])
    loss = in_batch_nce(h, image, 0.3)
    h = model.chain[2](model.chain[1](h))
    text = model.to_level["text"](enc.modal["text"][batch.pos])
    loss = loss + in_batch_nce(h, text, 0.3)
    torch.testing.assert_close(terms["ssl"], 0.5 * loss)


def test_slmrec_view_tasks(spec: DataSpec) -> None:
    batch = _batch(spec)
    torch.manual_seed(0)
    same = build_backbone("slmrec", spec, {"ssl_task": "fd", "dropout": 0.0, "ssl_alpha": 1.0})
    enc = same.encode()
    u = F.normalize(enc.user[batch.users], dim=1)
    i = F.normalize(enc.item[batch.pos], dim=1)
    expected = in_batch_nce(u, u, 0.1) + in_batch_nce(i, i, 0.1)  # identical views
    torch.testing.assert_close(same.rec_loss(enc, batch)["ssl"], expected, atol=1e-5, rtol=1e-5)
    for task in ("fd", "fm", "fd+fm"):
        torch.manual_seed(0)  # the same parameters as `same`; augmented views now differ
        model = build_backbone("slmrec", spec, {"ssl_task": task, "ssl_alpha": 1.0})
        terms = model.rec_loss(model.encode(), batch)
        assert torch.isfinite(terms["ssl"])
        assert not torch.allclose(terms["ssl"], expected.detach(), atol=1e-3)
        terms["ssl"].backward()
        assert model.dense["image"].weight.grad.abs().sum() > 0


def test_slmrec_weight_decay_reaches_only_the_backbone(prepared: Path, tmp_path: Path) -> None:
    run = RunSpec(
        dataset="tiny",
        backbone="slmrec",
        plugin="fettle",
        plugin_params={"cla_prototypes": 8},
        train=TrainConfig(epochs=1, topk=(5, 10, 20), weight_decay=0.0),
    )
    trainer = Trainer(run, load_mmrec(prepared), tmp_path, log=lambda line: None)
    groups = trainer.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert sum(p.numel() for p in groups[0]["params"]) == sum(
        p.numel() for p in trainer.backbone.parameters()
    )
    plain = RunSpec(
        dataset="tiny", backbone="bpr", train=TrainConfig(weight_decay=0.3, topk=(5, 10, 20))
    )
    trainer = Trainer(plain, load_mmrec(prepared), tmp_path / "bpr", log=lambda line: None)
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.3]
