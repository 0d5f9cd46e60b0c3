"""Per-label seed thresholds that may go below the global decoding threshold (align.decode_spans
``label_seeds``, pipeline.tune_label_seeds): decoding, and the val search with its bootstrap guard."""
from __future__ import annotations

import re

import numpy as np
import torch

from kiln_sae.pii.align import decode_spans
from kiln_sae.pii.detector import Detector, DetectorSpec
from kiln_sae.pii.features import TokenFeatures
from kiln_sae.pii.generate import Example
from kiln_sae.pii.labels import OUTSIDE, TAGS, Span, begin_tag
from kiln_sae.pii.pipeline import SplitData, tune, tune_label_seeds

TEXT = "Ann met Bob in Paris"
ANN, BOB, PARIS = Span(0, 3, "PERSON"), Span(8, 11, "PERSON"), Span(15, 20, "LOCATION")


def _offsets(text: str) -> np.ndarray:
    return np.array([m.span() for m in re.finditer(r"\S+", text)], dtype=np.int64)


def _probs(words: list[tuple[float, str | None]]) -> np.ndarray:
    probs = np.zeros((len(words), len(TAGS)), dtype=np.float32)
    for i, (p, label) in enumerate(words):
        probs[i, OUTSIDE] = 1.0 - p
        if label:
            probs[i, begin_tag(label)] = p
    return probs


def _words(ann: float = 0.85, bob: float = 0.995, paris: float = 0.85) -> list[tuple[float, str | None]]:
    return [(ann, "PERSON"), (0.0, None), (bob, "PERSON"), (0.0, None), (paris, "LOCATION")]


def _decode(probs: np.ndarray, **kw) -> list[Span]:
    offsets = _offsets(TEXT)
    return [s for s, _ in decode_spans(TEXT, offsets, np.ones(len(offsets), dtype=bool), probs, 0.99, **kw)]


def test_a_lower_seed_lets_only_its_own_label_through():
    probs = _probs(_words())
    assert _decode(probs) == [BOB]
    assert _decode(probs, label_seeds={"PERSON": 0.8}) == [ANN, BOB]
    assert _decode(probs, label_seeds={"LOCATION": 0.8}) == [BOB, PARIS]
    assert _decode(probs, label_seeds={"PERSON": 0.9}) == [BOB]  # 0.85 < 0.9: still out


def test_no_seeds_or_seeds_at_the_threshold_decode_exactly_as_before():
    probs = _probs(_words(ann=0.5, paris=0.97))
    for kw in ({}, {"extend": 0.3}, {"split": True}):
        plain = _decode(probs, **kw)
        assert _decode(probs, label_seeds={}, **kw) == plain
        assert _decode(probs, label_seeds={"PERSON": 0.99, "LOCATION": 0.99}, **kw) == plain


def _detector(threshold: float = 0.99) -> Detector:
    spec = DetectorSpec(system="sae_probe", base_model="none", layer=0, context_size=16, threshold=threshold,
                        extend_threshold=None, split=False, validate=False)
    return Detector(spec, torch.nn.Identity())


def _val(rows: list[tuple[str, list[Span], list[tuple[float, str | None]]]]) -> tuple[SplitData, list[np.ndarray]]:
    offsets = _offsets(TEXT)
    examples = [Example(text=TEXT, spans=gold, template=t, genre="chat", split="val", locale="en_US")
                for t, gold, _ in rows]
    feats = [TokenFeatures(torch.zeros(len(offsets), 1), offsets, np.ones(len(offsets), dtype=bool)) for _ in rows]
    return SplitData(examples, feats), [_probs(w) for _, _, w in rows]


def test_search_lowers_person_where_val_gains_everywhere_and_leaves_location_alone():
    # Every template: a weak but real PERSON (0.85) the global 0.99 misses, and a weak LOCATION that is not
    # gold (0.85): lowering PERSON gains recall in every format, lowering LOCATION only adds false positives.
    val, probs = _val([(f"t{t}", [ANN, BOB], _words()) for t in range(8) for _ in range(3)])
    det = _detector()
    seeds, f1, info = tune_label_seeds(det, val, probs, base_f1=0.0)
    assert seeds == {"PERSON": 0.8}  # the highest grid value that lets 0.85 through
    assert f1 == 1.0
    assert info["bootstrap_share_gain"]["PERSON"] == 1.0
    assert "LOCATION" not in info["proposed"]
    assert info["sweeps"]["LOCATION"]["0.5"] < info["sweeps"]["PERSON"]["0.5"]
    assert det.spec.threshold == 0.99  # the global threshold is left as chosen


def test_search_refuses_a_gain_that_rests_on_a_few_formats():
    # Two of ten formats carry a weak real PERSON; three others carry one weak PERSON that is not gold. The
    # point estimate favours 0.8, but resampling formats often drops the two that carry the gain.
    rows = []
    for t in range(10):
        for i in range(3):
            gold = [ANN, BOB] if t < 2 else [BOB]
            ann = 0.85 if t < 2 or (t < 5 and i == 0) else 0.0
            rows.append((f"t{t}", gold, _words(ann=ann, paris=0.0)))
    val, probs = _val(rows)
    seeds, _f1, info = tune_label_seeds(_detector(), val, probs, base_f1=0.0)
    assert info["proposed"] == {"PERSON": 0.8}
    assert info["bootstrap_share_gain"]["PERSON"] < 0.95
    assert seeds == {}


def test_tune_leaves_seeds_off_unless_asked():
    val, probs = _val([(f"t{t}", [ANN, BOB], _words()) for t in range(4) for _ in range(2)])

    class Fixed(Detector):
        def probs(self, feats):  # the planted probabilities, one text per call, in val order
            return self._queue.pop(0)

    def fresh() -> Fixed:
        det = Fixed(_detector().spec, torch.nn.Identity())
        det._queue = list(probs)
        return det

    off = fresh()
    info = tune(off, val)
    assert off.spec.label_seed_thresholds == {} and "label_seed_thresholds" not in info
    on = fresh()
    info = tune(on, val, label_seeds=True)
    assert info["val_overlap_f1"] >= info["val_overlap_f1_no_label_thresholds"]
    assert on.spec.label_seed_thresholds == info["label_seed_thresholds"]


def test_the_option_is_a_config_key_off_in_the_shipped_config():
    from pathlib import Path

    import pytest
    import yaml

    from kiln_sae.errors import ConfigError
    from kiln_sae.pii.experiment import ProbeConfig

    best = Path(__file__).resolve().parents[3] / "workload" / "configs" / "pii-best.yaml"
    assert ProbeConfig.from_dict(yaml.safe_load(best.read_text()), base_dir=best.parent).label_seeds is False
    assert ProbeConfig.from_dict({"output_dir": "x", "systems": ["raw"], "detector": "raw",
                                  "label_seeds": True}).label_seeds is True
    with pytest.raises(ConfigError, match="label_seeds"):
        ProbeConfig.from_dict({"output_dir": "x", "systems": ["raw"], "detector": "raw", "label_seeds": "yes"})


def test_a_detector_saved_without_seeds_loads_with_none(tmp_path):
    import json

    from kiln_sae.pii.detector import DetectorSpec
    spec = DetectorSpec(system="raw_probe", base_model="none", layer=0, context_size=16)
    assert spec.label_seed_thresholds == {}
    raw = json.loads(json.dumps(spec.__dict__))
    raw.pop("label_seed_thresholds")  # a v8 detector.json
    assert DetectorSpec(**raw).label_seed_thresholds == {}
