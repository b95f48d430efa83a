"""Host → device batch transfer (crossrec.kernels.transfer): same tensors, one packed copy per dtype."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import Tensor

from crossrec.data.formats import load_mmrec
from crossrec.data.sources.folder import prepare_folder
from crossrec.kernels import transfer
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer


def _tensors() -> list[Tensor]:
    return [
        torch.arange(7),
        torch.tensor([[1.5, 2.0], [3.0, 4.25]]),
        torch.empty(0, dtype=torch.int64),
        torch.tensor(3, dtype=torch.int64),
        torch.arange(12).reshape(3, 4)[:, 1:],  # not contiguous
        torch.ones(3, dtype=torch.float32),
    ]


def _same(a: list[Tensor], b: list[Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert torch.equal(x.cpu(), y.cpu())


def test_packed_copy_returns_the_same_tensors() -> None:
    tensors = _tensors()
    moved = transfer.packed_copy(tensors, torch.device("cpu"), pin=False)
    _same(moved, tensors)
    # one buffer per dtype: the int64 views share a storage, the float32 views another
    storages = {t.untyped_storage().data_ptr() for t in moved if t.numel()}
    assert len(storages) == 2


def test_cpu_transfer_is_a_plain_move() -> None:
    tensors = _tensors()
    moved = transfer.to_device(tensors, "cpu")
    assert all(m is t for m, t in zip(moved, tensors, strict=True))  # .to(cpu) is the identity


def _train(data: Path, out: Path) -> pd.DataFrame:
    run = RunSpec(
        dataset="tiny",
        backbone="lightgcn",
        plugin="cross",
        seed=3,
        train=TrainConfig(epochs=2, batch_size=64, topk=(5, 10, 20)),
    )
    Trainer(run, load_mmrec(data), out, log=lambda line: None).fit(progress=False)
    history = pd.read_csv(out / "history.csv")
    return history.drop(columns=[c for c in history if c.endswith("seconds")])


def test_packed_batches_train_identically(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch (users, items, both groups, the plug-in's rows) rebuilt from packed buffers,
    as on CUDA: the same history, bit for bit, as batches moved tensor by tensor."""
    data = tmp_path / "data"
    prepare_folder(tiny_dir, data, "tiny", neighbor_ks=[3])
    plain = _train(data, tmp_path / "plain")
    calls = []

    def packed(tensors: list[Tensor], device: torch.device | str) -> list[Tensor]:
        calls.append(len(tensors))
        return transfer.packed_copy(tensors, torch.device(device), pin=False)

    monkeypatch.setattr("crossrec.data.sampler.to_device", packed)
    again = _train(data, tmp_path / "packed")
    assert calls and min(calls) == 12  # 3 columns + 3 plug-in rows + 2 × 3 group tensors
    pd.testing.assert_frame_equal(plain, again, check_exact=True)


@pytest.mark.gpu
def test_cuda_transfer_is_pinned_and_equal() -> None:
    tensors = _tensors()
    moved = transfer.to_device(tensors, "cuda")
    torch.cuda.synchronize()
    assert all(t.device.type == "cuda" for t in moved)
    _same(moved, tensors)
