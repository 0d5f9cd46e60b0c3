"""PII detection quality: SAE-latent probe vs raw-activation probe vs Presidio, on MiniLM and CPU.

    .venv/bin/python bench/pii_quality/run.py [--sae DIR] [--n-train 1500 --n-val 300 --n-test 400]

Without ``--sae`` it first trains a small TopK SAE on generated PII-rich chat (``python -m kiln_sae train``,
train-split templates only). Then it extracts MiniLM features once, trains both probes with the same
settings, tunes each threshold on validation, scores all three systems with one evaluator on the
template-disjoint test split, times end-to-end detection on the same test messages, prints the comparison
side by side and writes JSON to bench/results/pii_quality.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def train_sae(work: Path, layer: int, latents: int, k: int, epochs: float, n_convs: int) -> Path:
    from kiln_sae.pii.generate import main as generate

    data = work / "chat.jsonl"
    generate(["--out", str(data), "--n", str(n_convs), "--seed", "1", "--split", "train"])
    cfg = {"base_model": "minilm", "layer": layer, "context_size": 128, "latents": latents, "k": k,
           "epochs": epochs, "batch_size": 1024, "learning_rate": 0.002, "warmup_steps": 50, "log_every": 50,
           "output_dir": str(work / "sae_out"), "activation_cache": "memory", "device": "cpu",
           "dataset": {"path": str(data), "format": "lmsys", "val_fraction": 0.05}}
    (work / "sae.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(work / "sae.yaml"), "--quiet"],
                   check=True, timeout=3600, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
    return work / "sae_out" / "sae"


def table(results: dict, match: str) -> str:
    systems = list(results)
    labels = list(next(iter(results.values()))[match]["per_label"])
    head = f"{'label':<14}" + "".join(f"{s + ' P/R/F1':>26}" for s in systems)
    rows = [head, "-" * len(head)]
    for lab in [*labels, "micro"]:
        cells = []
        for s in systems:
            m = results[s][match]["micro"] if lab == "micro" else results[s][match]["per_label"][lab]
            cells.append(f"{m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f} ({m['support']})".rjust(26))
        rows.append(f"{lab:<14}" + "".join(cells))
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sae", help="trained SAE dir (<output_dir>/sae); trains one when omitted")
    p.add_argument("--layer", type=int, default=3)
    p.add_argument("--latents", type=int, default=3072)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--sae-epochs", type=float, default=3)
    p.add_argument("--sae-convs", type=int, default=3000)
    p.add_argument("--n-train", type=int, default=1500)
    p.add_argument("--n-val", type=int, default=300)
    p.add_argument("--n-test", type=int, default=400)
    p.add_argument("--context", type=int, default=2)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--systems", default="sae_probe,raw_probe",
                   help="probes to train, comma-separated: sae_probe, raw_probe, sae_raw_probe (Presidio always runs)")
    p.add_argument("--features-cache", help="file to reuse extracted MiniLM features from (written if missing); "
                   "only valid for the same --seed/--n-*/--layer")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "pii_quality.json"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from kiln_sae.checkpoint import load_sae
    from kiln_sae.pii.evaluate import evaluate
    from kiln_sae.pii.features import FeatureSource
    from kiln_sae.pii.generate import Generator
    from kiln_sae.pii.labels import LABELS
    from kiln_sae.pii.pipeline import featurize, predict_split, score, timed, train_detector
    from kiln_sae.pii.presidio_baseline import PresidioBaseline
    from kiln_sae.pii.probe import ProbeTraining

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = Path(tempfile.mkdtemp(prefix="kiln-pii-bench-"))
    sae_dir = Path(args.sae) if args.sae else None
    sae_train_s = None
    if sae_dir is None:
        sae_dir, sae_train_s = timed(lambda: train_sae(work, args.layer, args.latents, args.k, args.sae_epochs,
                                                       args.sae_convs))
    sae, meta = load_sae(sae_dir)
    layer = int(meta["layer"])
    source = FeatureSource("minilm", layer, context_size=128)
    gen = Generator(seed=args.seed)
    splits = {s: gen.examples(s, n) for s, n in (("train", args.n_train), ("val", args.n_val), ("test", args.n_test))}
    cache = Path(args.features_cache) if args.features_cache else None
    if cache is not None and cache.exists():
        data, extract_s = torch.load(cache, weights_only=False), None
    else:
        data, extract_s = timed(lambda: {s: featurize(source, ex) for s, ex in splits.items()})
        if cache is not None:
            torch.save(data, cache)
    test = data["test"]
    cfg = ProbeTraining(epochs=args.epochs, lr=1e-2, seed=args.seed)
    results: dict = {}
    throughput: dict = {}
    n_tokens = int(sum(f.valid.sum() for f in test.feats))
    probes = [s for s in args.systems.split(",") if s]
    for name in probes:
        det, info = train_detector(name, source, data["train"], data["val"], cfg, sae, float(meta["act_scale"]),
                                   args.context)
        reports = score(test.gold, predict_split(det, test))
        results[name] = {"info": info, **{m: r.to_dict() for m, r in reports.items()}}
        # Ablation: the same probe without span validation, at its own val-tuned threshold.
        plain = score(test.gold, predict_split(det, test, info["threshold_no_validate"], False, floors=False))
        results[name]["no_validate"] = {m: {"micro": r.to_dict()["micro"]} for m, r in plain.items()}
        # Ablation: validation but one global threshold (no per-label floors).
        single = score(test.gold, predict_split(det, test, floors=False))
        results[name]["no_label_thresholds"] = {m: {"micro": r.to_dict()["micro"]} for m, r in single.items()}
        _, dt = timed(lambda: det.detect(test.texts))  # noqa: B023 - called immediately
        throughput[name] = {"seconds": dt, "msgs_per_s": len(test.texts) / dt, "tokens_per_s": n_tokens / dt}
    presidio, load_s = timed(PresidioBaseline)
    preds, dt = timed(lambda: presidio.predict(test.texts))
    reports = score(test.gold, preds)
    results["presidio"] = {"info": {"load_s": load_s}, **{m: r.to_dict() for m, r in reports.items()}}
    throughput["presidio"] = {"seconds": dt, "msgs_per_s": len(test.texts) / dt, "tokens_per_s": n_tokens / dt}
    for match in ("overlap", "exact"):
        print(f"\n== {match} match, template-disjoint test split ({len(test.texts)} messages) ==")
        print(table(results, match))
    for s in probes:
        nv = results[s]["no_validate"]["overlap"]["micro"]
        nf = results[s]["no_label_thresholds"]["overlap"]["micro"]
        print(f"  {s} overlap micro P/R/F1 without span validation or label thresholds: "
              f"{nv['precision']:.2f}/{nv['recall']:.2f}/{nv['f1']:.2f}; with validation, one threshold: "
              f"{nf['precision']:.2f}/{nf['recall']:.2f}/{nf['f1']:.2f}")
    print("\nthroughput on the test messages (end to end, CPU):")
    for s, t in throughput.items():
        print(f"  {s:<10} {t['msgs_per_s']:8.1f} msgs/s {t['tokens_per_s']:10.0f} tokens/s")
    for s in (*probes, "presidio"):
        print(f"  {s} top errors: {results[s]['overlap']['errors'][:5]}")
    out = {"bench": "pii_quality", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
           "args": vars(args), "sae": {"dir": str(sae_dir), "meta": meta, "train_s": sae_train_s},
           "extract_s": extract_s, "n_test_tokens": n_tokens, "throughput": throughput, "results": results,
           "labels": list(LABELS), "evaluator": evaluate.__doc__}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
