"""Writer for docs/metrics-protocol.md: one JSON object per line, appended to ``metrics.jsonl`` and echoed
to stdout. This module is the only place the workload writes that file."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, TextIO

PROTOCOL_VERSION = 1


def _clean(value: Any, path: str, nonfinite: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        nonfinite.append(path)
        return None
    if isinstance(value, dict):
        return {k: _clean(v, f"{path}.{k}" if path else k, nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, f"{path}[{i}]", nonfinite) for i, v in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _clean(value.item(), path, nonfinite)
    return value


class MetricsWriter:
    """Append protocol lines. ``enabled=False`` (non-zero DDP ranks) makes every call a no-op."""

    def __init__(self, path: str | os.PathLike[str] | None, *, echo: bool = True, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.echo = echo
        self.stream = stream if stream is not None else sys.stdout
        self._fh = None
        if enabled and path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        nonfinite: list[str] = []
        record: dict[str, Any] = {"v": PROTOCOL_VERSION, "ts": round(time.time(), 3), "kind": kind}
        record.update({k: _clean(v, k, nonfinite) for k, v in fields.items()})
        if nonfinite:
            record["nonfinite"] = nonfinite
        if not self.enabled:
            return record
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        if self._fh is not None:
            self._fh.write(line)  # one write per line: a crash leaves at most one partial trailing line
            self._fh.flush()
        if self.echo:
            self.stream.write(line)
            self.stream.flush()
        return record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "MetricsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
