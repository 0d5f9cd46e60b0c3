"""The independent evaluation set: sentences from PyPI ``presidio-evaluator``'s own generator and templates.

    .venv/bin/python bench/pii_quality/presidio_evaluator_set.py [--n 600] [--seed 42]
        [--out bench/pii_quality/data/presidio_evaluator.jsonl]
    .venv/bin/python bench/pii_quality/presidio_evaluator_set.py --remap
        (maps the committed sentences' source spans again after a change to the mapping; no generator run)

We did not write this generator: ``PresidioSentenceFaker`` (presidio-evaluator 0.3.2, its 209 bundled templates,
its Faker providers and its 3,000-row fake-person table). It runs in a side venv ``bench/.work/presidio-eval-venv``
(built on first use; it sees our site-packages through a .pth and installs only what we lack — plotly,
presidio-anonymizer — pinned by our lock), so the workload's dependencies do not change. Offline it works as
shipped: the generator needs no spaCy model and no network.

The generator is asked to keep its template placeholder names (identity entity mapping), and this script maps
them to Kiln's labels with ``kiln_sae.pii.rules.PRESIDIO_EVALUATOR_MAP`` (the table is in docs/pii-labels.md):
placeholders with no Kiln label (organisation, job, age, nationality, non-birth dates, ...) become *ignore*
regions — a prediction there is neither a hit nor a false positive. Adjacent parts of one entity are merged
the way our label rules say (``{{building_number}} {{street_name}}`` is one ADDRESS; ``{{first_name}}
{{last_name}}`` one PERSON). The mapped set is committed, so every system is scored on the same sentences.
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
VENV = ROOT / "bench" / ".work" / "presidio-eval-venv"
VERSION = "0.3.2"
OUT = ROOT / "bench" / "pii_quality" / "data" / "presidio_evaluator.jsonl"

CHILD = r"""
import json, sys
from presidio_evaluator.data_generator import PresidioSentenceFaker
n, seed = int(sys.argv[1]), int(sys.argv[2])
base = PresidioSentenceFaker(locale="en_US", lower_case_ratio=0.05, random_seed=seed)
names = sorted(set(base._entity_type_mapping))
faker = PresidioSentenceFaker(locale="en_US", lower_case_ratio=0.05, random_seed=seed,
                              entity_type_mapping={k: k for k in names})
for s in faker.generate_new_fake_sentences(num_samples=n):
    print(json.dumps({"text": s.full_text, "template_id": s.template_id,
                      "spans": [{"start": sp.start_position, "end": sp.end_position, "type": sp.entity_type,
                                 "value": sp.entity_value} for sp in s.spans]}))
"""


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        Path(site, "kiln-base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if subprocess.run([str(py), "-c", "import presidio_evaluator"], capture_output=True).returncode != 0:
        lock = [ln.split("#")[0].strip() for ln in (ROOT / "workload" / "constraints.txt").read_text().splitlines()
                if "==" in ln and not ln.startswith("#")]
        constraints = VENV / "constraints.txt"
        constraints.write_text("\n".join(lock) + "\n")
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints),
                               f"presidio-evaluator=={VERSION}"], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"presidio-evaluator {VERSION} did not install beside our lock:\n{done.stderr[-3000:]}")
    return py


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=600)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--remap", action="store_true", help="map the committed sentences again; no generator run")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "workload"))
    from kiln_sae.pii.rules import map_presidio_evaluator

    out = Path(args.out)
    if args.remap:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [{"text": r["text"], "template_id": r["template_id"], "spans": r["source_spans"]} for r in rows]
        source = "its committed source spans"
    else:
        rows = generate(args.n, args.seed)
        source = f"presidio-evaluator {VERSION}, seed {args.seed}"
    tmp = out.with_suffix(".jsonl.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            spans, ignore = map_presidio_evaluator(row["text"], row["spans"])
            rec = {"id": f"pe-{i:04d}", "text": row["text"], "template_id": row["template_id"],
                   "spans": [s.to_dict(row["text"]) for s in spans], "ignore": [s.to_dict(row["text"]) for s in ignore],
                   "source_spans": row["spans"]}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(out)
    print(f"wrote {len(rows)} sentences to {out} ({source})")
    return 0


def generate(n: int, seed: int) -> list[dict]:
    py = ensure_venv()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(py), "-c", CHILD, str(n), str(seed)], capture_output=True, text=True,
                          timeout=1800, env=env)
    if done.returncode != 0:
        raise SystemExit(f"presidio-evaluator generator failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


if __name__ == "__main__":
    sys.exit(main())
