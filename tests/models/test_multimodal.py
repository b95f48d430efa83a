"""FREEDOM and its graph pieces: kNN graphs vs brute force, degree-sensitive pruning, the model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from crossrec.data.formats import load_mmrec
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import ConfigError, DataError
from crossrec.graph import knn_adjacency, knn_neighbors, prune_edges
from crossrec.models import DataSpec, build_backbone

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"


def test_knn_equals_brute_force() -> None:
    feats = torch.randn(37, 6, generator=torch.Generator().manual_seed(0))
    got = knn_neighbors(feats, 5, block=8)  # several blocks
    unit = feats / feats.norm(dim=1, keepdim=True)
    sim = unit @ unit.T
    for i in range(37):
        expected = sorted(range(37), key=lambda j: -float(sim[i, j]))[:5]
        assert got[i].tolist() == expected
    assert (got[:, 0] == torch.arange(37)).all()  # self is the nearest


def test_knn_adjacency_values() -> None:
    adj = knn_adjacency(torch.tensor([[0, 1], [1, 2], [2, 0]])).to_dense()
    assert torch.allclose(adj.sum(1), torch.ones(3), atol=1e-6)  # every value ≈ 1/k
    assert adj[0, 1].item() == pytest.approx(0.5, rel=1e-6) and adj[0, 2] == 0


def test_pruning_keeps_the_fraction_and_favours_low_degree() -> None:
    # user 0 has 50 items (high degree), users 1..50 one item each (low degree).
    users = torch.cat([torch.zeros(50, dtype=torch.long), torch.arange(1, 51)])
    items = torch.cat([torch.arange(50), torch.arange(50)])
    kept_hub = 0
    for seed in range(20):
        adj = prune_edges(
            users, items, 51, 50, keep=0.2, generator=torch.Generator().manual_seed(seed)
        ).to_dense()
        assert (adj != 0).sum().item() == 2 * 20  # int(100 * 0.2) edges, both directions
        assert torch.allclose(adj, adj.T)
        kept_hub += int((adj[0] != 0).sum())
    # hub edges weigh 1/sqrt(50·2), leaf edges 1/sqrt(1·2): far fewer hub edges survive
    assert kept_hub / 20 < 20 * 0.5


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> DataSpec:
    out = tmp_path_factory.mktemp("p") / "tiny"
    prepare_folder(TINY, out, "tiny", neighbor_ks=[3], knn_ks=[4])
    return DataSpec.from_data(load_mmrec(out))


def test_prepare_writes_keyed_knn_files(spec: DataSpec, tmp_path: Path) -> None:
    assert set(spec.item_knn) == {("image", 4), ("text", 4)}
    out = tmp_path / "t"
    prepare_folder(TINY, out, "t", knn_ks=[4])
    (knn,) = out.glob("knn_text_k4_*.npy")
    np.save(out / "text_feat.npy", np.load(out / "text_feat.npy") * 2)  # features changed
    with pytest.raises(DataError, match="stale: built from another text_feat.npy"):
        load_mmrec(out)
    assert knn.exists()


def test_freedom_forward_loss_and_modal_outputs(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("freedom", spec, {"knn_k": 4, "reg_weight": 1e-3})
    assert model.info().modal == {"image": 64, "text": 64}
    model.train()
    model.on_epoch_start(0)
    enc = model.encode()
    assert set(enc.modal) == {"image", "text"} and enc.item.shape == (spec.n_items, 64)
    batch_u, batch_p, batch_n = torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 3])
    from crossrec.data.sampler import Batch

    terms = model.rec_loss(enc, Batch(batch_u, batch_p, batch_n))
    assert set(terms) == {"bpr", "modal_bpr"}
    sum(terms.values()).backward()
    assert model.features["image"].grad is not None  # trainable feature tables
    model.eval()
    with torch.no_grad():
        full = model.encode()
    assert full.modal == {}
    # evaluation uses the full graph: it does not depend on the pruned sample
    model.on_epoch_start(1)
    with torch.no_grad():
        again = model.encode()
    torch.testing.assert_close(full.item, again.item)


def test_freedom_needs_its_graph(spec: DataSpec) -> None:
    with pytest.raises(ConfigError, match=r"no knn_image_k10_\*.npy"):
        build_backbone("freedom", spec)
    with pytest.raises(ConfigError, match="unknown modality 'audio'"):
        build_backbone("freedom", spec, {"knn_k": 4, "mm_weights": {"audio": 1.0}})
    no_feat = dataclasses.replace(spec, features={})
    with pytest.raises(ConfigError, match="needs at least one item modality"):
        build_backbone("freedom", no_feat, {"knn_k": 4})


def test_freedom_item_graph_weights(spec: DataSpec) -> None:
    model = build_backbone("freedom", spec, {"knn_k": 4, "mm_weights": {"image": 0.1, "text": 0.9}})
    dense = model.mm_adj.to_dense()
    torch.testing.assert_close(dense.sum(1), torch.ones(spec.n_items), atol=1e-5, rtol=0)
    only_text = build_backbone("freedom", spec, {"knn_k": 4, "mm_weights": {"text": 1.0}})
    assert only_text.modalities == ["text"]


def test_vbpr_definition(spec: DataSpec) -> None:
    from crossrec.align import build_plugin
    from crossrec.data.sampler import Batch

    model = build_backbone("vbpr", spec, {"emb_size": 8, "reg_weight": 0.5})
    enc = model.encode()
    assert enc.user.shape == (spec.n_users, 16) and enc.item.shape == (spec.n_items, 16)
    assert model.frozen.joint.shape == (spec.n_items, 16 + 8)  # image ⊕ text, fixed
    assert all(p is not model.frozen.joint for p in model.parameters())
    torch.testing.assert_close(enc.item[:, :8], model.item_emb)
    batch = Batch(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 3]))
    terms = model.rec_loss(enc, batch)
    u, p, n = enc.user[:2], enc.item[:2], enc.item[2:4]
    torch.testing.assert_close(terms["reg"], 0.5 * (u.norm() + p.norm() + n.norm()) / 2)
    plug = build_plugin("fettle", spec, model.info(), {"cla_prototypes": 8})
    assert plug.inputs.heads["text"].out_features == 16  # per-modality heads of the item width
