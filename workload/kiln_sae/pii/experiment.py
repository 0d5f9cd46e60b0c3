"""A probe experiment from a config: generate data, extract features once, train the requested systems,
score everything with one evaluator on the template-disjoint test split, save detectors, emit metrics."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln_sae.errors import ConfigError
from kiln_sae.metrics import MetricsWriter
from kiln_sae.pii.generate import Generator
from kiln_sae.pii.pipeline import featurize, predict_split, score, timed, train_detector
from kiln_sae.pii.probe import ProbeTraining

SYSTEM_NAMES = {"sae": "sae_probe", "raw": "raw_probe", "presidio": "presidio"}
_KEYS = {"sae", "base_model", "layer", "context_size", "model_kind", "output_dir", "data", "epochs", "lr",
         "batch_size", "class_weight_power", "systems", "detector", "seed", "context",
         "weight_decay", "input_dropout"}


@dataclass
class ProbeConfig:
    output_dir: str
    sae: str | None = None
    base_model: str | None = None
    layer: int | None = None
    context_size: int = 256
    model_kind: str = "auto"
    data: dict[str, int] = field(default_factory=lambda: {"seed": 0, "train": 2000, "val": 400, "test": 600})
    epochs: int = 30
    lr: float = 1e-2
    batch_size: int = 1024
    class_weight_power: float = 0.5
    weight_decay: float = 1e-4
    input_dropout: float = 0.0  # share of input features dropped per token while training (0.3 was best in bench)
    context: int = 2  # neighbour tokens per side fed to the probe (README: 2 beat 1 for the SAE probe)
    systems: list[str] = field(default_factory=lambda: ["sae", "raw", "presidio"])
    detector: str = "sae"  # which probe ships as <output_dir>/detector
    seed: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path = Path(".")) -> "ProbeConfig":
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"probe config: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if "output_dir" not in raw:
            raise ConfigError("probe config: output_dir is required")
        cfg = cls(**{k: v for k, v in raw.items()})
        bad = [s for s in cfg.systems if s not in SYSTEM_NAMES]
        if bad or not cfg.systems:
            raise ConfigError(f"probe config: systems {bad or '[]'} invalid; choose from sae, raw, presidio")
        if "sae" in cfg.systems and not cfg.sae:
            raise ConfigError("probe config: systems includes 'sae' but no 'sae' directory is given")
        if cfg.detector not in ("sae", "raw") or cfg.detector not in cfg.systems:
            raise ConfigError(f"probe config: detector {cfg.detector!r} must be 'sae' or 'raw' and listed in systems")
        data = {"seed": 0, "train": 2000, "val": 400, "test": 600, **cfg.data}
        if set(data) - {"seed", "train", "val", "test"} or any(not isinstance(v, int) or v < 0 for v in data.values()):
            raise ConfigError(f"probe config: data must be {{seed, train, val, test}} non-negative ints, got {cfg.data}")
        cfg.data = data
        for key in ("sae", "output_dir"):
            v = getattr(cfg, key)
            if v and not Path(v).is_absolute():
                setattr(cfg, key, str(base_dir / v))
        return cfg


def run_experiment(cfg: ProbeConfig, metrics: MetricsWriter) -> dict[str, Any]:
    from kiln_sae.pii.features import FeatureSource

    out = Path(cfg.output_dir)
    sae, act_scale, meta = None, 1.0, {}
    if cfg.sae:
        from kiln_sae.checkpoint import load_sae

        sae, meta = load_sae(cfg.sae)
        act_scale = float(meta.get("act_scale", 1.0))
    base_model = cfg.base_model or meta.get("base_model")
    layer = cfg.layer if cfg.layer is not None else meta.get("layer")
    if base_model is None or layer is None:
        raise ConfigError("probe config: give base_model and layer (or an sae whose meta.json names them)")
    source = FeatureSource(str(base_model), int(layer), context_size=cfg.context_size, model_kind=cfg.model_kind)
    gen = Generator(seed=cfg.data["seed"])
    splits = {s: gen.examples(s, cfg.data[s]) for s in ("train", "val", "test")}
    (data, extract_s) = timed(lambda: {s: featurize(source, ex) for s, ex in splits.items()})
    train_cfg = ProbeTraining(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                              class_weight_power=cfg.class_weight_power, seed=cfg.seed,
                              weight_decay=cfg.weight_decay, input_dropout=cfg.input_dropout)
    report: dict[str, Any] = {"config": cfg.__dict__, "extract_s": extract_s, "systems": {}}
    test = data["test"]
    for short in cfg.systems:
        name = SYSTEM_NAMES[short]
        if short == "presidio":
            from kiln_sae.pii.presidio_baseline import PresidioBaseline

            preds, pred_s = timed(lambda: PresidioBaseline().predict(test.texts))
            info: dict[str, Any] = {"predict_s": pred_s}
        else:
            det, info = train_detector(name, source, data["train"], data["val"], train_cfg, sae, act_scale,
                                       cfg.context)
            preds, pred_s = timed(lambda: predict_split(det, test))  # noqa: B023 - called immediately
            info["predict_s_from_features"] = pred_s
            target = out / ("detector" if short == cfg.detector else f"detector-{short}")
            for f in det.save(target, cfg.sae if short == "sae" else None):
                from kiln_sae.checkpoint import sha256_file

                metrics.emit("artifact", path=str(f.relative_to(out)), sha256=sha256_file(f), bytes=f.stat().st_size,
                             role="detector")
        reports = score(test.gold, preds)
        for match, rep in reports.items():
            metrics.emit("probe_eval", system=name, split="test", match=match, micro=_public(rep.micro),
                         per_label={k: _public(v) for k, v in rep.per_label.items()})
        report["systems"][name] = {"info": info, **{m: r.to_dict() for m, r in reports.items()}}
    path = out / "pii_report.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    from kiln_sae.checkpoint import sha256_file

    metrics.emit("artifact", path=str(path.relative_to(out)), sha256=sha256_file(path), bytes=path.stat().st_size,
                 role="report")
    return report


def _public(scores: dict[str, float | int]) -> dict[str, float | int]:
    return {k: scores[k] for k in ("precision", "recall", "f1", "f2", "support")}
