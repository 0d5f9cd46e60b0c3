#!/usr/bin/env bash
# Create (or reuse) the Python environment for Kiln's workload and its tests.
#   scripts/ensure-python.sh [VENV_DIR]     (default: .venv in the repository)
# Every package comes from the lock, workload/constraints.txt (written by scripts/lock-python.py): a fresh
# machine gets exactly the versions the tests last passed with. PyTorch goes in first with an exact pin: on
# machines whose pip has a local wheel of it this avoids a multi-GB CUDA download. KILN_TORCH_SPEC picks
# another torch (a GPU build); the lock's torch-only lines are then dropped. The package itself declares
# ranges (torch>=2.4, ...) for users' machines; rented machines install workload/constraints-remote.txt.
# Idempotent: a stamp file records what was installed, keyed by the hashes of pyproject.toml and the lock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
python="${KILN_PYTHON:-python3}"
lock="$root/workload/constraints.txt"
torch_spec="${KILN_TORCH_SPEC:-torch==2.13.0}"
extras="dev,pii,baseline,data,wandb"
stamp="$venv/.kiln-stamp"
want="$(cat "$root/workload/pyproject.toml" "$lock" | sha256sum | cut -c1-16) $torch_spec $extras"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "kiln: setting up the Python workload environment in $venv from the lock (first run only; a few minutes)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
constraints="$venv/kiln-constraints.txt"
if [ -n "${KILN_TORCH_SPEC:-}" ]; then
  grep -v '# torch$' "$lock" > "$constraints"
else
  cp "$lock" "$constraints"
fi
# PIP_CONSTRAINT (not only -c) so that the lock also holds inside pip's build environments.
export PIP_CONSTRAINT="$constraints"
pipi() {
  # Registries can be flaky: retry each install a few times before giving up.
  local n
  for n in 1 2 3; do
    "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" && return 0
    echo "kiln: pip install failed (attempt $n of 3), retrying" >&2
    sleep $((n * 5))
  done
  return 1
}
pipi "$torch_spec" "setuptools>=68" wheel
# Built with the venv's pinned setuptools, not an isolated build environment's newest one.
pipi --no-build-isolation -e "$root/workload[$extras]"
# A reused venv may hold packages from an earlier lock that nothing installs now: they would be tested too.
"$venv/bin/python" - "$constraints" <<'PY'
import re, sys
from importlib import metadata
want = {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower(): l.split("==")[1].split()[0]
        for l in open(sys.argv[1]) if "==" in l and not l.startswith("#")}
extra = sorted(d.metadata["Name"] for d in metadata.distributions()
               if re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() not in want | {"pip": "", "kiln-sae": ""})
if extra:
    print("kiln: packages in the venv that the lock does not hold (delete the venv to start clean): " + ", ".join(extra), file=sys.stderr)
PY
echo "$want" > "$stamp"
