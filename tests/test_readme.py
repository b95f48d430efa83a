"""The README's standalone example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_standalone_example_runs() -> None:
    text = README.read_text()
    section = text.split("### Using the losses in your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)  # noqa: S102
    assert torch.isfinite(namespace["align"])
    assert namespace["item_emb"].grad is not None and namespace["v_emb"].grad is not None
