"""``torch.compile`` with an eager fallback, for a plug-in's pure loss computation.

Compilation is tried at the first call, with static shapes: the plug-in pads the batch's
unique users and items to a few bucket sizes (crossrec.align.buckets), so a handful of graphs
is compiled during the warm-up and none after it. If it fails, one log line says why and the eager function is used from then on;
an error after a successful compilation is the model's own and is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class CompiledOrEager:
    """Call ``torch.compile(fn, dynamic=False)`` (``mode="reduce-overhead"`` on CUDA: CUDA
    graphs), or ``fn`` if compiling it fails.

    Args:
        fn: the function (a bound method of the plug-in).
        name: what to call it in the log line.
        log: where the fallback is reported.
    """

    def __init__(
        self, fn: Callable[..., Any], name: str, log: Callable[[str], None], cuda: bool = False
    ) -> None:
        self.eager = fn
        # bucketed sizes: a few static shapes (a graph per batch size and bucket combination;
        # Dynamo's default limit of 8 graphs per function would fall back to eager beyond)
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        # on CUDA the static shapes let CUDA graphs replay the step's many small kernels
        mode = {"mode": "reduce-overhead"} if cuda else {}
        self.compiled = torch.compile(fn, dynamic=False, **mode)
        self.name, self.log = name, log
        self.state = "untried"  # -> "compiled" | "eager"

    def __call__(self, *args: Any) -> Any:  # noqa: ANN401  (whatever fn returns)
        if self.state == "eager":
            return self.eager(*args)
        if self.state == "compiled":
            return self.compiled(*args)
        try:
            out = self.compiled(*args)
        except Exception as err:  # noqa: BLE001  (any compiler failure falls back)
            first = (str(err).strip().splitlines() or [""])[0][:200]
            self.log(f"{self.name}: torch.compile failed ({type(err).__name__}: {first}); eager")
            self.state = "eager"
            return self.eager(*args)
        self.state = "compiled"
        return out
