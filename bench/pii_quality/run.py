"""PII detection quality: SAE-latent probe vs raw-activation probe vs Presidio, on MiniLM and CPU (v1-v5).

Since v6 the shipped detector and its three evaluations come from one command,
``python -m kiln_sae probe --config workload/configs/pii-best.yaml`` (it builds data, features and the SAE,
and saves the detector), summarised by ``bench/pii_quality/report.py``; this script keeps the v1-v5 bench
on the template generator (its ablations and seed loops) reproducible.

    .venv/bin/python bench/pii_quality/run.py [--sae DIR] [--n-train 5000 --n-val 400 --n-test 400]
        [--features-cache bench/.work/pii-feats.pt] [--out bench/results/pii_quality_v3.json]

Without ``--sae`` it first trains a small TopK SAE on generated PII-rich chat (``python -m kiln_sae train``,
train-split templates only). Then it extracts MiniLM features once, trains both probes with the same
settings, tunes each decoding setting on validation (never on test), scores all three systems with one evaluator on the
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
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def train_sae(work: Path, layer: int, latents: int, k: int, epochs: float, n_convs: int) -> Path:
    from kiln_sae.pii.generate import main as generate

    data = work / "chat.jsonl"
    generate(["--out", str(data), "--n", str(n_convs), "--seed", "1", "--split", "train"])
    cfg = {"base_model": "minilm", "layer": layer, "context_size": 128, "latents": latents, "k": k,
           "epochs": epochs, "batch_size": 1024, "learning_rate": "auto", "warmup_steps": 50, "log_every": 50,
           "output_dir": str(work / "sae_out"), "activation_cache": "memory", "device": "cpu",
           "dataset": {"path": str(data), "format": "lmsys", "val_fraction": 0.05}}
    (work / "sae.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(work / "sae.yaml"), "--quiet"],
                   check=True, timeout=3600, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
    return work / "sae_out" / "sae"


def _public_path(value: object) -> object:
    """Paths inside the repository are recorded relative to it; others (a temporary work dir) by name only."""
    if not isinstance(value, str) or "/" not in value:
        return value
    path = Path(value).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else f"<tmp>/{path.name}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _micro_f1s(info: dict, reports: dict) -> dict[str, float]:
    return {"val_overlap_f1": info["val_overlap_f1"], "test_overlap_f1": reports["overlap"].micro["f1"],
            "test_exact_f1": reports["exact"].micro["f1"]}


def _mean_sd(xs: list[float]) -> str:
    mean = sum(xs) / len(xs)
    sd = (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f}"


def _from_cache(cache: Path, splits: dict, source) -> tuple[dict, float | None]:
    """Features of ``splits`` from ``cache``. Only features are reused: labels always come from this generator.
    A split's messages are a prefix of a longer run of the same seed (the generator cycles templates in a
    fixed order), so a cached split may be longer (sliced) or shorter (the missing messages are extracted and
    the cache is rewritten with them); any other text mismatch is an error."""
    import torch

    from kiln_sae.pii.pipeline import SplitData, timed

    cached = torch.load(cache, weights_only=False)
    data, extract_s, grown = {}, None, False
    for s, ex in splits.items():
        feats = list(getattr(cached[s], "feats", cached[s]))
        texts = getattr(cached[s], "texts", None)
        n = min(len(feats), len(ex))
        if texts is not None and texts[:n] != [e.text for e in ex[:n]]:
            raise SystemExit(f"{cache}: cached {s} features are for other texts (different --seed?); delete it")
        if len(feats) < len(ex):
            more, dt = timed(lambda ex=ex, n=n: source.extract([e.text for e in ex[n:]]))
            extract_s, grown = (extract_s or 0.0) + dt, True
            feats += more
            cached[s] = SplitData(ex, feats)
        data[s] = SplitData(ex, feats[:len(ex)])
        if any(len(f.offsets) == 0 for f in data[s].feats):
            raise SystemExit(f"{cache}: empty cached features in split {s}; delete it")
    if grown:
        torch.save(cached, cache)
    return data, extract_s


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
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-val", type=int, default=400)
    p.add_argument("--n-test", type=int, default=400)
    p.add_argument("--context", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--weight-decay", type=float, default=1e-4, help="probe weight decay (1e-4 beat 1e-5 and 1e-3 on val)")
    p.add_argument("--input-dropout", type=float, default=0.3,
                   help="share of input features dropped per token while training the probes (0.3 beat 0 on val)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra-seeds", default="", help="comma-separated probe seeds to retrain each probe with, "
                   "for the spread of test F1 (the tables are for --seed)")
    p.add_argument("--systems", default="sae_probe,raw_probe",
                   help="probes to train, comma-separated: sae_probe, raw_probe, sae_raw_probe (Presidio always runs)")
    p.add_argument("--features-cache", help="file to reuse extracted MiniLM features from (written if missing); "
                   "only valid for the same --seed/--n-*/--layer")
    p.add_argument("--val-only", action="store_true",
                   help="train and tune the probes, print their val F1 and stop (test is not scored): for choosing "
                        "a configuration (SAE, context) on val without seeing test")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "pii_quality.json"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_start = os.getloadavg()
    import torch

    from kiln_sae.checkpoint import load_sae
    from kiln_sae.pii.evaluate import evaluate
    from kiln_sae.pii.features import FeatureSource
    from kiln_sae.pii.detector import FROM_SPEC
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
        data, extract_s = _from_cache(cache, splits, source)
    else:
        data, extract_s = timed(lambda: {s: featurize(source, ex) for s, ex in splits.items()})
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(data, cache)
    test = data["test"]
    cfg = ProbeTraining(epochs=args.epochs, lr=1e-2, seed=args.seed, weight_decay=args.weight_decay,
                        input_dropout=args.input_dropout)
    results: dict = {}
    throughput: dict = {}
    n_tokens = int(sum(f.valid.sum() for f in test.feats))
    probes = [s for s in args.systems.split(",") if s]
    for name in probes:
        det, info = train_detector(name, source, data["train"], data["val"], cfg, sae, float(meta["act_scale"]),
                                   args.context)
        if args.val_only:
            print(f"{name}: val overlap micro F1 {info['val_overlap_f1']:.4f} (no label floors "
                  f"{info['val_overlap_f1_no_label_thresholds']:.4f}); threshold {info['threshold']}, "
                  f"extend {info['extend_threshold']}, floors {info['label_thresholds']} (proposed "
                  f"{info['label_thresholds_proposed']}, bootstrap {info['label_thresholds_bootstrap_share_gain']})",
                  flush=True)
            continue
        reports = score(test.gold, predict_split(det, test))
        results[name] = {"info": info, **{m: r.to_dict() for m, r in reports.items()}}
        # Ablation, one decoding step added at a time, each at its own val-tuned threshold: plain decoding,
        # + span validation, + hysteresis, + per-label floors (= the shipped detector, scored above).
        steps = {"no_validate": (info["threshold_no_validate"], False, None, False),
                 "no_extend": (info["threshold_no_extend"], True, None, False),
                 "no_label_thresholds": (None, None, FROM_SPEC, False)}
        for step, (th, check, ext, fl) in steps.items():
            rep = score(test.gold, predict_split(det, test, th, check, fl, ext))
            results[name][step] = {m: {"micro": r.to_dict()["micro"]} for m, r in rep.items()}
        # The floors the point estimate on val proposed, before the template bootstrap kept only some.
        kept, det.spec.label_thresholds = det.spec.label_thresholds, info["label_thresholds_proposed"]
        rep = score(test.gold, predict_split(det, test))
        det.spec.label_thresholds = kept
        results[name]["proposed_label_thresholds"] = {m: {"micro": r.to_dict()["micro"]} for m, r in rep.items()}
        _, dt = timed(lambda: det.detect(test.texts))  # noqa: B023 - called immediately
        throughput[name] = {"seconds": dt, "msgs_per_s": len(test.texts) / dt, "tokens_per_s": n_tokens / dt}
        # Variance: the same system retrained with other probe seeds (batch order), each tuned on val.
        runs = {args.seed: _micro_f1s(info, reports)}
        for seed in (int(x) for x in args.extra_seeds.split(",") if x.strip()):
            d2, i2 = train_detector(name, source, data["train"], data["val"], replace(cfg, seed=seed), sae,
                                    float(meta["act_scale"]), args.context)
            runs[seed] = _micro_f1s(i2, score(test.gold, predict_split(d2, test)))
        results[name]["seeds"] = runs
    if args.val_only:
        return 0
    presidio, load_s = timed(PresidioBaseline)
    preds, dt = timed(lambda: presidio.predict(test.texts))
    reports = score(test.gold, preds)
    results["presidio"] = {"info": {"load_s": load_s}, **{m: r.to_dict() for m, r in reports.items()}}
    throughput["presidio"] = {"seconds": dt, "msgs_per_s": len(test.texts) / dt, "tokens_per_s": n_tokens / dt}
    for match in ("overlap", "exact"):
        print(f"\n== {match} match, template-disjoint test split ({len(test.texts)} messages) ==")
        print(table(results, match))
    print("\nablation, overlap micro P/R/F1 on test (each step's threshold tuned on val):")
    for s in probes:
        cells = []
        for step, title in (("no_validate", "plain"), ("no_extend", "+validation"),
                            ("no_label_thresholds", "+hysteresis"), ("proposed_label_thresholds",
                                                                     "+all val-proposed floors"),
                            (None, "+bootstrap-kept floors (shipped)")):
            m = (results[s][step] if step else results[s])["overlap"]["micro"]
            cells.append(f"{title} {m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f}")
        print(f"  {s:<10} " + "; ".join(cells))
    if args.extra_seeds:
        print("\nprobe seeds (each tuned on val), micro F1 mean ± sd:")
        for s in probes:
            runs = list(results[s]["seeds"].values())
            print(f"  {s:<10} seeds {list(results[s]['seeds'])}: val overlap "
                  f"{_mean_sd([r['val_overlap_f1'] for r in runs])}, test overlap "
                  f"{_mean_sd([r['test_overlap_f1'] for r in runs])}, test exact {_mean_sd([r['test_exact_f1'] for r in runs])}")
    print("\nthroughput on the test messages (end to end, CPU):")
    for s, t in throughput.items():
        print(f"  {s:<10} {t['msgs_per_s']:8.1f} msgs/s {t['tokens_per_s']:10.0f} tokens/s")
    for s in (*probes, "presidio"):
        print(f"  {s} top errors: {results[s]['overlap']['errors'][:5]}")
    out = {"bench": "pii_quality", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                       "processor": _cpu_model(), "torch_threads": torch.get_num_threads(),
                       "load_avg_start": load_start, "load_avg_end": os.getloadavg()},
           "args": {k: _public_path(v) for k, v in vars(args).items()},
           "sae": {"dir": _public_path(str(sae_dir)), "meta": meta, "train_s": sae_train_s},
           "extract_s": extract_s, "n_test_tokens": n_tokens, "throughput": throughput, "results": results,
           "labels": list(LABELS), "evaluator": evaluate.__doc__}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
