"""SGL and DirectAU against their definitions; the view-graph operators."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import ConfigError
from crossrec.graph import edge_dropout, node_dropout, pairs_adjacency
from crossrec.models import DataSpec, build_backbone


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> DataSpec:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(Path(__file__).parents[1] / "fixtures" / "tiny", out, "tiny", [3], [10])
    return DataSpec.from_data(load_mmrec(out))


def _batch(spec: DataSpec, size: int):
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    return next(iter(TrainSampler(users, items, spec.n_items, size, 0).epoch()))


def _dense_sym(users, items, n_users, n_items):
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[users, items + n_users] = 1
    a[items + n_users, users] = 1
    d = (a.sum(1) + 1e-7).pow(-0.5)
    return d[:, None] * a * d[None, :]


def test_pairs_adjacency_matches_dense() -> None:
    users, items = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 2, 0])
    got = pairs_adjacency(users, items, 3, 3).to_dense()
    torch.testing.assert_close(got, _dense_sym(users, items, 3, 3))


def test_edge_dropout_keeps_the_fraction() -> None:
    users, items = torch.randint(0, 20, (500,)), torch.randint(0, 30, (500,))
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    adj = edge_dropout(pairs[0], pairs[1], 20, 30, 0.1, torch.Generator().manual_seed(0))
    nnz = int((adj.to_dense() != 0).sum())
    assert nnz == 2 * int(pairs.shape[1] * 0.9)
    torch.testing.assert_close(adj.to_dense(), adj.to_dense().T)


def test_node_dropout_removes_every_edge_of_a_dropped_node() -> None:
    users, items = torch.arange(10).repeat(3), torch.arange(30) % 7
    dense = node_dropout(users, items, 10, 7, 0.3, torch.Generator().manual_seed(1)).to_dense()
    deg = (dense != 0).sum(1)
    assert int((deg[:10] == 0).sum()) >= 3 and int((deg[10:] == 0).sum()) >= 2


def test_sgl_terms_follow_recbole(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("sgl", spec, {"ssl_weight": 0.5, "reg_weight": 0.1})
    model.train()
    model.on_epoch_start(0)
    batch = _batch(spec, 32)
    enc = model.encode()
    terms = model.rec_loss(enc, batch)
    assert set(terms) == {"bpr", "reg", "ssl"}
    u, p, n = enc.user[batch.users], enc.item[batch.pos], enc.item[batch.neg]
    torch.testing.assert_close(
        terms["bpr"], torch.sum(-F.logsigmoid((u * p).sum(1) - (u * n).sum(1)))
    )
    e, t = enc.extra, 0.5

    def recbole_nce(z1, z2, idx):
        a, b, c = F.normalize(z1[idx]), F.normalize(z2[idx]), F.normalize(z2)
        return -torch.log(torch.exp((a * b).sum(1) / t) / torch.exp(a @ c.T / t).sum(1)).sum()

    ssl = recbole_nce(e["view1_user"], e["view2_user"], batch.users) + recbole_nce(
        e["view1_item"], e["view2_item"], batch.pos
    )
    torch.testing.assert_close(terms["ssl"], 0.5 * ssl)
    first = [v[0].to_dense() for v in model.views]
    assert not torch.equal(first[0], first[1])  # two different views
    model.on_epoch_start(1)
    assert not torch.equal(first[0], model.views[0][0].to_dense())  # redrawn each epoch
    model.eval()
    assert "view1_user" not in model.encode().extra  # evaluation: the full graph only


def test_sgl_augmentations(spec: DataSpec) -> None:
    for aug in ("ND", "RW"):
        model = build_backbone("sgl", spec, {"aug": aug, "n_layers": 2})
        model.on_epoch_start(0)
        assert len(model.views[0]) == 2
    rw = model.views[0]
    assert not torch.equal(rw[0].to_dense(), rw[1].to_dense())  # RW: one graph per layer
    with pytest.raises(ConfigError, match="aug: 'XX' is not one of"):
        build_backbone("sgl", spec, {"aug": "XX"})


def test_directau_alignment_and_uniformity(spec: DataSpec) -> None:
    torch.manual_seed(0)
    batch = _batch(spec, 16)
    for encoder in ("mf", "lightgcn"):
        model = build_backbone("directau", spec, {"gamma": 2.0, "encoder": encoder})
        enc = model.encode()
        terms = model.rec_loss(enc, batch)
        u = F.normalize(enc.user[batch.users])
        i = F.normalize(enc.item[batch.pos])
        align = sum(((u[b] - i[b]) ** 2).sum() for b in range(16)) / 16

        def unif(x):
            vals = [
                torch.exp(-2 * ((x[a] - x[b]) ** 2).sum())
                for a in range(16)
                for b in range(a + 1, 16)
            ]
            return torch.log(torch.stack(vals).mean())

        torch.testing.assert_close(terms["align"], align)
        torch.testing.assert_close(terms["uniform"], 2.0 * (unif(u) + unif(i)) / 2)
    with pytest.raises(ConfigError, match="encoder: 'gcn' is not one of 'mf', 'lightgcn'"):
        build_backbone("directau", spec, {"encoder": "gcn"})
