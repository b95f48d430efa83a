"""The CLI's log format: ``crossrec.*`` loggers to stderr with a timestamp on every line
(``2026-12-07 19:20:01,123 INFO crossrec.train: epoch 3/60 ...``), or one JSON object per line
(``--log-json``: ``time``, ``level``, ``logger``, ``message``) for cluster log tools."""

from __future__ import annotations

import json
import logging
import sys

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, local, with offset), ``level``,
    ``logger``, ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        import datetime

        when = datetime.datetime.fromtimestamp(record.created).astimezone()
        blob = {
            "time": when.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(blob, ensure_ascii=False)


def configure(json_lines: bool = False) -> None:
    """Send the ``crossrec`` loggers' INFO and above to stderr in the chosen format (replacing
    a handler an earlier call installed)."""
    logger = logging.getLogger("crossrec")
    for handler in list(logger.handlers):
        if getattr(handler, "crossrec_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.crossrec_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(PLAIN))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
