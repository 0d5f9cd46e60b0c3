"""Second round of ablations (issue 16, "best vs best"): the decoder parametrisation, gradient clipping and the
learning-rate schedule, one change at a time against Kiln as shipped, at a fixed learning rate, same data,
tokens, seed and held-out set as ablations.py / run.py.

    nice -n 19 .venv/bin/python bench/sae_quality/ablations2.py --variant NAME [--n 3072 --k 32 --lr 0.004]

Each invocation trains one variant and writes bench/.work/sae_quality/ablations2/<n>-<k>-<lr>-<variant>.json
(so variants can run as separate processes); ``--collect`` merges them into
bench/results/sae_quality_ablations.json under ``round2``.

What sae-lens's TopKTrainingSAE does that Kiln does not (read from sae_lens 6.54.12 saes/sae.py, topk_sae.py,
training/sae_trainer.py):
- decoder rows initialised at norm 0.1 (kaiming-uniform, renormalised), W_enc = W_decᵀ (tied, like Kiln);
- decoder norms free during training; pre-activations multiplied by ‖W_dec,i‖ and activations divided by it
  before decoding (``rescale_acts_by_decoder_norm``), i.e. the *effective* decoder is unit-norm and the effective
  encoder column is W_enc,i·‖W_dec,i‖; no projection of the decoder gradient, no renormalisation step;
- loss = Σ_d (x−x̂)² averaged over tokens on raw activations (Kiln: FVU on activations scaled to mean norm √d),
  with clip_grad_norm_(1.0) on that loss's gradient.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
WORK = ROOT / "bench" / ".work" / "sae_quality" / "ablations2"

GRAD_NORMS: list[float] = []


@contextlib.contextmanager
def record_grad_norms():
    """Record the pre-clip gradient norm of every step (clip_grad_norm_ returns it)."""
    import torch

    orig = torch.nn.utils.clip_grad_norm_

    def wrapped(params, max_norm, *a, **kw):
        norm = orig(params, max_norm, *a, **kw)
        GRAD_NORMS.append(float(norm))
        return norm

    torch.nn.utils.clip_grad_norm_ = wrapped
    try:
        yield
    finally:
        torch.nn.utils.clip_grad_norm_ = orig


@contextlib.contextmanager
def free_decoder(init_norm: float):
    """sae-lens's parametrisation: free decoder norms (init ``init_norm``), latents rescaled by them."""
    import torch

    from kiln_sae import sae as sae_mod
    from kiln_sae.trainer import Trainer

    SAE = sae_mod.SparseAutoencoder
    saved = (SAE.__init__, SAE.set_decoder_norm_, SAE.remove_parallel_grad_, sae_mod.topk_autoencode, Trainer.run)
    orig_init, _, _, orig_tae, orig_run = saved

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        with torch.no_grad():
            self.W_dec.mul_(init_norm)
            self.W_enc.copy_(self.W_dec.t())

    def tae(x, W_enc, b_enc, W_dec, b_dec, k, *rest, **kw):
        nrm = W_dec.norm(dim=1).clamp_min(1e-8)
        return orig_tae(x, W_enc * nrm, b_enc * nrm, W_dec / nrm[:, None], b_dec, k, *rest, **kw)

    def run(self):
        out = orig_run(self)
        with torch.no_grad():  # fold the norms (what sae-lens does on save) so inference is the plain SAE
            nrm = self.sae.W_dec.norm(dim=1).clamp_min(1e-8)
            print(f"[ablations2] decoder norms at the end: median {nrm.median():.3f}, "
                  f"p10 {nrm.quantile(0.1):.3f}, p90 {nrm.quantile(0.9):.3f}", file=sys.stderr)
            self.sae.W_enc.mul_(nrm)
            self.sae.b_enc.mul_(nrm)
            self.sae.W_dec.div_(nrm[:, None])
        return out

    SAE.__init__ = init
    SAE.set_decoder_norm_ = lambda self: None
    SAE.remove_parallel_grad_ = lambda self: None
    sae_mod.topk_autoencode = tae
    Trainer.run = run
    try:
        yield
    finally:
        SAE.__init__, SAE.set_decoder_norm_, SAE.remove_parallel_grad_, sae_mod.topk_autoencode, Trainer.run = saved


@contextlib.contextmanager
def scaled_init(enc_scale: float = 1.0, dec_scale: float = 1.0):
    import torch

    from kiln_sae import sae as sae_mod

    SAE = sae_mod.SparseAutoencoder
    orig_init = SAE.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        with torch.no_grad():
            self.W_enc.mul_(enc_scale)

    SAE.__init__ = init
    try:
        yield
    finally:
        SAE.__init__ = orig_init


@contextlib.contextmanager
def no_grad_normalisation():
    """Kiln before this round: Adam on the raw FVU gradient (clip at 1.0, which never binds)."""
    from kiln_sae import loop

    orig = loop.normalize_grad_
    loop.normalize_grad_ = lambda params: None
    try:
        yield
    finally:
        loop.normalize_grad_ = orig


@contextlib.contextmanager
def adam(eps: float | None = None, betas: tuple[float, float] | None = None):
    """Another Adam eps / betas (make_optimizer reads kiln_sae.optim's constants when it is called)."""
    from kiln_sae import optim

    saved = (optim.ADAM_EPS, optim.ADAM_BETAS)
    optim.ADAM_EPS = saved[0] if eps is None else eps
    optim.ADAM_BETAS = saved[1] if betas is None else betas
    try:
        yield
    finally:
        optim.ADAM_EPS, optim.ADAM_BETAS = saved


@contextlib.contextmanager
def before(cm):
    """A first-round variant: on top of Kiln as it was then (raw FVU gradient)."""
    with no_grad_normalisation(), cm:
        yield


VARIANTS = {
    "unit-norm gradient (new default)": ({}, contextlib.nullcontext),
    "unit-norm gradient, no warm-up": ({"warmup_steps": 0}, contextlib.nullcontext),
    "before: no grad normalisation": ({}, no_grad_normalisation),
    "unit-norm gradient + free decoder, init 0.1, rescale": ({}, lambda: free_decoder(0.1)),
    "no warm-up": ({"warmup_steps": 0}, lambda: before(contextlib.nullcontext())),
    # round 3 (issue 16, the n 6144 best-vs-best gap): one change each on top of the unit-norm gradient
    # ("new default" = the unit-norm gradient without the lr decay, which main() turns off unless a variant sets it)
    "unit-norm gradient, raw activations": ({"normalize_activations": False}, contextlib.nullcontext),
    "unit-norm gradient, Adam eps 1e-8": ({}, lambda: adam(eps=1e-8)),
    "unit-norm gradient, Adam beta2 0.99": ({}, lambda: adam(betas=(0.9, 0.99))),
    "unit-norm gradient, AuxK after 256k tokens": ({"dead_tokens_threshold": 262_144}, contextlib.nullcontext),
    "unit-norm gradient, AuxK after 256k tokens, coefficient 1": (
        {"dead_tokens_threshold": 262_144, "aux_k_coefficient": 1.0}, contextlib.nullcontext),
    "unit-norm gradient, lr decay last 20%": ({"lr_decay_fraction": 0.2}, contextlib.nullcontext),
    "unit-norm gradient, lr decay last 50%": ({"lr_decay_fraction": 0.5}, contextlib.nullcontext),
    # the rows below ran before the unit-norm gradient was Kiln's default, i.e. on top of the raw FVU gradient
    "free decoder, init 0.1, rescale (sae-lens)": ({}, lambda: before(free_decoder(0.1))),
    "free decoder, init 0.1, rescale, no warm-up": ({"warmup_steps": 0}, lambda: before(free_decoder(0.1))),
    "free decoder, init 1, rescale": ({}, lambda: before(free_decoder(1.0))),
    "no grad clip": ({"grad_clip": 0.0}, lambda: before(contextlib.nullcontext())),
    "always clipped (grad_clip 1e-4)": ({"grad_clip": 1e-4}, lambda: before(contextlib.nullcontext())),
    "lr decay last 20%": ({"lr_decay_fraction": 0.2}, lambda: before(contextlib.nullcontext())),
    "lr decay last 20%, no warm-up": ({"warmup_steps": 0, "lr_decay_fraction": 0.2},
                                      lambda: before(contextlib.nullcontext())),
}


def slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s).strip("_")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", choices=list(VARIANTS))
    p.add_argument("--n", type=int, default=3072)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.004)
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--collect", action="store_true")
    args = p.parse_args(argv)
    if args.collect:
        out = ROOT / "bench" / "results" / "sae_quality_ablations.json"
        doc = json.loads(out.read_text())
        # Merge: runs already in the results are kept (bench/.work is not committed, so a fresh checkout has
        # only the new ones there); a run redone with the same (n, k, lr, seed, variant) replaces the old one.
        def key(r: dict) -> tuple:
            return r["n"], r["k"], r["learning_rate"], r.get("seed", 0), r["variant"]

        runs = {key(r): r for r in doc.get("round2", {}).get("runs", [])}
        runs.update({key(r): r for r in (json.loads(f.read_text()) for f in sorted(WORK.glob("*.json")))})
        doc["round2"] = {"doc": __doc__.split("\n\n")[0], "runs": sorted(runs.values(), key=key)}
        out.write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from safetensors.torch import load_file

    from activations import DEFAULT_OUT
    from kiln_side import train_kiln
    from machine import machine_info

    torch.set_num_threads(1)
    data = load_file(str(DEFAULT_OUT))
    overrides, ctx = VARIANTS[args.variant]
    # Every variant here is a change against Kiln *before* the lr decay became its default (round 4 of
    # docs/learning-rate.md): the decay is off unless the variant sets it. (The decay rows were first run with a
    # patch of the trainer's lr_at that did the same: the last int(S·(1-f)) .. S-1 steps, 49 of 245 at f 0.2.)
    overrides = {"lr_decay_fraction": 0.0, **overrides}
    with ctx(), record_grad_norms():
        r = train_kiln(data["train"], data["heldout"], n=args.n, k=args.k, tokens=args.tokens, seed=args.seed,
                       learning_rate=args.lr, curve_points=8, **overrides)
    g = GRAD_NORMS
    rec = {"variant": args.variant, "n": args.n, "k": args.k, "learning_rate": args.lr, "tokens": args.tokens,
           "seed": args.seed, "overrides": overrides, "explained_variance": r["heldout"]["explained_variance"],
           "dead_fraction": r["heldout"]["dead_fraction"], "curve": [(c["tokens"], round(c["explained_variance"], 4))
                                                                      for c in r["curve"]],
           "grad_norm_pre_clip": {"first": g[:3], "step_25pct": g[len(g) // 4] if g else None,
                                  "last": g[-3:]},
           "train_s": r["train_s"], "machine": machine_info()}
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"{args.n}-{args.k}-{args.lr}-s{args.seed}-{slug(args.variant)}.json").write_text(json.dumps(rec, indent=1))
    print(f"[ablations2] {args.variant}: EV {rec['explained_variance']:.4f} dead {rec['dead_fraction']:.3%}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
