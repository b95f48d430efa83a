"""Retrying a download step: one policy for every source (Google Drive, GitHub raw files)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from crossrec.errors import DownloadError


def retry(
    action: Callable[[], Any],
    tries: int,
    wait: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Any:  # noqa: ANN401
    """``action()``, called up to ``tries`` times while it raises one of ``retry_on``, sleeping
    ``wait · n`` seconds after the n-th failure; the last failure propagates. A
    :class:`~crossrec.errors.DownloadError` (a definite answer, e.g. a missing file) is never
    retried."""
    for attempt in range(tries):
        try:
            return action()
        except DownloadError:
            raise
        except retry_on:
            if attempt == tries - 1:
                raise
            time.sleep(wait * (attempt + 1))
    return None
