"""Three evaluations side by side from ``probe`` runs: the synthetic test split (formats never seen in
training), the presidio-evaluator set and the hand-written dev set, for every system, with the spread over
runs that retrained the SAE (different ``sae_build.seed``) — not only the probe.

    .venv/bin/python bench/pii_quality/report.py RUN_DIR [RUN_DIR ...] --out bench/results/pii_quality_v6.json
        [--md bench/results/pii_quality_v6.md] [--command "..."] [--throughput FILE.json]

Each RUN_DIR is a ``probe`` output directory (``pii_report.json``); the first is the shipped one (its
per-label tables are printed), all of them go into the mean ± sd.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETS = ("test", "presidio_evaluator", "dev")
SET_TITLES = {"test": "synthetic test (unseen formats)", "presidio_evaluator": "presidio-evaluator",
              "dev": "hand-written dev"}
MATCHES = ("overlap", "exact", "agnostic")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _rel(p: str | None) -> str | None:
    if not p:
        return p
    path = Path(p).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else p


def _rel_all(obj):
    """Every absolute path inside the repository, anywhere in a run's report, made relative to its root
    (a result file must not carry the paths of the machine that produced it)."""
    if isinstance(obj, dict):
        return {k: _rel_all(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rel_all(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(str(ROOT) + "/"):
        return _rel(obj)
    return obj


LOG_LINE = re.compile(r"\] (\w+) on (\w+): overlap F1 ([\d.]+), exact ([\d.]+), label-agnostic ([\d.]+)")


def parse_log(path: Path) -> dict:
    out: dict = {}
    for m in LOG_LINE.finditer(path.read_text()):
        system, set_name, o, e, a = m.groups()
        out.setdefault(system, {})[set_name] = {"overlap": float(o), "exact": float(e), "agnostic": float(a)}
    return out


def summarise(reports: list[dict], logged: list[dict] | None = None) -> dict:
    systems = list(reports[0]["systems"])
    out: dict = {}
    for s in systems:
        out[s] = {}
        for set_name in SETS:
            if set_name not in reports[0]["systems"][s]["sets"]:
                continue
            row = {}
            for m in MATCHES:
                f1s = [r["systems"][s]["sets"][set_name][m]["micro"]["f1"] for r in reports
                       if set_name in r["systems"].get(s, {}).get("sets", {})]  # runs that reached s
                f1s += [lr["micro_f1"][s][set_name][m] for lr in logged or []
                        if set_name in lr["micro_f1"].get(s, {})]
                first = reports[0]["systems"][s]["sets"][set_name][m]["micro"]
                row[m] = {"precision": first["precision"], "recall": first["recall"], "f1": first["f1"],
                          "f1_runs": f1s, "f1_mean": statistics.mean(f1s),
                          "f1_sd": statistics.stdev(f1s) if len(f1s) > 1 else 0.0}
            out[s][set_name] = row
    return out


def markdown(result: dict) -> str:
    summ, first = result["summary"], result["runs"][0]["report"]
    systems = list(summ)
    seeds = [r["sae_seed"] for r in result["runs"]] + [r["sae_seed"] for r in result.get("logged_runs", [])]
    lines = ["Overlap micro-F1 (IoU ≥ 0.5, same label) / exact / label-agnostic overlap; "
             f"mean ± sd over the runs that each retrained the SAE (SAE seeds {seeds}; a system's spread "
             "counts only the runs that reached it), P/R of the first run:\n",
             "| system | " + " | ".join(SET_TITLES[s] for s in SETS) + " |", "|---|" + "---|" * len(SETS)]
    for s in systems:
        cells = []
        for set_name in SETS:
            if set_name not in summ[s]:
                cells.append("—")
                continue
            o, e, a = (summ[s][set_name][m] for m in MATCHES)
            spread = f" ± {o['f1_sd']:.3f}" if len(o["f1_runs"]) > 1 else " (1 run)"
            cells.append(f"**{o['f1_mean']:.3f}{spread}** (P {o['precision']:.2f} R {o['recall']:.2f}) / "
                         f"{e['f1_mean']:.3f} / {a['f1_mean']:.3f}")
        lines.append(f"| {s.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines.append("")
    for set_name in SETS:
        if set_name not in first["systems"][systems[0]]["sets"]:
            continue
        lines.append(f"Per label, overlap P / R / F1, {SET_TITLES[set_name]} ({first['sets'][set_name]} messages), "
                     "first run:\n")
        lines.append("| label | support | " + " | ".join(s.replace("_", " ") for s in systems) + " |")
        lines.append("|---|---:|" + "---|" * len(systems))
        per = {s: first["systems"][s]["sets"][set_name]["overlap"]["per_label"] for s in systems}
        for lab in per[systems[0]]:
            sup = per[systems[0]][lab]["support"]
            if sup == 0 and all(per[s][lab]["fp"] == 0 for s in systems):
                continue
            cells = [f"{per[s][lab]['precision']:.2f} / {per[s][lab]['recall']:.2f} / **{per[s][lab]['f1']:.2f}**"
                     for s in systems]
            lines.append(f"| {lab} | {sup} | " + " | ".join(cells) + " |")
        errs = {s: first["systems"][s]["sets"][set_name]["overlap"]["errors"][:6] for s in systems}
        lines.append("")
        for s in systems:
            lines.append(f"- {s} commonest errors: " + ", ".join(f"{e['error']} ×{e['count']}" for e in errs[s]))
        lines.append("")
    if result.get("commands"):
        lines += ["Commands:", ""] + [f"- `{c}`" for c in result["commands"]] + [""]
    if result.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--md")
    p.add_argument("--command", action="append", default=[], help="a command that produced the runs (repeatable)")
    p.add_argument("--throughput", help="JSON from bench/pii_quality/throughput.py to include")
    p.add_argument("--note", action="append", default=[])
    p.add_argument("--log-run", action="append", default=[], metavar="SEED=STDERR_LOG",
                   help="a run stopped after its SAE probe: its micro F1s from the probe's stderr lines "
                        "('SYSTEM on SET: overlap F1 x, exact y, label-agnostic z') join the spread")
    args = p.parse_args()
    runs = []
    for d in args.runs:
        rep = json.loads((Path(d) / "pii_report.json").read_text())
        seed = (rep["config"].get("sae_build") or {}).get("seed")
        members = int(rep["config"].get("members") or 1)
        if seed is not None and members > 1:  # an ensemble: member i's SAE has seed + i
            seed = f"{seed}-{seed + members - 1}"
        runs.append({"dir": _rel(d), "sae_seed": seed, "report": _rel_all(rep)})
    logged = []
    for item in args.log_run:
        seed, path = item.split("=", 1)
        logged.append({"sae_seed": int(seed), "log": _rel(path), "micro_f1": parse_log(Path(path))})
    result = {"bench": Path(args.out).stem, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpu_count": os.cpu_count(), "processor": _cpu(), "platform": platform.platform(),
                          "load_avg_at_report": os.getloadavg(), "gpu": None},
              "commands": args.command, "notes": args.note,
              "summary": summarise([r["report"] for r in runs], logged), "runs": runs, "logged_runs": logged}
    if args.throughput:
        result["throughput"] = json.loads(Path(args.throughput).read_text())
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.md:
        Path(args.md).write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
