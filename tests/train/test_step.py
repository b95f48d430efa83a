"""The training step's discipline (docs/design.md §5): host-computed batch groups, the shared
batch view, no host synchronisation inside the plug-in, and the optional torch.compile path."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.profiler import profile

from crossrec.align import build_plugin
from crossrec.align.compiled import CompiledOrEager
from crossrec.data.formats import load_mmrec
from crossrec.data.groups import Groups, sorted_union
from crossrec.data.neighbors import item_neighbors
from crossrec.data.sampler import Batch, TrainSampler
from crossrec.models import DataSpec, Encoded
from crossrec.models.base import BackboneInfo
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"
SYNC_OPS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2", "aten::item"}


def _data():
    data = load_mmrec(TINY)
    arrays, _ = item_neighbors(data.train.users, data.train.items, data.n_users, data.n_items, [3])
    return dataclasses.replace(data, neighbors=arrays)


@pytest.mark.parametrize("scale", [1, 1000])  # small range: bincount; large: np.unique
def test_host_groups_equal_torch_unique(scale) -> None:
    values = np.array([5, 2, 5, 9, 2, 2, 0], dtype=np.int64) * scale
    host, dev = Groups.of_numpy(values), Groups.of(torch.from_numpy(values))
    for a, b in zip(dataclasses.astuple(host), dataclasses.astuple(dev), strict=True):
        assert torch.equal(a, b)
    assert len(host) == 4 and host.rows == 7
    torch.testing.assert_close(host.ids[host.inverse], torch.from_numpy(values))
    x = torch.arange(14.0).reshape(7, 2)
    torch.testing.assert_close(host.mean(x, dim=0)[1], x[[1, 4, 5]].mean(0))  # the value 2


def test_sorted_union_is_unique_and_searchsorted() -> None:
    rng = np.random.default_rng(0)
    ids, nb = np.unique(rng.integers(0, 50, 30)), rng.integers(0, 50, (12, 3))
    rows, rank = sorted_union(50, ids, nb)
    expected = np.unique(np.concatenate([ids, nb.ravel()]))
    assert np.array_equal(rows, expected)
    assert np.array_equal(rank[ids], np.searchsorted(expected, ids))
    assert np.array_equal(rank[nb], np.searchsorted(expected, nb))


def test_sampler_batches_carry_their_groups() -> None:
    data = _data()
    sampler = TrainSampler(data.train.users, data.train.items, data.n_items, 32, 0)
    for batch in sampler.epoch():
        for groups, column in ((batch.user_groups, batch.users), (batch.pos_groups, batch.pos)):
            expected = Groups.of(column)
            assert torch.equal(groups.ids, expected.ids)
            assert torch.equal(groups.inverse, expected.inverse)
            assert torch.equal(groups.counts, expected.counts)
        moved = batch.to("cpu")
        assert moved.pos_groups is not None and torch.equal(moved.pos_groups.ids, expected.ids)


def test_plugin_same_terms_with_and_without_host_groups() -> None:
    data = _data()
    spec = DataSpec.from_data(data)
    sampler = TrainSampler(data.train.users, data.train.items, data.n_items, 64, 0)
    batch = next(iter(sampler.epoch()))
    bare = Batch(batch.users, batch.pos, batch.neg)  # groups computed by torch.unique
    plug = build_plugin("cross", spec, BackboneInfo(8, 8), {"cla_prototypes": 16})
    g = torch.Generator().manual_seed(0)
    enc = Encoded(
        user=torch.randn(spec.n_users, 8, generator=g),
        item=torch.randn(spec.n_items, 8, generator=g),
    )
    # CLA renormalises its codebooks in place at every forward, which can move their last bits
    # again: each call starts from its own copy of the same state
    twin = copy.deepcopy(plug)
    with_groups, without = plug.loss(enc, batch), twin.loss(enc, bare)
    assert set(with_groups) == {"ila", "dt", "cla", "cna", "cna_reg"}
    for key, value in with_groups.items():
        assert torch.equal(value, without[key]), key


def _trainer(tmp_path: Path, **train) -> Trainer:
    run = RunSpec(
        dataset="tiny",
        backbone="lightgcn",
        plugin="cross",
        plugin_params={"cla_prototypes": 16},
        train=TrainConfig(epochs=2, batch_size=64, topk=(5, 10), valid_metric="recall@10", **train),
    )
    return Trainer(run, _data(), tmp_path, log=lambda line: None)


def test_no_host_synchronisation_inside_the_plugin(tmp_path: Path) -> None:
    t = _trainer(tmp_path)
    batches = list(t.sampler.epoch())
    t.step(batches[0])
    with profile() as prof:
        t.step(batches[1])
    inside = []
    for event in prof.events():
        parent = event.cpu_parent
        while parent is not None and parent.name != "crossrec::plugin":
            parent = parent.cpu_parent
        if parent is not None:
            inside.append(event.name)
    assert inside, "the plug-in region was not recorded"
    assert not SYNC_OPS & set(inside), sorted(SYNC_OPS & set(inside))


def test_compile_falls_back_to_eager_with_one_line(monkeypatch) -> None:
    def broken(fn, **kwargs):
        def fail(*args):
            raise RuntimeError("no compiler here\nsecond line")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    lines: list[str] = []
    wrapped = CompiledOrEager(lambda x: x + 1, "plugin cross", lines.append)
    assert wrapped(1) == 2 and wrapped(2) == 3
    assert wrapped.state == "eager"
    assert lines == ["plugin cross: torch.compile failed (RuntimeError: no compiler here); eager"]


def test_compile_after_success_raises_model_errors(monkeypatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    calls = []

    def fn(x):
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return x

    wrapped = CompiledOrEager(fn, "plugin cross", lambda line: None)
    assert wrapped(1) == 1 and wrapped.state == "compiled"
    with pytest.raises(ValueError, match="negative"):
        wrapped(-1)


def test_train_compile_switch_reaches_the_plugin(tmp_path: Path, monkeypatch) -> None:
    seen = []

    def fake_compile(fn, **kwargs):
        seen.append(kwargs)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    eager = _trainer(tmp_path / "a").fit(progress=False)
    compiled_trainer = _trainer(tmp_path / "b", compile=True)
    assert isinstance(compiled_trainer.plugin.terms, CompiledOrEager)
    assert seen == [{"dynamic": False}]  # bucketed sizes (crossrec.align.buckets)
    assert compiled_trainer.fit(progress=False)["test"] == eager["test"]


@pytest.mark.parametrize("plugin", ["cross", "fettle"])
def test_prepared_batches_read_only_the_rows_they_need(plugin: str) -> None:
    data = _data()
    spec = DataSpec.from_data(data)
    sampler = TrainSampler(data.train.users, data.train.items, data.n_items, 16, 0)
    batch = next(iter(sampler.epoch()))
    plug = build_plugin(plugin, spec, BackboneInfo(8, 8), {"cla_prototypes": 16})
    prepared = plug.prepare(batch)
    rows = prepared.extra["align_rows"]
    ids = batch.pos_groups.ids
    assert torch.equal(rows[prepared.extra["align_pos"]], ids)
    if plugin == "cross":  # the neighbours' rows are there too, and nothing else
        nb = plug.cna.neighbors[ids]
        assert torch.equal(rows[prepared.extra["align_nb"]], nb)
        assert torch.equal(rows, torch.unique(torch.cat([ids, nb.flatten()])))
        assert len(rows) < data.n_items
    else:
        assert torch.equal(rows, ids)
    g = torch.Generator().manual_seed(1)
    enc = Encoded(
        user=torch.randn(spec.n_users, 8, generator=g),
        item=torch.randn(spec.n_items, 8, generator=g),
    )
    full, restricted = plug.loss(enc, batch), plug.loss(enc, prepared)
    assert set(full) == set(restricted)
    for key in full:
        torch.testing.assert_close(restricted[key], full[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("plugin", ["cross", "fettle"])
@pytest.mark.parametrize("batch_size", [16, 64])
def test_bucketed_terms_equal_the_unpadded_ones(plugin: str, batch_size: int) -> None:
    """The compiled step's padding (crossrec.align.buckets) is neutral: every term, ILA's
    statistics and every gradient as without padding (values 1e-6, gradients 1e-5, fp32)."""
    from crossrec.align.buckets import bucket

    data = _data()
    spec = DataSpec.from_data(data)
    sampler = TrainSampler(data.train.users, data.train.items, data.n_items, batch_size, 0)
    for batch in list(sampler.epoch())[:3]:
        g = torch.Generator().manual_seed(1)
        user = torch.randn(spec.n_users, 8, generator=g, requires_grad=True)
        item = torch.randn(spec.n_items, 8, generator=g, requires_grad=True)
        plug = build_plugin(plugin, spec, BackboneInfo(8, 8), {"cla_prototypes": 16})
        padded = copy.deepcopy(plug)
        padded.bucketed = True
        if padded.ila is not None:
            padded.ila.padded = True
        prepared = plug.prepare(batch)
        assert bucket(len(prepared.pos_groups)) > len(prepared.pos_groups) or True
        results = []
        for p in (plug, padded):
            p.stats.clear() if hasattr(p, "stats") and isinstance(p.stats, dict) else None
            terms = p.loss(Encoded(user=user, item=item), prepared)
            total = sum(terms.values())
            grads = torch.autograd.grad(total, [user, item, *p.parameters()], allow_unused=True)
            results.append((terms, grads))
        (a, ga), (b, gb) = results
        assert set(a) == set(b)
        for key in a:
            assert torch.allclose(a[key], b[key], rtol=1e-6, atol=1e-6), (key, a[key], b[key])
        for x, y in zip(ga, gb, strict=True):
            if x is None or y is None:
                assert x is None and y is None
                continue
            assert torch.allclose(x, y, rtol=1e-5, atol=1e-5), (x - y).abs().max()


@pytest.mark.slow  # over 10 s: left out of the quick subset
@pytest.mark.parametrize("shape", ["ml100k", "baby"])
def test_compiled_step_is_not_recompiled_after_the_first_epoch(
    tmp_path: Path, monkeypatch, shape: str
) -> None:
    """train.compile on a dataset's shape (batch 2048): Dynamo compiles a handful of graphs of
    the plug-in's losses during the first epoch (one per batch size and bucket combination) and
    none in the second. The losses are called as the trainer's step calls them (prepared
    batches, ``plugin.loss``) on fixed embeddings: recompilation depends on the shapes, not on
    the values. Dynamo's guards decide it whatever the backend; the ``eager`` backend spares
    the test the C++ compile of each graph."""
    import functools

    from torch._dynamo.utils import counters

    from crossrec.data.sources.folder import prepare_folder
    from crossrec.data.synthetic import write_synthetic

    write_synthetic(tmp_path / "raw", shape, shape, 0)
    prepare_folder(tmp_path / "raw", tmp_path / "data", shape, neighbor_ks=[3])
    data = load_mmrec(tmp_path / "data")
    spec = DataSpec.from_data(data)
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()
    counters.clear()
    plug = build_plugin("cross", spec, BackboneInfo(64, 64), {"cla_prototypes": 16})
    plug.compile_losses(lambda line: None)
    g = torch.Generator().manual_seed(0)
    enc = Encoded(
        user=torch.randn(spec.n_users, 64, generator=g, requires_grad=True),
        item=torch.randn(spec.n_items, 64, generator=g, requires_grad=True),
    )
    sampler = TrainSampler(data.train.users, data.train.items, data.n_items, 2048, 0)
    graphs = []
    for _ in range(2):
        for batch in sampler.epoch():
            plug.loss(enc, plug.prepare(batch))
        graphs.append(counters["stats"]["unique_graphs"])
    assert 1 <= graphs[0] <= 8, graphs  # a handful
    assert graphs[1] == graphs[0]  # 0 recompilations after the warm-up
    assert plug.terms.state == "compiled"
