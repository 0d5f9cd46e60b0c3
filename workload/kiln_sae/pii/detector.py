"""The detector artefact and its inference path.

A detector directory holds ``detector.json`` (format version, system, label map, base model reference,
layer, thresholds, SAE reference with sha256), ``probe.safetensors``, and for the SAE system a copy of the
SAE (``sae/``) so the directory is self-contained. An ensemble's directory holds its ``detector.json`` (the
decoding settings, ``members``) and one such directory per member (``member-0/``, ...): the members read the
same features, their token probabilities are averaged, and the ensemble's settings decode the average.
``Detector.spans_from_features`` is the one decoding path used by evaluation and by ``detect``, so reported
F1 is the F1 of what ships.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from kiln_sae.errors import DataError
from kiln_sae.pii.align import decode_spans, join_address_parts
from kiln_sae.pii.escape import shown_line_breaks
from kiln_sae.pii.features import FeatureSource, TokenFeatures
from kiln_sae.pii.labels import LABELS, TAGS, Span
from kiln_sae.pii.probe import DenseLinearProbe, HybridProbe, SparseLinearProbe
from kiln_sae.pii.shape import SHAPE_BITS
from kiln_sae.pii.shapes import add_credentials, add_mail_addresses, add_public_ips, complete_identifiers
from kiln_sae.pii.validate import resolve, value_core

FORMAT = "kiln-pii-detector"
FORMAT_VERSION = 1
SYSTEMS = ("sae_probe", "raw_probe", "sae_raw_probe")
SAE_SYSTEMS = ("sae_probe", "sae_raw_probe")
FROM_SPEC = -1.0  # spans_from_features(extend=...): use the spec's extend_threshold
RELU_TOP = 64  # a relu SAE has no k: its 64 strongest latents per token feed the sparse probe


@dataclass
class DetectorSpec:
    system: str  # "sae_probe" | "raw_probe" | "sae_raw_probe" (both inputs, one linear model)
    base_model: str
    layer: int
    context_size: int
    model_kind: str = "auto"
    threshold: float = 0.5
    extend_threshold: float | None = None  # hysteresis: weaker neighbours (>= this) join a segment (val-tuned)
    split: bool = False  # break run-on segments at entity boundaries (align.split_run_on; val-tuned)
    layers: list[int] | None = None  # residual streams concatenated per token (None: just ``layer``)
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    tags: list[str] = field(default_factory=lambda: list(TAGS))
    n_features: int = 0
    n_raw_features: int = 0  # sae_raw_probe: width of the dense (raw activation) part
    act_scale: float = 1.0
    context: int = 0  # neighbour tokens on each side whose features are concatenated to a token's
    validate: bool = False  # checksum/placeholder span validation (kiln_sae.pii.validate) after decoding
    label_thresholds: dict[str, float] = field(default_factory=dict)  # per-label span score floors (val-tuned)
    # per-label seed thresholds, may be below ``threshold`` (align.decode_spans label_seeds; val-tuned, opt-in)
    label_seed_thresholds: dict[str, float] = field(default_factory=dict)
    # orthographic bits the probe reads beside its features (pii.shape; their names, in order; [] = none)
    shape_bits: list[str] = field(default_factory=list)
    hidden: int = 0  # width of the probe's hidden-layer branch (sparse and dense probes; the hybrid has none)
    line_breaks: bool = False  # escaped line breaks are read as real ones (escape.shown_line_breaks; training's)
    join_address: bool = False  # the one-span ADDRESS rule on decoded spans (align.join_address_parts; val-tuned)
    public_ips: bool = False  # public IP addresses the probe missed are added (shapes.add_public_ips; val-tuned)
    mail_addresses: bool = False  # P.O. boxes and military mail are one ADDRESS (shapes.add_mail_addresses; val-tuned)
    credentials: bool = False  # users and secrets of URLs and ssh logins (shapes.add_credentials; val-tuned)
    sae: dict[str, Any] | None = None  # {"path": "sae", "source": ..., "sha256": ...}
    members: list[str] = field(default_factory=list)  # an ensemble's member directories (relative); [] = one probe
    format: str = FORMAT
    version: int = FORMAT_VERSION


def sae_features(sae: Any, acts: torch.Tensor, act_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(values [T,k], indices [T,k]) of the SAE latents of raw activations ``acts``."""
    with torch.no_grad():
        x = acts * act_scale
        if getattr(sae, "k", None):
            values, indices = sae.encode(x)
        else:
            dense = sae.encode_dense(x)
            values, indices = dense.topk(min(RELU_TOP, dense.shape[1]), dim=1)
    return values.float(), indices.long()


def _shift(x: torch.Tensor, j: int) -> torch.Tensor:
    """Row t of the result is row t+j of x (zeros past either end)."""
    out = torch.zeros_like(x)
    n = x.shape[0]
    if j >= 0:
        out[: max(n - j, 0)] = x[j:]
    else:
        out[-j:] = x[: n + j]
    return out


def with_context(inputs: tuple[torch.Tensor, ...], context: int, n_latents: int | None) -> tuple[torch.Tensor, ...]:
    """Concatenate each token's features with those of ``context`` neighbours on each side (one text).
    Dense: [T, d] -> [T, d(2c+1)]. Sparse (values, indices): neighbour j's latents move to their own block
    of ``n_latents`` ids, so [T, k] -> [T, k(2c+1)] over n_latents(2c+1) features."""
    if context == 0:
        return inputs
    offsets = range(-context, context + 1)
    if len(inputs) == 1:
        return (torch.cat([_shift(inputs[0], j) for j in offsets], dim=1),)
    values, indices = inputs
    assert n_latents is not None
    vs = [_shift(values, j) for j in offsets]
    ids = [_shift(indices, j) + b * n_latents for b, j in enumerate(offsets)]
    return torch.cat(vs, dim=1), torch.cat(ids, dim=1)


class Detector:
    def __init__(self, spec: DetectorSpec, probe: torch.nn.Module, source: FeatureSource | None = None,
                 sae: Any = None) -> None:
        self.spec, self.probe, self.sae = spec, probe, sae
        self._source = source

    @property
    def source(self) -> FeatureSource:
        if self._source is None:
            self._source = FeatureSource(self.spec.base_model, self.spec.layer, context_size=self.spec.context_size,
                                         model_kind=self.spec.model_kind, layers=self.spec.layers,
                                         line_breaks=self.spec.line_breaks)
        return self._source

    @property
    def block_width(self) -> int | None:
        """Sparse systems: ids per context position (the SAE's latents, then the shape bits); dense: None."""
        if self.spec.system not in SAE_SYSTEMS or self.sae is None:
            return None
        return int(self.sae.n_latents) + len(self.spec.shape_bits)

    def _shape(self, feats: TokenFeatures) -> torch.Tensor:
        if feats.shape is None:
            raise ValueError("this detector reads shape bits; call TokenFeatures.with_shape(text) first")
        return torch.from_numpy(feats.shape)

    def base_inputs(self, feats: TokenFeatures) -> tuple[torch.Tensor, ...]:
        """The probe's per-token inputs of one text before context is added (``probe.ContextRows``). Shape
        bits join the sparse part as ids after the SAE's latents (value 0 or 1), or the dense part as columns."""
        shaped = bool(self.spec.shape_bits)
        if self.spec.system in SAE_SYSTEMS:
            values, indices = sae_features(self.sae, feats.acts, self.spec.act_scale)
            if shaped:
                bits = self._shape(feats)
                ids = torch.arange(bits.shape[1]) + int(self.sae.n_latents)
                values = torch.cat([values, bits], dim=1)
                indices = torch.cat([indices, ids.expand(len(bits), -1)], dim=1)
            return (values, indices, feats.acts) if self.spec.system == "sae_raw_probe" else (values, indices)
        return (torch.cat([feats.acts, self._shape(feats)], dim=1),) if shaped else (feats.acts,)

    def inputs(self, feats: TokenFeatures) -> tuple[torch.Tensor, ...]:
        """The probe's input rows for one text: SAE latents or raw activations, with context if configured."""
        base = self.base_inputs(feats)
        if self.spec.system in SAE_SYSTEMS:
            latents = with_context(base[:2], self.spec.context, self.block_width)
            return latents + with_context(base[2:], self.spec.context, None) if len(base) > 2 else latents
        return with_context(base, self.spec.context, None)

    def probs(self, feats: TokenFeatures) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.probe(*self.inputs(feats)), dim=-1).numpy()

    def spans_from_features(self, text: str, feats: TokenFeatures, threshold: float | None = None,
                            probs: np.ndarray | None = None, validate: bool | None = None,
                            floors: bool = True, extend: float | None = FROM_SPEC,
                            split: bool | None = None,
                            seeds: dict[str, float] | None = None,
                            join: bool | None = None, ips: bool | None = None,
                            mail: bool | None = None, creds: bool | None = None) -> list[tuple[Span, float]]:
        """Decoded spans with scores. ``threshold``/``validate``/``extend``/``split``/``seeds`` (per-label
        seed thresholds)/``join`` (the one-span ADDRESS rule)/``ips`` (add public IPs the probe missed)/``mail``
        (P.O. boxes and military mail by their shape)/``creds`` (credentials in a URL or an ssh login) default
        to the spec's (``extend=None`` turns hysteresis off, ``seeds={}`` turns per-label seeds off).
        Validation also completes user names and passwords the probe cut short and drops configuration keys
        (``shapes.complete_identifiers``)."""
        if self.spec.line_breaks:
            text = shown_line_breaks(text)  # what the model read; same length, so spans index the original
        if self.spec.shape_bits:
            feats.with_shape(text)
        p = self.probs(feats) if probs is None else probs
        check = self.spec.validate if validate is None else validate
        spans = decode_spans(text, feats.offsets, feats.valid, p,
                             self.spec.threshold if threshold is None else threshold, resolve if check else None,
                             self.spec.extend_threshold if extend == FROM_SPEC else extend,
                             self.spec.split if split is None else split,
                             self.spec.label_seed_thresholds if seeds is None else seeds,
                             value_core if check else None)
        if check:
            spans = complete_identifiers(text, spans)
        if self.spec.mail_addresses if mail is None else mail:
            spans = add_mail_addresses(text, spans)
        if self.spec.credentials if creds is None else creds:
            spans = add_credentials(text, spans)
        if self.spec.join_address if join is None else join:
            spans = join_address_parts(text, spans)
        if self.spec.public_ips if ips is None else ips:
            spans = add_public_ips(text, spans)
        if not floors or not self.spec.label_thresholds:
            return spans
        return [(s, sc) for s, sc in spans if sc >= self.spec.label_thresholds.get(s.label, 0.0)]

    def detect(self, texts: list[str]) -> list[list[tuple[Span, float]]]:
        feats = self.source.extract(texts)
        return [self.spans_from_features(t, f) for t, f in zip(texts, feats, strict=True)]

    # ---- artefact ------------------------------------------------------------------------------------
    def save(self, out_dir: str | Path, sae_dir: str | Path | None = None) -> list[Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        save_file({k: v.contiguous() for k, v in self.probe.state_dict().items()}, str(out / "probe.safetensors"))
        files.append(out / "probe.safetensors")
        if self.spec.system in SAE_SYSTEMS and sae_dir is not None:
            from kiln_sae.checkpoint import sha256_file

            dst = out / "sae"
            dst.mkdir(exist_ok=True)
            for name in ("sae.safetensors", "meta.json"):
                shutil.copyfile(Path(sae_dir) / name, dst / name)
                files.append(dst / name)
            self.spec.sae = {"path": "sae", "source": str(sae_dir), "sha256": sha256_file(dst / "sae.safetensors")}
        (out / "detector.json").write_text(spec_json(self.spec), encoding="utf-8")
        files.append(out / "detector.json")
        return files


# What every member of an ensemble must share with it: they read one set of features per text.
SHARED = ("system", "base_model", "layer", "layers", "context_size", "model_kind", "line_breaks", "shape_bits")


class EnsembleDetector(Detector):
    """Several detectors over the same features (one per SAE seed), read as one: their token probabilities
    are averaged and this detector's own decoding settings (tuned on val over the average) decode it. An
    average of probes trained on differently seeded SAEs cancels part of their seed-to-seed noise: two
    4-member ensembles beat their members' mean on every evaluation set, though not every member on every set
    (bench/results/pii_quality_v14.md)."""

    def __init__(self, spec: DetectorSpec, members: list[Detector], source: FeatureSource | None = None,
                 sae_dirs: list[str | Path | None] | None = None) -> None:
        super().__init__(spec, torch.nn.Identity(), source)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        for m in members:
            mismatched = [k for k in SHARED if getattr(m.spec, k) != getattr(spec, k)]
            if mismatched or m.spec.members:
                raise ValueError(f"ensemble member differs from the ensemble in {mismatched or ['members']}")
        self.members = members
        self.sae_dirs = sae_dirs or [None] * len(members)

    @classmethod
    def of(cls, members: list[Detector], sae_dirs: list[str | Path | None] | None = None) -> "EnsembleDetector":
        """An ensemble of trained members; its decoding settings start as the first member's (``tune`` them)."""
        first = members[0].spec
        spec = DetectorSpec(**{k: getattr(first, k) for k in SHARED},
                            members=[f"member-{i}" for i in range(len(members))])
        return cls(spec, members, members[0]._source, sae_dirs)

    def base_inputs(self, feats: TokenFeatures) -> tuple[torch.Tensor, ...]:
        raise TypeError("an ensemble has no probe inputs of its own; its members have theirs")

    def probs(self, feats: TokenFeatures) -> np.ndarray:
        return np.mean([m.probs(feats) for m in self.members], axis=0)

    def save(self, out_dir: str | Path, sae_dir: str | Path | None = None) -> list[Path]:
        if sae_dir is not None:
            raise TypeError("an ensemble's SAEs are its members' (EnsembleDetector(sae_dirs=...))")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        self.spec.members = [f"member-{i}" for i in range(len(self.members))]
        for name, m, sd in zip(self.spec.members, self.members, self.sae_dirs, strict=True):
            files += m.save(out / name, sd)
        (out / "detector.json").write_text(spec_json(self.spec), encoding="utf-8")
        return files + [out / "detector.json"]


def _load_ensemble(d: Path, spec: DetectorSpec, source: FeatureSource | None) -> EnsembleDetector:
    if not isinstance(spec.members, list) or len(set(map(str, spec.members))) != len(spec.members):
        raise DataError(f"{d}/detector.json: members must be a list of distinct member directory names")
    members = []
    root = d.resolve()
    for name in spec.members:
        # Strictly inside this directory (not ".", not a link out of it): a member is loaded as a detector.
        inside = isinstance(name, str) and bool(name) and (d / name).resolve().is_relative_to(root) \
            and (d / name).resolve() != root
        if not inside:
            raise DataError(f"{d}/detector.json: member {name!r} is not a directory inside the detector")
        if _member_keys(d / name).get("members"):
            raise DataError(f"{d / name}: an ensemble cannot be a member of another; retrain the detector")
        member = load_detector(d / name, source)
        mismatched = [k for k in SHARED if getattr(member.spec, k) != getattr(spec, k)]
        if mismatched:
            raise DataError(f"{d / name}: this member's {mismatched} differ from the ensemble's (members read "
                            f"the same features); retrain the detector")
        members.append(member)
    return EnsembleDetector(spec, members, source)


def _member_keys(d: Path) -> dict[str, Any]:
    try:
        raw = json.loads((d / "detector.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # load_detector reports it
    return raw if isinstance(raw, dict) else {}


_NEW_KEYS: dict[str, Any] = {"members": [], "mail_addresses": False, "credentials": False}


def spec_json(spec: DetectorSpec) -> str:
    """``detector.json``'s text. Keys added since v13 are left out while they hold their default (a single
    probe's ``members``, ``mail_addresses`` and ``credentials`` off), so an older kiln_sae still reads what it can decode."""
    d = asdict(spec)
    for key, default in _NEW_KEYS.items():
        if d[key] == default:
            del d[key]
    return json.dumps(d, indent=2) + "\n"


def load_detector(path: str | Path, source: FeatureSource | None = None) -> Detector:
    d = Path(path)
    try:
        raw = json.loads((d / "detector.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{d}: not a detector directory (detector.json unreadable: {e}); "
                        f"train one with `python -m kiln_sae probe --config FILE`") from e
    if raw.get("format") != FORMAT or raw.get("version") != FORMAT_VERSION:
        raise DataError(f"{d}/detector.json: format {raw.get('format')!r} v{raw.get('version')!r} is not "
                        f"{FORMAT} v{FORMAT_VERSION}")
    known = set(DetectorSpec.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise DataError(f"{d}/detector.json: unknown keys {sorted(unknown)}")
    spec = DetectorSpec(**raw)
    if spec.system not in SYSTEMS or spec.tags != list(TAGS):
        raise DataError(f"{d}/detector.json: system {spec.system!r} or tag set does not match this kiln_sae")
    if spec.shape_bits and spec.shape_bits != list(SHAPE_BITS[:len(spec.shape_bits)]):
        raise DataError(f"{d}/detector.json: shape_bits {spec.shape_bits} are not this kiln_sae's "
                        f"({list(SHAPE_BITS)}); retrain the detector with this version")
    if not isinstance(spec.hidden, int) or spec.hidden < 0 or (spec.hidden and spec.system == "sae_raw_probe"):
        raise DataError(f"{d}/detector.json: hidden {spec.hidden!r} is not a width this {spec.system} can have "
                        f"(a non-negative integer; 0 for sae_raw_probe)")
    if spec.members:
        return _load_ensemble(d, spec, source)
    state = load_file(str(d / "probe.safetensors"))
    sae = None
    if spec.system in SAE_SYSTEMS:
        from kiln_sae.checkpoint import load_sae, sha256_file

        if not spec.sae:
            raise DataError(f"{d}/detector.json: an {spec.system} detector needs an 'sae' entry")
        sae_path = d / spec.sae["path"]
        if sha256_file(sae_path / "sae.safetensors") != spec.sae.get("sha256"):
            raise DataError(f"{sae_path}: SAE weights do not match the sha256 recorded in detector.json")
        sae, _meta = load_sae(sae_path)
        sae.eval()
        probe: torch.nn.Module = (HybridProbe(spec.n_features, spec.n_raw_features, len(TAGS))
                                  if spec.system == "sae_raw_probe"
                                  else SparseLinearProbe(spec.n_features, len(TAGS), spec.hidden))
    else:
        probe = DenseLinearProbe(spec.n_features, len(TAGS), spec.hidden)
    probe.load_state_dict(state)
    probe.eval()
    return Detector(spec, probe, source, sae)
