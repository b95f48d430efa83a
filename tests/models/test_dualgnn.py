"""DualGNN: the user co-occurrence graph, its per-epoch padding, the forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossrec.data.formats import load_mmrec
from crossrec.data.sources.folder import prepare_folder
from crossrec.data.user_graph import user_cooccurrence
from crossrec.errors import ConfigError
from crossrec.models import DataSpec, build_backbone
from crossrec.models.dualgnn import pad_user_graph

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> DataSpec:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(TINY, out, "tiny", [3], [10], user_graph=True)
    return DataSpec.from_data(load_mmrec(out))


def test_cooccurrence_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 12, 80), rng.integers(0, 9, 80)
    idx, cnt = user_cooccurrence(users, items, 12, 9, top=5)
    sets = [set(items[users == u]) for u in range(12)]
    for u in range(12):
        pairs = [(-len(sets[u] & sets[v]), v) for v in range(12) if v != u and sets[u] & sets[v]]
        expected = sorted(pairs)[:5]
        got = [(-c, v) for c, v in zip(cnt[u], idx[u], strict=True) if v >= 0]
        assert got == [(float(c), v) for c, v in expected]


def test_padding_repeats_existing_neighbours() -> None:
    idx = torch.tensor([[3, 1, 2, -1], [-1, -1, -1, -1], [0, 2, 1, 3]])
    cnt = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0] * 4, [4.0, 3.0, 2.0, 1.0]])
    nbrs, w = pad_user_graph(idx, cnt, 4, torch.Generator().manual_seed(0))
    assert nbrs[0, :3].tolist() == [3, 1, 2] and nbrs[0, 3].item() in {3, 1, 2}
    assert torch.allclose(w[0].sum(), torch.tensor(1.0)) and w[1].abs().sum() == 0
    torch.testing.assert_close(w[2], torch.softmax(cnt[2], 0))
    assert nbrs[2].tolist() == [0, 2, 1, 3]


def test_forward_follows_the_definition(spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_backbone("dualgnn", spec, {"k": 3})
    model.on_epoch_start(0)
    enc = model.encode()
    a = model.adj.to_dense()
    nu = spec.n_users
    reps = {}
    for name in model.modalities:
        items = model.mlp[name](model.frozen[name])
        x = F.normalize(torch.cat([model.preference[name], items]), dim=1)
        reps[name] = x + a @ x + a @ (a @ x)
    item = sum(r[nu:] for r in reps.values())
    user = sum(model.weight_u[:, j, 0:1] * reps[n][:nu] for j, n in enumerate(model.modalities))
    user = user + (model.nbr_weights.unsqueeze(2) * user[model.nbrs]).sum(1)
    torch.testing.assert_close(enc.item, item, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(enc.user, user, rtol=1e-4, atol=1e-5)
    assert set(enc.modal) == set(model.modalities)


def test_needs_the_user_graph(tmp_path: Path) -> None:
    prepare_folder(TINY, tmp_path / "plain", "tiny", [3], [10])
    spec = DataSpec.from_data(load_mmrec(tmp_path / "plain"))
    with pytest.raises(ConfigError, match="--user-graph"):
        build_backbone("dualgnn", spec)
