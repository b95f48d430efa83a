"""The alignment plug-ins as the trainer sees them: composition, build-time errors, heads,
multi-modal backbones, presets, and the diagnostics logged to history.csv."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import Killed, kill_after_checkpoints

from crossrec.align import PLUGINS, build_plugin
from crossrec.align.presets import PRESETS
from crossrec.data.formats import load_mmrec
from crossrec.data.neighbors import item_neighbors
from crossrec.data.sampler import TrainSampler
from crossrec.errors import ConfigError
from crossrec.models import DataSpec, Encoded, build_backbone
from crossrec.models.base import BackboneInfo
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"


def _data(ks=(3,)):
    data = load_mmrec(TINY)
    arrays, _ = item_neighbors(
        data.train.users, data.train.items, data.n_users, data.n_items, list(ks)
    )
    return dataclasses.replace(data, neighbors=arrays)


@pytest.fixture(scope="module")
def spec() -> DataSpec:
    return DataSpec.from_data(_data())


def _batch(spec: DataSpec, size: int = 64):
    users, items = spec.train_users.numpy(), spec.train_items.numpy()
    return next(iter(TrainSampler(users, items, spec.n_items, size, 0).epoch()))


def test_presets_registered_with_their_components(spec: DataSpec) -> None:
    info = BackboneInfo(8, 8)
    expected = {
        "fettle": {"ila", "dt", "cla"},
        "cross": {"ila", "dt", "cla", "cna", "cna_reg"},
        "cross_no_ilda": {"cla", "cna", "cna_reg"},
        "cross_no_cla": {"ila", "dt", "cna", "cna_reg"},
        "cross_no_cna": {"ila", "dt", "cla"},
        "cross_no_dt": {"ila", "cla", "cna", "cna_reg"},
        "cross_oneway": {"ila", "dt", "cla", "cna", "cna_reg"},
        "cross_bidir": {"ila", "dt", "cla", "cna", "cna_reg"},
    }
    assert set(PRESETS) == set(expected) and {"none", "bm3"} <= set(PLUGINS)
    enc = Encoded(user=torch.randn(spec.n_users, 8), item=torch.randn(spec.n_items, 8))
    for name, terms in expected.items():
        plug = build_plugin(name, spec, info, {"cla_prototypes": 16})
        assert set(plug.loss(enc, _batch(spec))) == terms, name
    assert build_plugin("fettle", spec, info).params.ila_mask == "oneway"
    assert build_plugin("cross_bidir", spec, info).ila.mask == "all"
    assert build_plugin("cross", spec, info).params.cla_prototypes == 10240  # paper default


def test_weights_scale_terms(spec: DataSpec) -> None:
    info = BackboneInfo(8, 8)
    enc = Encoded(user=torch.randn(spec.n_users, 8), item=torch.randn(spec.n_items, 8))
    batch = _batch(spec)
    torch.manual_seed(0)
    a = build_plugin("cross", spec, info, {"cla_prototypes": 16})
    torch.manual_seed(0)
    b = build_plugin(
        "cross", spec, info, {"cla_prototypes": 16, "alpha": 2e-3, "beta": 3e-4, "gamma": 4e-3}
    )
    ta, tb = a.loss(enc, batch), b.loss(enc, batch)
    for term, ratio in (("ila", 2), ("dt", 2), ("cla", 3), ("cna", 4), ("cna_reg", 4)):
        torch.testing.assert_close(tb[term], ratio * ta[term])


def test_cf_backbone_gets_projection_heads(spec: DataSpec) -> None:
    backbone = build_backbone("lightgcn", spec)
    plug = build_plugin("fettle", spec, backbone.info(), {"cla_prototypes": 16})
    heads = plug.inputs.heads
    assert sorted(heads) == ["image", "text"]
    assert heads["image"].weight.shape == (64, 16) and heads["text"].bias.shape == (64,)
    assert torch.count_nonzero(heads["text"].bias) == 0


def test_multimodal_backbone_outputs_are_used(spec: DataSpec) -> None:
    info = BackboneInfo(8, 8, modal={"image": 8, "text": 8})
    plug = build_plugin("cross", spec, info, {"cla_prototypes": 16})
    assert len(plug.inputs.heads) == 0
    modal = {m: torch.randn(spec.n_items, 8, requires_grad=True) for m in ("image", "text")}
    enc = Encoded(user=torch.randn(spec.n_users, 8), item=torch.randn(spec.n_items, 8), modal=modal)
    sum(plug.loss(enc, _batch(spec)).values()).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in modal.values())


def test_build_time_errors(spec: DataSpec, tmp_path: Path) -> None:
    info = BackboneInfo(8, 8)
    no_nb = dataclasses.replace(spec, neighbors={})
    with pytest.raises(ConfigError, match=r"CNA needs neighbors_k3.npy .*found K = \[\]"):
        build_plugin("cross", no_nb, info)
    build_plugin("cross_no_cna", no_nb, info)  # CNA off: no neighbour file needed
    with pytest.raises(ConfigError, match="no item modality"):
        build_plugin("fettle", dataclasses.replace(spec, features={}), info)
    with pytest.raises(ConfigError, match="modality 'audio' is not among the dataset's features"):
        build_plugin("fettle", spec, info, {"modalities": ["audio"]})
    with pytest.raises(ConfigError, match="user .16. and item .8. embeddings differ"):
        build_plugin("bm3", spec, BackboneInfo(16, 8))
    with pytest.raises(ConfigError, match="ila_mask: .* is not one of"):
        build_plugin("cross", spec, info, {"ila_mask": "sideways"})
    with pytest.raises(ConfigError, match="unknown key"):
        build_plugin("cross", spec, info, {"lambda": 1})


def test_one_modality_subset(spec: DataSpec) -> None:
    plug = build_plugin(
        "fettle", spec, BackboneInfo(8, 8), {"modalities": ["text"], "cla_prototypes": 16}
    )
    assert plug.tables == ["id", "text"] and len(plug.ila.pairs) == 2


@pytest.mark.parametrize("backbone", ["bpr", "lightgcn"])
@pytest.mark.parametrize("plugin", ["fettle", "cross", "bm3"])
def test_trains_through_the_trainer(backbone: str, plugin: str, tmp_path: Path) -> None:
    params = {} if plugin == "bm3" else {"cla_prototypes": 16}
    run = RunSpec(
        dataset="tiny",
        backbone=backbone,
        plugin=plugin,
        plugin_params=params,
        train=TrainConfig(epochs=3, batch_size=64, topk=(5, 10, 20)),
    )
    m = Trainer(run, _data(), tmp_path, log=lambda line: None).fit(progress=False)
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert len(rows) == 3 and m["identity"]["plugin"] == plugin
    if plugin != "bm3":
        for key in (
            "ila",
            "cla",
            "stat_ila_active_dirs",
            "stat_score_mean_id",
            "stat_score_std_text",
            "stat_score_mean_image",
        ):
            assert key in rows[0], key
        assert 3 <= float(rows[0]["stat_ila_active_dirs"]) <= 6
    else:
        assert "bm3_ui" in rows[0] and "bm3_mm" in rows[0]


def test_resume_with_plugin_state(tmp_path: Path, monkeypatch) -> None:
    def run(out: Path) -> dict:
        spec_ = RunSpec(
            dataset="tiny",
            backbone="lightgcn",
            plugin="cross",
            plugin_params={"cla_prototypes": 16, "cna_reduction": "param_attn"},
            train=TrainConfig(epochs=4, batch_size=64, topk=(5, 10, 20)),
        )
        return Trainer(spec_, _data(), out, log=lambda line: None).fit(resume=True, progress=False)

    straight = run(tmp_path / "a")
    with monkeypatch.context() as patch:
        kill_after_checkpoints(patch, 2)
        with pytest.raises(Killed):
            run(tmp_path / "b")
    assert run(tmp_path / "b")["test"] == straight["test"]


def test_parameter_count_parity_with_the_reference_log() -> None:
    # NCL/Clothing FETTLE log: 5,617,026 parameters = vanilla NCL 3,994,880 + ILA (6·64·64 + 1)
    # + CLA (2·10240·64 + 1) + image head (4096·64 + 64) + text head (384·64 + 64).
    n_items = 4
    spec = DataSpec(
        n_users=3,
        n_items=n_items,
        train_users=torch.tensor([0, 1, 2]),
        train_items=torch.tensor([0, 1, 2]),
        features={"image": torch.zeros(n_items, 4096), "text": torch.zeros(n_items, 384)},
    )
    plug = build_plugin("fettle", spec, BackboneInfo(64, 64))
    assert sum(p.numel() for p in plug.parameters()) == 5_617_026 - 3_994_880
