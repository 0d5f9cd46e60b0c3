#!/usr/bin/env bash
# Create (or reuse) the Python environment for Kiln's workload and its tests.
#   scripts/ensure-python.sh [VENV_DIR]     (default: .venv in the repository)
# PyTorch goes in first with an exact pin: on machines whose pip has a local wheel of it this avoids a
# multi-GB CUDA download; real GPU machines use their own torch (the package declares torch>=2.4).
# Idempotent: a stamp file records what was installed, keyed by the hash of workload/pyproject.toml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
python="${KILN_PYTHON:-python3}"
torch_spec="${KILN_TORCH_SPEC:-torch==2.13.0}"
stamp="$venv/.kiln-stamp"
want="$(sha256sum "$root/workload/pyproject.toml" | cut -c1-16) $torch_spec"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "kiln: setting up the Python workload environment in $venv (first run only; a few minutes)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
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
"$venv/bin/python" -c "import torch" 2>/dev/null || pipi "$torch_spec"
pipi -e "$root/workload[dev,pii,baseline]"
echo "$want" > "$stamp"
