"""Where a run executes: the device a run's ``train.device`` names (a free GPU of several,
:mod:`crossrec.device.gpu_slots`), the kernels' determinism policy, the seeds, and what ran the
job (its name, its peak memory)."""

from __future__ import annotations

import platform
import random
import resource
import sys
from pathlib import Path

import numpy as np
import torch

from crossrec.errors import ConfigError
from crossrec.run import check_device_name


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda[:N]`` and ``mps`` only when
    present (ConfigError otherwise). ``cuda`` with several visible GPUs takes the least-used
    one (:func:`crossrec.device.gpu_slots.claim`), so concurrent runs spread over the GPUs."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"train.device: {name!r} requested but CUDA is not available "
                f"(torch {torch.__version__}); use cpu or auto"
            )
        if device.index is not None and device.index >= count:
            raise ConfigError(f"train.device: {name!r} but only {count} CUDA device(s)")
        if device.index is None and count > 1:
            from crossrec.device.gpu_slots import claim

            device = torch.device("cuda", claim(count))
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device: 'mps' requested but MPS is not available")
    return device


def deterministic_kernels(device: torch.device) -> None:
    """Deterministic kernels on the CPU (bit-identical reruns at any thread count), without
    torch's NaN fill of new tensors; CUDA keeps its fast kernels (docs/performance.md,
    "Deterministic CPU kernels")."""
    torch.use_deterministic_algorithms(device.type == "cpu")
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's RNGs (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_name(device: torch.device) -> str:
    """What ran a job: the CUDA device's name, else the CPU's model (``/proc/cpuinfo``), else
    the platform's processor or machine type."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def peak_memory_mb(device: torch.device) -> float:
    """Peak resident memory of this process (CPU) or peak allocated CUDA memory, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20
