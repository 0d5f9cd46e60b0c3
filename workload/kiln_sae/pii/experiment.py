"""A probe experiment from a config: generate data, build what is missing (features, an SAE trained on
chat-like text), train the requested systems, score every system on every evaluation set with one
evaluator, save detectors, emit metrics. ``python -m kiln_sae probe --config workload/configs/pii-best.yaml``
runs the whole pipeline from nothing.

Evaluation sets: the generator's ``test`` split (formats never seen in training) is the ``test`` split of
the protocol's ``probe_eval`` lines; the files named in ``eval_sets`` (the presidio-evaluator set, the
hand-written dev set) are scored the same way and written to ``pii_report.json``."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln_sae.errors import ConfigError
from kiln_sae.metrics import MetricsWriter
from kiln_sae.pii.pipeline import SplitData, predict_split, score, timed, train_detector
from kiln_sae.pii.probe import ProbeTraining

SYSTEM_NAMES = {"sae": "sae_probe", "raw": "raw_probe", "presidio": "presidio"}
GENERATORS = ("compose", "templates")
_KEYS = {"sae", "base_model", "layer", "layers", "context_size", "model_kind", "output_dir", "data", "epochs", "lr",
         "batch_size", "class_weight_power", "systems", "detector", "seed", "context", "weight_decay",
         "input_dropout", "generator", "eval_sets", "sae_build", "extends", "cache_features", "label_seeds",
         "shape", "hidden", "line_breaks", "members"}
SAE_BUILD_DEFAULTS: dict[str, Any] = {"latents": 4096, "k": 32, "epochs": 2, "batch_size": 1024,
                                      "learning_rate": "auto", "warmup_steps": 50, "seed": 0, "conversations": 0}


def log(msg: str) -> None:
    """Progress for the person waiting: stderr, flushed, timestamped (metrics.jsonl keeps the protocol)."""
    print(f"[probe {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class ProbeConfig:
    output_dir: str
    sae: str | None = None
    base_model: str | None = None
    layer: int | None = None
    layers: list[int] | None = None  # several residual streams per token (multi-layer features)
    context_size: int = 128
    model_kind: str = "auto"
    generator: str = "compose"  # "compose" (format-disjoint splits) or "templates" (the v1-v5 generator)
    data: dict[str, int] = field(default_factory=lambda: {"seed": 0, "train": 2000, "val": 400, "test": 600})
    eval_sets: dict[str, str] = field(default_factory=dict)  # name -> labelled JSONL (devset.load_jsonl)
    sae_build: dict[str, Any] | None = None  # train an SAE here when ``sae`` is not given (see SAE_BUILD_DEFAULTS)
    epochs: int = 10
    lr: float = 1e-2
    batch_size: int = 1024
    class_weight_power: float = 0.5
    weight_decay: float = 1e-4
    input_dropout: float = 0.3  # share of input features dropped per token while training (0.3 beat 0 in bench)
    context: int = 2  # neighbour tokens per side fed to the probe (README: 2 beat 1 for the SAE probe)
    systems: list[str] = field(default_factory=lambda: ["sae", "raw", "presidio"])
    detector: str = "sae"  # which probe ships as <output_dir>/detector
    seed: int = 0
    cache_features: bool = True  # keep extracted features in <output_dir>/features (reused by a rerun)
    label_seeds: bool = False  # also choose per-label seed thresholds below the global one on val (pipeline.tune)
    shape: bool = False  # probes also read orthographic bits per token (pii.shape; the default model is uncased)
    hidden: int = 0  # width of a hidden-layer branch beside each probe's linear one (0: linear probes)
    line_breaks: bool = False  # the model reads escaped line breaks as real ones (escape.shown_line_breaks)
    # The SAE probe as an ensemble of this many members, member i on an SAE built with sae_build's seed + i (the
    # probe seed stays ``seed``); their token probabilities are averaged (detector.EnsembleDetector). 1: one probe.
    members: int = 1
    extends: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path = Path(".")) -> "ProbeConfig":
        raw = _with_base(raw, base_dir)
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"probe config: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if "output_dir" not in raw:
            raise ConfigError("probe config: output_dir is required")
        cfg = cls(**{k: v for k, v in raw.items() if k != "_base_dir"})
        bad = [s for s in cfg.systems if s not in SYSTEM_NAMES]
        if bad or not cfg.systems:
            raise ConfigError(f"probe config: systems {bad or '[]'} invalid; choose from sae, raw, presidio")
        if "sae" in cfg.systems and not cfg.sae and cfg.sae_build is None:
            raise ConfigError("probe config: systems includes 'sae' but neither an 'sae' directory nor 'sae_build' "
                              "(train one here) is given")
        if cfg.detector not in ("sae", "raw") or cfg.detector not in cfg.systems:
            raise ConfigError(f"probe config: detector {cfg.detector!r} must be 'sae' or 'raw' and listed in systems")
        for key in ("label_seeds", "shape", "cache_features", "line_breaks"):
            if not isinstance(getattr(cfg, key), bool):
                raise ConfigError(f"probe config: {key} must be true or false, got {getattr(cfg, key)!r}")
        if not isinstance(cfg.hidden, int) or isinstance(cfg.hidden, bool) or not 0 <= cfg.hidden <= 4096:
            raise ConfigError(f"probe config: hidden must be an integer from 0 (linear probe) to 4096, "
                              f"got {cfg.hidden!r}")
        if not isinstance(cfg.members, int) or isinstance(cfg.members, bool) or not 1 <= cfg.members <= 16:
            raise ConfigError(f"probe config: members must be an integer from 1 (one SAE probe) to 16, "
                              f"got {cfg.members!r}")
        if cfg.members > 1 and (cfg.sae or cfg.sae_build is None):
            raise ConfigError(f"probe config: members: {cfg.members} trains one SAE per member, so it needs "
                              f"sae_build (the recipe) instead of a trained sae; set members: 1 to use that SAE")
        if cfg.generator not in GENERATORS:
            raise ConfigError(f"probe config: generator {cfg.generator!r}; choose from {', '.join(GENERATORS)}")
        data = {"seed": 0, "train": 2000, "val": 400, "test": 600, **cfg.data}
        if set(data) - {"seed", "train", "val", "test"} or any(not isinstance(v, int) or v < 0 for v in data.values()):
            raise ConfigError(f"probe config: data must be {{seed, train, val, test}} non-negative ints, got {cfg.data}")
        cfg.data = data
        if cfg.sae_build is not None:
            unknown_b = set(cfg.sae_build) - set(SAE_BUILD_DEFAULTS)
            if unknown_b:
                raise ConfigError(f"probe config: sae_build has unknown keys {sorted(unknown_b)}; "
                                  f"allowed: {sorted(SAE_BUILD_DEFAULTS)}")
            cfg.sae_build = {**SAE_BUILD_DEFAULTS, **cfg.sae_build}
        if cfg.layers is not None and (not isinstance(cfg.layers, list) or not cfg.layers
                                       or not all(isinstance(x, int) and x >= 0 for x in cfg.layers)):
            raise ConfigError(f"probe config: layers must be a non-empty list of block indices, got {cfg.layers}")
        for key in ("sae", "output_dir"):
            v = getattr(cfg, key)
            if v and not Path(v).is_absolute():
                setattr(cfg, key, str(base_dir / v))
        sets_dir = Path(raw.get("_base_dir", base_dir))
        cfg.eval_sets = {k: (v if Path(v).is_absolute() else str(sets_dir / v)) for k, v in cfg.eval_sets.items()}
        return cfg


def _with_base(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``extends: FILE`` merges FILE's keys under this config's (paths in FILE's ``eval_sets`` stay relative to
    FILE). The sae-pii job uses this to start from workload/configs/pii-best.yaml."""
    if not raw.get("extends"):
        return dict(raw)
    import yaml

    path = Path(raw["extends"])
    path = path if path.is_absolute() else base_dir / path
    try:
        base = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"probe config: extends {path}: cannot read it ({e})") from e
    base.pop("output_dir", None)
    base_sets = {k: (v if Path(v).is_absolute() else str(path.parent / v)) for k, v in base.get("eval_sets", {}).items()}
    merged = {**base, **{k: v for k, v in raw.items() if k != "extends"}}
    if "eval_sets" not in raw:
        merged["eval_sets"] = base_sets
    if raw.get("sae") and "layers" not in raw:
        merged.pop("layers", None)  # an SAE given here fixes the layers (its meta), not the base's choice
        merged.pop("sae_build", None)
    if raw.get("sae") and "members" not in raw:
        merged.pop("members", None)  # and is the one member: the base's ensemble is of SAEs it builds
    return merged


def _generator(cfg: ProbeConfig):
    if cfg.generator == "compose":
        from kiln_sae.pii.compose import ComposeGenerator

        return ComposeGenerator(seed=cfg.data["seed"])
    from kiln_sae.pii.generate import Generator

    return Generator(seed=cfg.data["seed"])


def features_key(model: str, layers: list[int] | int, context_size: int, texts: list[str],
                 line_breaks: bool = False) -> str:
    """The features cache's file key: the model, its layers, the context size, exactly these texts and how
    their escaped line breaks are read (absent when as written, so older caches keep their keys)."""
    parts: list[Any] = [model, layers, context_size, texts] + (["line_breaks"] if line_breaks else [])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _features(source, name: str, examples: list, cache_dir: Path | None) -> SplitData:
    """Features of ``examples``, from ``cache_dir`` when a file for exactly these texts and this model exists."""
    import torch

    key = features_key(source.loaded.name, getattr(source, "layers", None) or source.loaded.layer,
                       source.context_size, [e.text for e in examples], getattr(source, "line_breaks", False))
    path = cache_dir / f"{name}-{key}.pt" if cache_dir is not None else None
    if path is not None and path.exists():
        log(f"{name}: {len(examples)} messages, features from cache {path.name}")
        return SplitData(examples, torch.load(path, weights_only=False))
    log(f"{name}: extracting features of {len(examples)} messages")
    feats = []
    step = max(1, len(examples) // 10)
    t0 = time.perf_counter()
    for i in range(0, len(examples), step):
        feats += source.extract([e.text for e in examples[i:i + step]])
        log(f"{name}: {len(feats)}/{len(examples)} messages ({time.perf_counter() - t0:.0f}s)")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(feats, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return SplitData(examples, feats)


def build_sae(cfg: ProbeConfig, train: SplitData, gen, source, cache_dir: Path | None, member: int = 0) -> Path:
    """Train an SAE on chat-like text: the train split's activations (plus ``conversations`` more generated
    train-format conversations), through ``python -m kiln_sae train --activations`` — the same trainer
    every SAE uses. Reused when ``<output_dir>/sae_build/sae`` already holds one of this recipe. Ensemble
    member i > 0 gets its own, seeded sae_build's seed + i, in ``sae_build-<i>``."""
    import yaml

    b = dict(cfg.sae_build or SAE_BUILD_DEFAULTS)
    b["seed"] = int(b["seed"]) + member
    work = Path(cfg.output_dir) / ("sae_build" if member == 0 else f"sae_build-{member}")
    # The train texts' hash, not only the generator's name and seed: a changed generator must retrain the SAE.
    texts = hashlib.sha256(json.dumps([e.text for e in train.examples]).encode()).hexdigest()
    recipe = {"build": b, "layers": getattr(source, "layers", None) or [source.loaded.layer],
              "model": source.loaded.name, "generator": cfg.generator, "data": cfg.data, "train_texts_sha256": texts}
    done = work / "sae" / "meta.json"
    if done.exists() and json.loads((work / "recipe.json").read_text()) == recipe:
        log(f"SAE: reusing {work / 'sae'}")
        return work / "sae"
    work.mkdir(parents=True, exist_ok=True)
    n_tokens, width, n_val = _write_sae_acts(b, train, gen, source, cache_dir, work / "acts.safetensors")
    train_cfg = {"base_model": source.loaded.name, "layer": source.loaded.layer, "context_size": cfg.context_size,
                 "latents": int(b["latents"]), "k": int(b["k"]), "epochs": b["epochs"],
                 "batch_size": int(b["batch_size"]), "learning_rate": b["learning_rate"],
                 "warmup_steps": int(b["warmup_steps"]), "seed": int(b["seed"]), "log_every": 50,
                 "output_dir": str(work), "activation_cache": "memory", "device": "auto", "resume_from": "none"}
    (work / "sae.yaml").write_text(yaml.safe_dump(train_cfg))
    log(f"SAE: training {b['latents']} latents, k={b['k']}, on {n_tokens - n_val} tokens × {width} "
        f"({b['epochs']} epochs; python -m kiln_sae train, metrics in {work / 'metrics.jsonl'})")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kiln_sae", "train", "--config", str(work / "sae.yaml"),
                           "--activations", str(work / "acts.safetensors"), "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"SAE training failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    (work / "acts.safetensors").unlink()
    meta = json.loads(done.read_text())
    meta["layers"] = recipe["layers"]  # its input is these residual streams concatenated (features.MultiLayerModel)
    done.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"SAE: trained in {time.perf_counter() - t0:.0f}s")
    (work / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return work / "sae"


def _write_sae_acts(b: dict[str, Any], train: SplitData, gen, source, cache_dir: Path | None,
                    path: Path) -> tuple[int, int, int]:
    """Write the SAE's train/val activations to ``path``; returns (tokens, width, val tokens). A function of
    its own so the extra corpus's features and every copy of the activations are freed when it returns,
    before the trainer (another process) loads them: holding them through training took 14.5 GB for
    ``conversations: 8000`` and the run was OOM-killed (v11)."""
    import torch
    from safetensors.torch import save_file

    feats = list(train.feats)
    if b["conversations"]:
        from kiln_sae.pii.generate import Example

        texts = ["\n\n".join(t["content"] for t in conv) for conv in gen.conversations(int(b["conversations"]))]
        feats += _features(source, "sae_corpus", [Example(t, [], "sae", "sae", "train", "") for t in texts],
                           cache_dir).feats
    acts = torch.cat([f.acts[torch.from_numpy(f.valid)] for f in feats])
    del feats
    perm = torch.randperm(len(acts), generator=torch.Generator().manual_seed(int(b["seed"])))
    n_val = max(1024, len(acts) // 20)
    save_file({"train": acts[perm[n_val:]].contiguous(), "val": acts[perm[:n_val]].contiguous()}, str(path))
    return int(acts.shape[0]), int(acts.shape[1]), n_val


def run_experiment(cfg: ProbeConfig, metrics: MetricsWriter) -> dict[str, Any]:
    from kiln_sae.pii.devset import load_jsonl
    from kiln_sae.pii.features import FeatureSource

    out = Path(cfg.output_dir)
    sae, act_scale, meta = None, 1.0, {}
    if cfg.sae:
        from kiln_sae.checkpoint import load_sae

        sae, meta = load_sae(cfg.sae)
        act_scale = float(meta.get("act_scale", 1.0))
    base_model = cfg.base_model or meta.get("base_model")
    layer = cfg.layer if cfg.layer is not None else meta.get("layer")
    layers = cfg.layers if not cfg.sae else meta.get("layers")
    if layers:
        layer = max(layers)
    if base_model is None or layer is None:
        raise ConfigError("probe config: give base_model and layer (or an sae whose meta.json names them)")
    log(f"loading {base_model} (layers {layers or [layer]}, context {cfg.context_size})")
    source = FeatureSource(str(base_model), int(layer), context_size=cfg.context_size, model_kind=cfg.model_kind,
                           layers=layers, line_breaks=cfg.line_breaks)
    gen = _generator(cfg)
    cache_dir = out / "features" if cfg.cache_features else None
    splits = {s: gen.examples(s, cfg.data[s]) for s in ("train", "val", "test")}
    (data, extract_s) = timed(lambda: {s: _features(source, s, ex, cache_dir) for s, ex in splits.items()})
    extra: dict[str, SplitData] = {}
    for name, path in cfg.eval_sets.items():
        if not Path(path).exists():
            log(f"eval set {name}: {path} not found, skipped")
            continue
        extra[name] = _features(source, name, load_jsonl(path, name), cache_dir)
    sae_dir = cfg.sae
    if "sae" in cfg.systems and sae is None:
        from kiln_sae.checkpoint import load_sae

        sae_dir = str(build_sae(cfg, data["train"], gen, source, cache_dir))
        sae, meta = load_sae(sae_dir)
        act_scale = float(meta.get("act_scale", 1.0))
    train_cfg = ProbeTraining(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                              class_weight_power=cfg.class_weight_power, seed=cfg.seed,
                              weight_decay=cfg.weight_decay, input_dropout=cfg.input_dropout, hidden=cfg.hidden)
    report: dict[str, Any] = {"config": {k: v for k, v in cfg.__dict__.items()}, "extract_s": extract_s,
                              "sae": {"dir": sae_dir, "meta": meta}, "systems": {},
                              "sets": {"test": len(data["test"].examples), **{k: len(v.examples) for k, v in extra.items()}}}
    test = data["test"]
    eval_on = {"test": test, **extra}
    for short in cfg.systems:
        name = SYSTEM_NAMES[short]
        results: dict[str, Any] = {}
        if short == "presidio":
            from kiln_sae.pii.presidio_baseline import PresidioBaseline

            log("presidio: scoring the evaluation sets")
            engine, load_s = timed(PresidioBaseline)
            info: dict[str, Any] = {"load_s": load_s}
            predict = engine.predict
        else:
            log(f"{name}: training ({cfg.epochs} epochs)")
            det, info = train_detector(name, source, data["train"], data["val"], train_cfg, sae, act_scale,
                                       cfg.context, log=log, label_seeds=cfg.label_seeds, shape=cfg.shape)
            if short == "sae" and cfg.members > 1:
                assert sae_dir is not None
                det, info = _train_ensemble(cfg, det, info, sae_dir, data, gen, source, cache_dir, train_cfg,
                                            eval_on)
            target = out / ("detector" if short == cfg.detector else f"detector-{short}")
            for f in det.save(target, sae_dir if short == "sae" and cfg.members == 1 else None):
                from kiln_sae.checkpoint import sha256_file

                metrics.emit("artifact", path=str(f.relative_to(out)), sha256=sha256_file(f), bytes=f.stat().st_size,
                             role="detector")
            predict = None
        for set_name, sd in eval_on.items():
            if predict is not None:
                preds, pred_s = timed(lambda sd=sd: predict(sd.texts))
            else:
                preds, pred_s = timed(lambda sd=sd: predict_split(det, sd))  # noqa: B023 - called immediately
            reports = score(sd.gold, preds, sd.texts, sd.ignore)
            results[set_name] = {"predict_s": pred_s, **{m: r.to_dict() for m, r in reports.items()}}
            log(f"{name} on {set_name}: overlap F1 {reports['overlap'].micro['f1']:.3f}, exact "
                f"{reports['exact'].micro['f1']:.3f}, label-agnostic {reports['agnostic'].micro['f1']:.3f}")
            # The synthetic test split and every evaluation set (presidio-evaluator, the hand-written dev set)
            # each get their lines: the report tabulates all of them, not the split we generated alone.
            for match in ("exact", "overlap"):
                rep = reports[match]
                metrics.emit("probe_eval", system=name, split=set_name, match=match, micro=_public(rep.micro),
                             per_label={k: _public(v) for k, v in rep.per_label.items()})
        report["systems"][name] = {"info": info, **results["test"], "sets": results}
    path = out / "pii_report.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    from kiln_sae.checkpoint import sha256_file

    metrics.emit("artifact", path=str(path.relative_to(out)), sha256=sha256_file(path), bytes=path.stat().st_size,
                 role="report")
    return report


def _train_ensemble(cfg: ProbeConfig, first: Any, first_info: dict[str, Any], sae_dir: str,
                    data: dict[str, SplitData], gen, source, cache_dir: Path | None, train_cfg: ProbeTraining,
                    eval_on: dict[str, SplitData]) -> tuple[Any, dict[str, Any]]:
    """The SAE probe as ``cfg.members`` members: ``first`` (on the SAE already built) and one more probe per
    further SAE seed, averaged, the average's decoding chosen on val like a single probe's. Each member's
    own overlap F1 on every set is kept beside the ensemble's (``members``)."""
    from kiln_sae.checkpoint import load_sae
    from kiln_sae.pii.detector import EnsembleDetector
    from kiln_sae.pii.pipeline import tune

    members, infos, dirs = [first], [first_info], [sae_dir]
    for i in range(1, cfg.members):
        member_dir = str(build_sae(cfg, data["train"], gen, source, cache_dir, member=i))
        sae, meta = load_sae(member_dir)
        log(f"sae_probe member {i + 1}/{cfg.members}: training ({cfg.epochs} epochs)")
        det, info = train_detector("sae_probe", source, data["train"], data["val"], train_cfg, sae,
                                   float(meta.get("act_scale", 1.0)), cfg.context, log=log,
                                   label_seeds=cfg.label_seeds, shape=cfg.shape)
        members.append(det)
        infos.append(info)
        dirs.append(member_dir)
    ensemble = EnsembleDetector.of(members, dirs)
    log(f"sae_probe: choosing the {cfg.members}-member average's decoding settings on val")
    info = tune(ensemble, data["val"], label_seeds=cfg.label_seeds)
    summary = []
    for det, member_info, member_dir in zip(members, infos, dirs, strict=True):
        sets = {name: score(sd.gold, predict_split(det, sd), sd.texts, sd.ignore)["overlap"].micro["f1"]
                for name, sd in eval_on.items()}
        summary.append({"sae_dir": member_dir, "val_overlap_f1": member_info["val_overlap_f1"],
                        "train_s": member_info["train_s"], "overlap_f1": sets})
    log("sae_probe members' overlap F1: " + "; ".join(
        f"{i}: val {m['val_overlap_f1']:.3f}, " + ", ".join(f"{k} {v:.3f}" for k, v in m["overlap_f1"].items())
        for i, m in enumerate(summary)))
    return ensemble, {**info, "train_s": sum(m["train_s"] for m in summary), "members": summary}


def _public(scores: dict[str, float | int]) -> dict[str, float | int]:
    return {k: scores[k] for k in ("precision", "recall", "f1", "f2", "support")}
