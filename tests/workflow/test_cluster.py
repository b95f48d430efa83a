"""The SLURM helpers' parsing and decisions (crossrec.cluster) and a prepare job's sized
limits (crossrec.costs.prepare); the real cluster's behaviour is tests/workflow/test_slurm_real.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossrec import cluster
from crossrec.cluster import Node, check_request, gres_of, minutes_of
from crossrec.costs.prepare import measured, prepare_limits
from crossrec.errors import ConfigError

KEYS = {"partition": "resources.cpu_partition", "cpus": "resources.prepare_threads",
        "mem": "resources.prepare_mem_mb", "time": "resources.prepare_runtime",
        "gres": "resources.gpu_gres"}  # fmt: skip


def test_time_limits_and_gres_as_sinfo_prints_them() -> None:
    assert minutes_of("infinite") is None and minutes_of("UNLIMITED") is None
    assert minutes_of("1-02:00:00") == 1560 and minutes_of("2:00:00") == 120
    assert minutes_of("30:00") == 30 and minutes_of("45") == 45 and minutes_of("0:30:30") == 31
    assert gres_of("gpu:1,shard:4") == {"gpu": 1, "shard": 4}
    assert gres_of("gpu:a100:4(S:0-1)") == {"gpu": 4} and gres_of("(null)") == {}


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = (Node(2, 20000, {}, 60), Node(8, 4000, {"gpu": 1, "shard": 4}, 60))
    monkeypatch.setattr(cluster, "partition_nodes", lambda p: nodes if p == "cpu" else ())


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        ((10, 1000, 10, None), "resources.prepare_threads: rule prepare asks for 10 CPUs; the "
                               "largest node of partition cpu has 8"),
        ((1, 30000, 10, None), "resources.prepare_mem_mb: rule prepare asks for 30000 MB"),
        ((1, 1000, 90, None), "resources.prepare_runtime: rule prepare asks for 90 minutes; "
                              "partition cpu allows 60"),
        ((1, 1000, 10, "gpu:2"), "resources.gpu_gres: rule prepare asks for gres gpu:2"),
        ((8, 20000, 10, None), "no single node of partition cpu has them all"),
    ],
)  # fmt: skip
def test_a_request_no_node_can_run_is_named(two_nodes: None, request_, needle: str) -> None:
    cpus, mem, minutes, gres = request_
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        check_request("prepare", "cpu", cpus, mem, minutes, gres, KEYS)


def test_requests_some_node_can_run_pass(two_nodes: None) -> None:
    check_request("prepare", "cpu", 2, 20000, 60, None, KEYS)
    check_request("prepare", "cpu", 8, 4000, 60, "shard:1", KEYS)
    with pytest.raises(ConfigError, match="resources.cpu_partition: rule prepare asks for SLURM "
                                          "partition 'gpu', which sinfo does not list"):  # fmt: skip
        check_request("prepare", "gpu", 1, 100, 1, None, KEYS)


def test_prepare_limits_follow_the_measurements(tmp_path: Path) -> None:
    """Each published shape's measured peak × 1.5 (rounded up to 500 MB, at least 1,000) and
    time × 3 (at least 10 minutes); a folder by its size; an unknown source: the largest."""
    rows = measured()
    clothing = rows["clothing"]
    assert prepare_limits("clothing", {"source": "amazon"})[0] >= clothing["peak_mb"] * 1.5
    assert prepare_limits("clothing", {"source": "amazon"})[0] < clothing["peak_mb"] * 1.5 + 500
    assert prepare_limits("ml100k", {"source": "ml100k"})[0] < prepare_limits(
        "clothing", {"source": "amazon"})[0]  # fmt: skip
    assert prepare_limits("x", {"source": "other"}) == prepare_limits(
        "clothing", {"source": "amazon"})  # fmt: skip
    small = tmp_path / "small"
    small.mkdir()
    (small / "d.inter").write_bytes(b"0" * 1000)
    big = tmp_path / "big"
    big.mkdir()
    (big / "image_feat.npy").write_bytes(b"0" * (800 << 20))  # 800 MB of features
    assert prepare_limits("d", {"source": "folder", "path": str(small)}) == (1000, 10)
    assert prepare_limits("d", {"source": "folder", "path": str(big)})[0] > 3000
