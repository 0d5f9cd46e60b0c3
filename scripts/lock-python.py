#!/usr/bin/env python3
"""Write the workload's Python locks from a freshly resolved venv. Run it on purpose, when a dependency should move:

    python3 scripts/lock-python.py            # then: bin/test, and commit workload/constraints*.txt

Two files come out, both pip constraints files (``pip install -c FILE …``):

- ``workload/constraints.txt``: every package of the environment we test here (torch, the workload and its
  dev/pii/baseline/data/wandb extras), exact versions, for CPython of this machine on Linux x86_64. Lines of
  packages that only torch needs end in ``# torch``: ``scripts/ensure-python.sh`` drops them when torch comes
  from somewhere else (``KILN_TORCH_SPEC``).
- ``workload/constraints-remote.txt``: what a rented GPU machine installs (the runtime, ``pii`` and ``data``
  extras), without torch and what only torch needs: the machine keeps or picks its own CUDA torch. For the
  Python we test on, these are the tested versions; for the other Pythons a GPU image may have, the lock's
  versions where they exist for that Python, else the newest that resolves (marked per line by
  ``python_version`` markers, and said in the header: resolved, not tested).

The package keeps its declared ranges (``workload/pyproject.toml``) for users who install it themselves.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "workload"
TESTED_EXTRAS = ["dev", "pii", "baseline", "data", "wandb"]
REMOTE_EXTRAS = ["pii", "data"]
OTHER_PYTHONS = ["3.10", "3.12", "3.13"]
# Build tools installed first so the workload builds without build isolation (which would fetch the newest).
BUILD_TOOLS = ["setuptools>=68", "wheel"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
NOT_PINNED = {"pip", "kiln-sae"}

# Walks the installed distributions' requirements from a set of roots (run inside the fresh venv).
CLOSURE = r"""
import json, sys
from importlib import metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canon

def closure(roots, skip):
    extras_of, todo = {}, []
    for r in roots:
        req = Requirement(r)
        todo.append((canon(req.name), set(req.extras)))
    while todo:
        name, extras = todo.pop()
        have = extras_of.get(name)
        if name in skip or (have is not None and extras <= have):
            continue
        extras_of[name] = (have or set()) | extras
        try:
            specs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in specs:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras_of[name] | {""}):
                todo.append((canon(req.name), set(req.extras)))
    return sorted(extras_of)

args = json.loads(sys.argv[1])
print(json.dumps({key: closure(roots, set(skip)) for key, (roots, skip) in args.items()}))
"""


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class PipFailed(RuntimeError):
    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def run(argv: list[str], **kw) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PIP_CONSTRAINT", None)
    proc = subprocess.run(argv, check=False, text=True, capture_output=True, env=env, **kw)
    if proc.returncode != 0:
        raise PipFailed(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}",
                        proc.stdout + proc.stderr)
    return proc.stdout


def requirements() -> tuple[list[str], dict[str, list[str]]]:
    project = tomllib.loads((WORKLOAD / "pyproject.toml").read_text())["project"]
    return project["dependencies"], project["optional-dependencies"]


def is_torch(req: str) -> bool:
    return canon(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]) == "torch"


def resolve_tested(venv: Path, torch_spec: str) -> dict[str, str]:
    py = str(venv / "bin" / "python")
    run([py, "-m", "pip", "install", "-q", torch_spec, *BUILD_TOOLS])
    run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "-e", f"{WORKLOAD}[{','.join(TESTED_EXTRAS)}]"])
    pins = {}
    for line in run([py, "-m", "pip", "freeze", "--all", "--exclude-editable"]).splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            if canon(name) not in NOT_PINNED:
                pins[canon(name)] = version.strip()
    return pins


def closures(venv: Path) -> dict[str, list[str]]:
    deps, extras = requirements()
    runtime = [d for d in deps if not is_torch(d)]
    tested = runtime + [r for e in TESTED_EXTRAS for r in extras.get(e, [])] + BUILD_TOOLS
    remote = runtime + [r for e in REMOTE_EXTRAS for r in extras.get(e, [])]
    clean = lambda rs: [r.split(";")[0].strip() for r in rs]  # noqa: E731 - markers: the extras we install
    args = {"without_torch": (clean(tested), ["torch"]), "remote": (clean(remote), ["torch"])}
    return json.loads(run([str(venv / "bin" / "python"), "-c", CLOSURE, json.dumps(args)]))


def resolve_other(venv: Path, python: str, remote_reqs: list[str], prefer: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Resolve the remote set for another Python, keeping the lock's version of each package where it exists."""
    dropped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(40):
            cons = Path(tmp) / "prefer.txt"
            cons.write_text("".join(f"{n}=={v}\n" for n, v in prefer.items() if n not in dropped))
            report = Path(tmp) / "report.json"
            argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--only-binary=:all:", "--python-version", python, *[a for p in PLATFORMS for a in ("--platform", p)],
                    "--target", str(Path(tmp) / "t"), "--report", str(report), "-c", str(cons), *remote_reqs]
            try:
                run(argv)
            except PipFailed as e:
                # The lock's version has no wheel for this Python: let that one package float, then retry.
                # pip names it either as a missing distribution or as a conflicting constraint.
                names = re.findall(r"(?:No matching distribution found for|satisfies the requirement|"
                                   r"The user requested \(constraint\)) ([A-Za-z0-9_.\-]+)==", e.output)
                fresh = {canon(n) for n in names} - set(dropped)
                if not fresh:
                    raise
                dropped.extend(sorted(fresh))
                continue
            items = json.loads(report.read_text())["install"]
            return {canon(i["metadata"]["name"]): i["metadata"]["version"] for i in items}, dropped
    raise RuntimeError(f"could not resolve the remote set for Python {python}")


def header(title: str, lines: list[str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return "\n".join([f"# {title}", f"# Written by scripts/lock-python.py on {stamp}: do not edit by hand; re-run it.", *lines, ""])


def main() -> int:
    torch_spec = os.environ.get("KILN_TORCH_SPEC", "torch==2.13.0")
    base = sys.executable
    pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="kiln-lock-") as tmp:
        venv = Path(tmp) / "venv"
        run([base, "-m", "venv", str(venv)])
        print(f"lock: resolving the tested environment with {torch_spec} on Python {pyver}", file=sys.stderr)
        pins = resolve_tested(venv, torch_spec)
        sets = closures(venv)
        needed_without_torch = set(sets["without_torch"])
        tested_lines = [f"{n}=={v}" + ("" if n in needed_without_torch else "  # torch") for n, v in sorted(pins.items())]
        (WORKLOAD / "constraints.txt").write_text(header(
            f"The tested environment: CPython {pyver}, Linux x86_64, {torch_spec}, extras {','.join(TESTED_EXTRAS)}.",
            ["# '# torch' marks packages only torch needs (dropped when torch comes from KILN_TORCH_SPEC)."],
        ) + "\n".join(tested_lines) + "\n")

        _, extras = requirements()
        deps, _ = requirements()
        remote_reqs = [d for d in deps if not is_torch(d)] + [r for e in REMOTE_EXTRAS for r in extras.get(e, [])]
        per_python = {pyver: {n: pins[n] for n in sets["remote"] if n in pins}}
        notes = [f"#   {pyver}: the tested versions (constraints.txt)"]
        for other in OTHER_PYTHONS:
            print(f"lock: resolving the remote set for Python {other}", file=sys.stderr)
            resolved, dropped = resolve_other(venv, other, remote_reqs, per_python[pyver])
            per_python[other] = resolved
            moved = f"; the lock's version has no wheel for it or conflicts: {', '.join(sorted(dropped))}" if dropped else ""
            notes.append(f"#   {other}: resolved, not tested{moved}")
    names = sorted({n for p in per_python.values() for n in p})
    pythons = sorted(per_python, key=lambda v: tuple(map(int, v.split("."))))
    lines = []
    for n in names:
        versions = {p: per_python[p].get(n) for p in pythons}
        if len(set(versions.values())) == 1:
            lines.append(f"{n}=={versions[pythons[0]]}")
            continue
        for v in sorted({v for v in versions.values() if v is not None}):
            which = " or ".join(f'python_version == "{p}"' for p in pythons if versions[p] == v)
            lines.append(f"{n}=={v} ; {which}")
    (WORKLOAD / "constraints-remote.txt").write_text(header(
        f"What a rented machine installs: kiln-sae[{','.join(REMOTE_EXTRAS)}] without torch (the machine's CUDA torch).",
        [f"# python-versions: {' '.join(pythons)}", *notes,
         "# A Python not listed installs the declared ranges of workload/pyproject.toml (Kiln warns)."],
    ) + "\n".join(lines) + "\n")
    print(f"lock: wrote workload/constraints.txt ({len(tested_lines)} packages) and workload/constraints-remote.txt "
          f"({len(names)} packages, Pythons {' '.join(pythons)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
