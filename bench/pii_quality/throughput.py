"""Detection throughput of a shipped detector through the real CLI: ``python -m kiln_sae detect``, load time
apart, steady state over the batches after the first.

    .venv/bin/python bench/pii_quality/throughput.py DETECTOR_DIR [--baseline DIR] [--rounds 2] [--n 1000]
        [--batch-size 64] [--out bench/.work/pii-throughput.json]

Input: the presidio-evaluator and dev messages, cycled to ``--n`` lines (a realistic mix of short and long
chat messages). With ``--baseline`` (another detector, e.g. a single probe beside an ensemble) the two run
alternately, ``--rounds`` times each, on the same input, and the ratio of their best steady-state rates is
printed: load on a shared machine moves both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETS = (ROOT / "bench" / "pii_quality" / "data" / "presidio_evaluator.jsonl",
        ROOT / "workload" / "tests" / "data" / "pii_dev.jsonl")
LINE = re.compile(r"loaded detector and model in ([\d.]+)s; (\d+) messages .*?, (\d+) tokens in ([\d.]+)s; "
                  r"steady state \((\d+) messages after the first batch\): ([\d.]+) msgs/s, (\d+) tokens/s")


def _run(detector: str, input_path: str, batch_size: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-m", "kiln_sae", "detect", "--detector", detector, "--input", input_path,
                           "--jsonl", "--batch-size", str(batch_size), "--no-progress"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    m = LINE.search(proc.stderr)
    if not m:
        raise SystemExit(f"no throughput line in: {proc.stderr[-2000:]}")
    load_s, msgs, toks, total_s, steady_n, mps, tps = m.groups()
    return {"detector": detector, "messages": int(msgs), "tokens": int(toks), "batch_size": batch_size,
            "load_s": float(load_s), "total_s": float(total_s), "steady_messages": int(steady_n),
            "steady_msgs_per_s": float(mps), "steady_tokens_per_s": int(tps), "load_avg": os.getloadavg(),
            "stderr_line": m.group(0)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("detector")
    p.add_argument("--baseline", help="a second detector, run alternately on the same input; the ratio is printed")
    p.add_argument("--rounds", type=int, default=2, help="runs per detector with --baseline (the best counts)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out")
    args = p.parse_args()
    if args.rounds < 1 or args.n < 1:
        p.error("--rounds and --n must be at least 1")
    texts = [json.loads(line)["text"] for path in SETS for line in path.read_text().splitlines() if line.strip()]
    rows = [{"id": i, "text": texts[i % len(texts)]} for i in range(args.n)]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    try:
        if not args.baseline:
            out = {**_run(args.detector, fh.name, args.batch_size)}
        else:
            runs: dict[str, list[dict]] = {"detector": [], "baseline": []}
            for _ in range(args.rounds):
                runs["detector"].append(_run(args.detector, fh.name, args.batch_size))
                runs["baseline"].append(_run(args.baseline, fh.name, args.batch_size))
            best = {k: max(r["steady_msgs_per_s"] for r in v) for k, v in runs.items()}
            out = {"detector": args.detector, "baseline": args.baseline, "runs": runs,
                   "best_steady_msgs_per_s": best, "ratio_detector_over_baseline": best["detector"] / best["baseline"]}
    finally:
        os.unlink(fh.name)
    out["torch_threads_env"] = os.environ.get("OMP_NUM_THREADS")
    out["cpu"] = _cpu()
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"unknown x{os.cpu_count()}"


if __name__ == "__main__":
    sys.exit(main())
