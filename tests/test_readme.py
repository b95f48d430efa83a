"""The standalone example of docs/plugins.md (linked from the README) runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

PLUGINS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_standalone_example_runs() -> None:
    text = PLUGINS.read_text()
    section = text.split("## Using the losses in your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)  # noqa: S102
    assert torch.isfinite(namespace["align"])
    assert namespace["item_emb"].grad is not None and namespace["v_emb"].grad is not None
