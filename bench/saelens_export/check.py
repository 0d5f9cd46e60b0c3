"""Show that sae-lens loads a Kiln export and reconstructs exactly what Kiln's SAE does.

    .venv/bin/python bench/saelens_export/check.py [--base-model minilm] [--layer 3]

1. In our venv: real MiniLM activations (layer L, content tokens), a Kiln TopK SAE with a data-initialised
   pre-bias and act_scale ≠ 1, saved as Kiln's ``sae/`` dir and exported with ``kiln_sae export``.
2. A separate venv ``bench/.work/saelens-venv`` (built on first use) gets ``sae-lens`` from PyPI. It sees our
   site-packages through a .pth file so it reuses torch==2.13.0 (a constraints file forbids pip to replace
   it — any other torch spec would download gigabytes).
3. In that venv: ``SAE.load_from_disk(export)`` and ``sae(raw_acts)``; the max |Δ| against Kiln's
   reconstruction is printed and written to bench/.work/saelens_export.json. Exit 0 when below 1e-4.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
VENV = WORK / "saelens-venv"
TOLERANCE = 1e-4

CHILD = r"""
import json, sys, torch
from sae_lens import SAE, __version__
data = torch.load(sys.argv[2])
sae = SAE.load_from_disk(sys.argv[1], device="cpu")
with torch.no_grad():
    recon = sae(data["raw"])
    feats = sae.encode(data["raw"])
diff = (recon - data["kiln_recon"]).abs().max().item()
same_support = bool(((feats > 0) == (data["kiln_latents"] > 0)).all())
print(json.dumps({"sae_lens_version": __version__, "sae_class": type(sae).__name__, "max_abs_diff": diff,
                  "same_active_latents": same_support, "tokens": int(data["raw"].shape[0])}))
"""


def ensure_venv(log) -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        log(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
        site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        Path(site, "kiln-base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if subprocess.run([str(py), "-c", "import sae_lens"], capture_output=True).returncode != 0:
        constraints = WORK / "constraints.txt"
        constraints.write_text("torch==2.13.0\n")
        log("installing sae-lens (first run only)")
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), "sae-lens"],
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"sae-lens could not be installed beside torch==2.13.0:\n{done.stderr[-3000:]}")
    return py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-model", default="minilm")
    parser.add_argument("--layer", type=int, default=3)
    parser.add_argument("--latents", type=int, default=1536)
    parser.add_argument("--k", type=int, default=16)
    args = parser.parse_args()
    log = lambda msg: print(f"[saelens-check] {msg}", file=sys.stderr)  # noqa: E731 - a script, not library
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from kiln_sae.activations import ActivationExtractor, estimate_act_scale
    from kiln_sae.checkpoint import save_final_sae
    from kiln_sae.export import export_saelens
    from kiln_sae.models import load_truncated_model
    from kiln_sae.sae import SparseAutoencoder

    texts = [f"User: my name is Person {i} and my email is person{i}@example.com. Assistant: noted, thanks."
             for i in range(40)]
    ex = ActivationExtractor(load_truncated_model(args.base_model, args.layer, "cpu", "fp32"), 128)
    raw = torch.cat(list(ex.iter_batches(texts, 4096))).float()
    scale = estimate_act_scale(ex, texts)
    torch.manual_seed(0)
    sae = SparseAutoencoder(ex.d, args.latents, architecture="topk", k=args.k)
    sae.init_b_dec_(raw[:512] * scale)
    sae.eval()
    meta = {"base_model": args.base_model, "layer": args.layer, "hook": "resid_post", "act_scale": scale,
            "d_in": ex.d, "n_latents": args.latents, "k": args.k, "architecture": "topk", "context_size": 128}
    run = WORK / "saelens-check-run"
    save_final_sae(run, sae, meta)
    export_saelens(run / "sae", run / "saelens")
    with torch.no_grad():
        kiln_recon = sae(raw * scale).recon / scale
        kiln_latents = sae.encode_dense(raw * scale)
    torch.save({"raw": raw, "kiln_recon": kiln_recon, "kiln_latents": kiln_latents}, run / "acts.pt")
    py = ensure_venv(log)
    child = subprocess.run([str(py), "-c", CHILD, str(run / "saelens"), str(run / "acts.pt")],
                           capture_output=True, text=True, timeout=600)
    if child.returncode != 0:
        log(child.stderr[-3000:])
        return 1
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update({"base_model": args.base_model, "layer": args.layer, "d_in": ex.d, "d_sae": args.latents,
                   "k": args.k, "act_scale": scale, "tolerance": TOLERANCE})
    (WORK / "saelens_export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if result["max_abs_diff"] < TOLERANCE and result["same_active_latents"] else 1


if __name__ == "__main__":
    sys.exit(main())
