"""Train and evaluate detectors on generated data: the shared core of ``probe`` and ``bench/pii_quality``.

Features are extracted once per split and reused by both probes, so the SAE probe and the raw probe see
exactly the same tokens and labels, and all systems go through the same evaluator."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kiln_sae.pii.align import bio_tags
from kiln_sae.pii.detector import FROM_SPEC, SAE_SYSTEMS, SYSTEMS, Detector, DetectorSpec
from kiln_sae.pii.evaluate import SpanReport, evaluate
from kiln_sae.pii.features import FeatureSource, TokenFeatures
from kiln_sae.pii.generate import Example
from kiln_sae.pii.labels import LABELS, TAGS, Span
from kiln_sae.pii.probe import DenseLinearProbe, HybridProbe, ProbeTraining, SparseLinearProbe, train_probe

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
EXTENDS = (None, 0.5, 0.3, 0.1)  # hysteresis levels tried with each threshold (None: off)


@dataclass
class SplitData:
    examples: list[Example]
    feats: list[TokenFeatures]

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def gold(self) -> list[list[Span]]:
        return [e.spans for e in self.examples]


def featurize(source: FeatureSource, examples: list[Example]) -> SplitData:
    return SplitData(examples, source.extract([e.text for e in examples]))


def _token_tags(data: SplitData) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([bio_tags(f.offsets, f.valid, e.spans)
                                            for e, f in zip(data.examples, data.feats, strict=True)]))


def train_detector(system: str, source: FeatureSource, train: SplitData, val: SplitData, cfg: ProbeTraining,
                   sae: Any = None, act_scale: float = 1.0, context: int = 0) -> tuple[Detector, dict[str, Any]]:
    """Fit a probe on ``train`` and choose its decoding settings on ``val`` (``tune``)."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown probe system {system!r}")
    tags = _token_tags(train)
    raw_width = int(train.feats[0].acts.shape[1]) * (2 * context + 1)
    n_features = sae.n_latents * (2 * context + 1) if system in SAE_SYSTEMS else raw_width
    loaded = source.loaded
    spec = DetectorSpec(system=system, base_model=loaded.name, layer=loaded.layer, context_size=source.context_size,
                        n_features=int(n_features), act_scale=float(act_scale), context=context,
                        n_raw_features=raw_width if system == "sae_raw_probe" else 0)
    probe: torch.nn.Module = (SparseLinearProbe(n_features, len(TAGS)) if system == "sae_probe"
                              else HybridProbe(n_features, raw_width, len(TAGS)) if system == "sae_raw_probe"
                              else DenseLinearProbe(n_features, len(TAGS)))
    det = Detector(spec, probe, source, sae)
    per_text = [det.inputs(f) for f in train.feats]
    inputs = tuple(torch.cat([row[i] for row in per_text]) for i in range(len(per_text[0])))
    t0 = time.perf_counter()
    losses = train_probe(probe, inputs, tags, len(TAGS), cfg)
    train_s = time.perf_counter() - t0
    info = tune(det, val)
    return det, {"train_tokens": int((tags != -100).sum()), "final_loss": losses[-1], "train_s": train_s, **info}


def tune(det: Detector, val: SplitData) -> dict[str, Any]:
    """Choose the decoding settings on ``val`` (never on test) and write them into ``det.spec``, in steps
    whose val F1 is kept for the ablation: a global threshold without span validation, then with it,
    then threshold x hysteresis (``extend``), then per-label floors."""
    probs = [det.probs(f) for f in val.feats]

    def f1(th: float, check: bool, ext: float | None) -> float:
        preds = [[s for s, _ in det.spans_from_features(t, f, th, p, check, floors=False, extend=ext)]
                 for t, f, p in zip(val.texts, val.feats, probs, strict=True)]
        return float(evaluate(val.gold, preds, match="overlap", labels=LABELS).micro["f1"])

    def best(sweep: dict[Any, float]) -> tuple[Any, float]:
        return max(sweep.items(), key=lambda kv: (kv[1], -kv[0][0] if isinstance(kv[0], tuple) else -kv[0]))

    plain = {th: f1(th, False, None) for th in THRESHOLDS}
    checked = {th: f1(th, True, None) for th in THRESHOLDS}
    grid = {(th, ext): (checked[th] if ext is None else f1(th, True, ext))
            for th in THRESHOLDS if th >= 0.5 for ext in EXTENDS if ext is None or ext < th}
    (th, ext), grid_f1 = best(grid)
    # Ships with validation (it is part of the detector); the other steps are kept for the ablation.
    det.spec.validate, det.spec.threshold, det.spec.extend_threshold = True, th, ext
    det.spec.label_thresholds = {}
    floors, floors_f1, floor_info = _tune_label_floors(det, val, probs, grid_f1)
    det.spec.label_thresholds = floors
    return {"threshold": th, "extend_threshold": ext, "label_thresholds": floors,
            "label_thresholds_proposed": floor_info["proposed"],
            "label_thresholds_bootstrap_share_gain": floor_info["bootstrap_share_gain"],
            "val_overlap_f1": floors_f1, "val_overlap_f1_no_label_thresholds": grid_f1,
            "threshold_no_validate": best(plain)[0], "val_overlap_f1_no_validate": best(plain)[1],
            "threshold_no_extend": best(checked)[0], "val_overlap_f1_no_extend": best(checked)[1],
            "threshold_sweep_no_validate": plain, "threshold_sweep_no_extend": checked,
            "threshold_extend_grid": {f"{k[0]}/{k[1]}": v for k, v in grid.items()}}


def _tune_label_floors(det: Detector, val: SplitData, probs: list[np.ndarray],
                       base_f1: float) -> tuple[dict[str, float], float, dict[str, Any]]:
    """Per-label score floors above the global threshold, one coordinate-ascent pass over labels on val.
    A floor is proposed if it gains > 0.002 val F1, and kept only if the gain holds up under a paired
    bootstrap over val *templates* (``floor_bootstrap``): floors are chosen on a few templates and must
    generalise to unseen ones, so a gain that rests on one template's phrasing is noise, not signal."""
    decoded = [det.spans_from_features(t, f, None, p, True, floors=False)
               for t, f, p in zip(val.texts, val.feats, probs, strict=True)]

    def preds(fl: dict[str, float]) -> list[list[Span]]:
        return [[s for s, sc in row if sc >= fl.get(s.label, 0.0)] for row in decoded]

    def f1(fl: dict[str, float]) -> float:
        return float(evaluate(val.gold, preds(fl), match="overlap", labels=LABELS).micro["f1"])

    floors: dict[str, float] = {}
    proposed: dict[str, float] = {}
    support: dict[str, float] = {}
    best = base_f1
    for label in LABELS:
        candidate = None
        for th in (t for t in THRESHOLDS if t > det.spec.threshold):
            score_ = f1({**floors, label: th})
            if score_ > best + 0.002:
                best, candidate = score_, th
        if candidate is None:
            continue
        proposed[label] = candidate
        support[label] = floor_bootstrap(val, preds(floors), preds({**floors, label: candidate}))
        if support[label] >= FLOOR_CONFIDENCE:
            floors[label] = candidate
        else:
            best = f1(floors)
    return floors, f1(floors), {"proposed": proposed, "bootstrap_share_gain": support}


FLOOR_CONFIDENCE = 0.95  # share of template-bootstrap resamples in which a per-label floor must raise val F1
FLOOR_BOOTSTRAP_SAMPLES = 1000


def floor_bootstrap(val: SplitData, before: list[list[Span]], after: list[list[Span]],
                    samples: int = FLOOR_BOOTSTRAP_SAMPLES, seed: int = 0) -> float:
    """Share of paired bootstrap resamples of ``val``'s templates (with replacement; each message counts
    for its first template) in which ``after`` has a higher overlap micro-F1 than ``before``."""
    templates = sorted({e.template for e in val.examples})
    index = {t: i for i, t in enumerate(templates)}
    counts = np.zeros((2, len(templates), 3))  # [before/after, template, tp/fp/fn]
    for k, docs in enumerate((before, after)):
        for e, pred in zip(val.examples, docs, strict=True):
            m = evaluate([e.spans], [pred], match="overlap", labels=LABELS).micro
            counts[k, index[e.template]] += (m["tp"], m["fp"], m["fn"])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(templates), size=(samples, len(templates)))
    tp, fp, fn = np.moveaxis(counts[:, draws].sum(axis=2), -1, 0)  # each [2, samples]
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    return float((f1[1] > f1[0]).mean())


def predict_split(det: Detector, data: SplitData, threshold: float | None = None,
                  validate: bool | None = None, floors: bool = True,
                  extend: float | None = FROM_SPEC) -> list[list[Span]]:
    return [[s for s, _ in det.spans_from_features(t, f, threshold, None, validate, floors, extend)]
            for t, f in zip(data.texts, data.feats, strict=True)]


def score(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, SpanReport]:
    return {m: evaluate(gold, pred, match=m, labels=LABELS) for m in ("exact", "overlap")}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
