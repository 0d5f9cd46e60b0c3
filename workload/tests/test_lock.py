"""The lock (workload/constraints.txt, written by scripts/lock-python.py) is the environment these tests run in.

If this fails, the venv was built from something else than the lock: rebuild it (rm -rf .venv; bin/test), or,
when a dependency should move on purpose, re-run scripts/lock-python.py and commit both lock files.
"""
from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

WORKLOAD = Path(__file__).resolve().parent.parent
NOT_PINNED = {"pip", "kiln-sae"}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path, python: str | None = None) -> dict[str, str]:
    """name -> version of every line that applies (to ``python`` when given: lines with a python_version marker)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, marker = line.partition(";")
        if marker and python is not None and f'python_version == "{python}"' not in marker:
            continue
        name, version = spec.split("==")
        out[canon(name)] = version.strip()
    return out


def test_the_venv_is_exactly_the_lock() -> None:
    lock = pins(WORKLOAD / "constraints.txt")
    installed = {canon(d.metadata["Name"]): d.version for d in metadata.distributions()}
    # A torch chosen with KILN_TORCH_SPEC (a GPU build) differs from the lock's by design.
    skip = NOT_PINNED | ({"torch"} if os.environ.get("KILN_TORCH_SPEC") else set())
    differ = {n: (v, lock.get(n)) for n, v in installed.items() if n not in skip and lock.get(n) != v}
    assert differ == {}, f"installed (version, lock) that disagree: {differ}"


def test_the_remote_lock_pins_the_tested_versions_for_the_tested_python() -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    remote = pins(WORKLOAD / "constraints-remote.txt", python)
    if not remote:
        pytest.skip(f"the remote lock names no Python {python}: it was written on another Python")
    tested = pins(WORKLOAD / "constraints.txt")
    assert {n: v for n, v in remote.items() if tested.get(n) != v} == {}
    assert "torch" not in remote and not any(n.startswith("nvidia-") for n in remote)
