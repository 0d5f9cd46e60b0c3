"""The SAE engine config: one validated schema for model, data, SAE, training, checkpoints and tracking.

``load_config(dict_or_path)`` collects *every* problem (unknown key, wrong type, out-of-range value) and
raises one ``ConfigError`` naming each key path and its allowed range, so a user fixes a config in one pass.
The same field table produces the JSON Schema (``config_json_schema()``) that Kiln's TypeScript side
compares its ``workload.sae`` mirror against, so the two cannot drift silently.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from kiln_sae.config_fields import Field, check_fields, object_schema
from kiln_sae.errors import ConfigError
from kiln_sae.learning_rate import LearningRate, auto_learning_rate

DATASET_FIELDS = [
    Field("path", "str", None, nullable=True, doc="local file or directory"),
    Field("name", "str", None, nullable=True, doc="Hugging Face datasets name"),
    Field("split", "str", "train"),
    Field("format", "enum", "auto", choices=("auto", "lmsys", "jsonl", "text", "parquet")),
    Field("text_field", "str", "text"),
    Field("pii_filter", "bool", False),
    Field("subset_size", "int", None, nullable=True, minimum=1),
    Field("dedupe", "bool", True),
    Field("val_fraction", "number", 0.05, minimum=0.0, maximum=0.5),
]
EARLY_STOPPING_FIELDS = [
    Field("min_epochs", "int", 1, minimum=0),
    Field("patience", "int", 2, minimum=1),
    Field("delta", "number", 0.0, minimum=0.0, maximum=1.0, doc="relative improvement of the validation loss"),
]
WANDB_FIELDS = [
    Field("project", "str", "kiln"),
    Field("run_name", "str", None, nullable=True),
    Field("mode", "enum", "offline", choices=("online", "offline", "disabled")),
]
TOP_FIELDS = [
    Field("base_model", "str", None, required=True, doc="HF id or local dir; 'minilm' = the packaged MiniLM"),
    Field("model_kind", "enum", "auto", choices=("auto", "causal", "encoder")),
    Field("layer", "int", None, required=True, minimum=0, doc="residual stream after block `layer`"),
    Field("hook", "enum", "resid_post", choices=("resid_post",)),
    Field("context_size", "int", 256, minimum=8, maximum=1_048_576),
    Field("model_dtype", "enum", "auto", choices=("auto", "bf16", "fp32")),
    Field("dataset", "object", None, nullable=True, fields=DATASET_FIELDS),
    Field("architecture", "enum", "topk", choices=("topk", "relu")),
    Field("latents", "int", None, nullable=True, minimum=1),
    Field("expansion_factor", "number", None, nullable=True, exclusive_minimum=0.0, doc="default 8"),
    Field("k", "int", 32, minimum=1),
    Field("aux_k", "int", None, nullable=True, minimum=1, doc="default d_in/2"),
    Field("aux_k_coefficient", "number", 1 / 32, minimum=0.0),
    Field("dead_tokens_threshold", "int", 10_000_000, minimum=1),
    Field("l1_coefficient", "number", 5.0, minimum=0.0),
    Field("epochs", "number", None, nullable=True, exclusive_minimum=0.0),
    Field("tokens", "int", None, nullable=True, minimum=1),
    Field("batch_size", "int", 4096, minimum=1, doc="tokens per optimiser step"),
    Field("gradient_accumulation_steps", "int", 1, minimum=1),
    Field("learning_rate", "auto_number", "auto", exclusive_minimum=0.0,
          doc="'auto' = the calibrated rule of docs/learning-rate.md (steps, n, k, d), or a number"),
    Field("warmup_steps", "int", 1000, minimum=0, doc="capped at 5% of total steps"),
    Field("lr_decay_fraction", "number", 0.2, minimum=0.0, maximum=1.0,
          doc="share of the final steps over which the rate decays linearly to 0 (0 = constant to the end)"),
    Field("grad_clip", "number", 1.0, minimum=0.0, doc="0 disables clipping"),
    Field("mixed_precision", "enum", "auto", choices=("auto", "bf16", "fp32")),
    Field("compile", "bool", False),
    Field("normalize_activations", "bool", True),
    Field("seed", "int", 0, minimum=0),
    Field("device", "enum", "auto", choices=("auto", "cpu", "cuda")),
    Field("save_every", "number", 1, nullable=True, exclusive_minimum=0.0, doc="epochs between checkpoints"),
    Field("save_every_steps", "int", None, nullable=True, minimum=1),
    Field("keep_checkpoints", "int", 3, minimum=1),
    Field("log_every", "int", 10, minimum=1),
    Field("output_dir", "str", None, required=True),
    Field("resume_from", "str", "auto", doc="'auto' | 'none' | a checkpoint path"),
    Field("activation_cache", "enum", "auto", choices=("auto", "memory", "disk", "none")),
    Field("shuffle_buffer_tokens", "int", 262_144, minimum=2,
          doc="activation_cache none: rows held by the streaming shuffle buffer (at least 2 batches per rank)"),
    Field("early_stopping", "object", None, nullable=True, fields=EARLY_STOPPING_FIELDS),
    Field("wandb", "object", None, nullable=True, fields=WANDB_FIELDS),
]

# Keys that change where/how often things are written but not the numbers a run produces: editing them
# between attempts must not block resuming, so they stay out of config_hash.
OPERATIONAL_KEYS = frozenset({"output_dir", "resume_from", "log_every", "save_every", "save_every_steps",
                              "keep_checkpoints", "wandb", "device", "compile", "activation_cache"})


@dataclass(frozen=True)
class DatasetConfig:
    path: str | None = None
    name: str | None = None
    split: str = "train"
    format: str = "auto"
    text_field: str = "text"
    pii_filter: bool = False
    subset_size: int | None = None
    dedupe: bool = True
    val_fraction: float = 0.05


@dataclass(frozen=True)
class EarlyStoppingConfig:
    min_epochs: int = 1
    patience: int = 2
    delta: float = 0.0


@dataclass(frozen=True)
class WandbConfig:
    project: str = "kiln"
    run_name: str | None = None
    mode: str = "offline"


@dataclass(frozen=True)
class SaeConfig:
    base_model: str
    layer: int
    output_dir: str
    model_kind: str = "auto"
    hook: str = "resid_post"
    context_size: int = 256
    model_dtype: str = "auto"
    dataset: DatasetConfig | None = None
    architecture: str = "topk"
    latents: int | None = None
    expansion_factor: float | None = None
    k: int = 32
    aux_k: int | None = None
    aux_k_coefficient: float = 1 / 32
    dead_tokens_threshold: int = 10_000_000
    l1_coefficient: float = 5.0
    epochs: float | None = None
    tokens: int | None = None
    batch_size: int = 4096
    gradient_accumulation_steps: int = 1
    learning_rate: float | str = "auto"
    warmup_steps: int = 1000
    lr_decay_fraction: float = 0.2
    grad_clip: float = 1.0
    mixed_precision: str = "auto"
    compile: bool = False
    normalize_activations: bool = True
    seed: int = 0
    device: str = "auto"
    save_every: float | None = 1
    save_every_steps: int | None = None
    keep_checkpoints: int = 3
    log_every: int = 10
    resume_from: str = "auto"
    activation_cache: str = "auto"
    shuffle_buffer_tokens: int = 262_144
    early_stopping: EarlyStoppingConfig | None = None
    wandb: WandbConfig | None = None

    # ---- derived values -------------------------------------------------------------------------------
    def n_latents(self, d_in: int) -> int:
        if self.latents is not None:
            return self.latents
        return max(1, int(round(d_in * (self.expansion_factor if self.expansion_factor is not None else 8))))

    def learning_rate_for(self, *, d_in: int, n_latents: int, total_steps: int) -> LearningRate:
        """The base learning rate and why: ``auto`` depends on the run's steps, batch and shape (kiln_sae.learning_rate)."""
        if self.learning_rate == "auto":
            return auto_learning_rate(d_in=d_in, n_latents=n_latents, k=self.k if self.architecture == "topk" else None,
                                      total_steps=total_steps, batch_size=self.batch_size)
        return LearningRate(float(self.learning_rate), f"set: {float(self.learning_rate):g} (learning_rate in the config)")

    def aux_k_for(self, d_in: int) -> int:
        return self.aux_k if self.aux_k is not None else max(1, d_in // 2)

    def total_steps(self, steps_per_epoch: int) -> int:
        if self.tokens is not None:
            return max(1, math.ceil(self.tokens / self.batch_size))
        return max(1, math.ceil(float(self.epochs or 1) * steps_per_epoch))

    def warmup_for(self, total_steps: int) -> int:
        return min(self.warmup_steps, int(0.05 * total_steps))

    def decay_steps_for(self, total_steps: int) -> int:
        """Final steps over which the rate decays linearly to 0 (kiln_sae.optim.lr_at): the fraction, rounded."""
        return min(total_steps, int(round(self.lr_decay_fraction * total_steps)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config_hash(self) -> str:
        """sha256 of the settings that determine the trained weights (OPERATIONAL_KEYS excluded)."""
        material = {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_KEYS}
        if self.activation_cache != "none":  # the buffer size shapes the data order only when streaming
            material.pop("shuffle_buffer_tokens")
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cross_checks(raw: dict[str, Any], problems: list[str]) -> None:
    if raw.get("latents") is not None and raw.get("expansion_factor") is not None:
        problems.append("latents, expansion_factor: set exactly one of them (expansion_factor defaults to 8)")
    if raw.get("epochs") is not None and raw.get("tokens") is not None:
        problems.append("epochs, tokens: set exactly one of them")
    if raw.get("epochs") is None and raw.get("tokens") is None:
        problems.append("epochs, tokens: set exactly one of them (e.g. epochs: 1)")
    arch = raw.get("architecture", "topk")
    if arch == "relu" and "k" in raw:
        problems.append("k: only used by architecture 'topk' (relu uses l1_coefficient)")
    if arch == "topk" and "l1_coefficient" in raw:
        problems.append("l1_coefficient: only used by architecture 'relu' (topk uses k)")
    latents, k = raw.get("latents"), raw.get("k", 32)
    if isinstance(latents, int) and isinstance(k, int) and arch == "topk" and k > latents:
        problems.append(f"k: must be <= latents ({latents}), got {k}")
    bs, ga = raw.get("batch_size", 4096), raw.get("gradient_accumulation_steps", 1)
    if isinstance(bs, int) and isinstance(ga, int) and ga > 0 and bs % ga != 0:
        problems.append(f"gradient_accumulation_steps: must divide batch_size ({bs}), got {ga}")
    ds = raw.get("dataset")
    if isinstance(ds, dict) and (ds.get("path") is None) == (ds.get("name") is None):
        problems.append("dataset.path, dataset.name: set exactly one of them")


def load_config(source: dict[str, Any] | str | os.PathLike[str]) -> SaeConfig:
    """Validate a dict (or a YAML file path) and return the config; raise ConfigError listing all problems."""
    raw = _read_yaml(source) if not isinstance(source, dict) else source
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping of keys to values at the top level")
    problems: list[str] = []
    values = check_fields(raw, TOP_FIELDS, "", problems)
    _cross_checks(raw, problems)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    if values["dataset"] is not None:
        values["dataset"] = DatasetConfig(**values["dataset"])
    if values["early_stopping"] is not None:
        values["early_stopping"] = EarlyStoppingConfig(**values["early_stopping"])
    if values["wandb"] is not None:
        values["wandb"] = WandbConfig(**values["wandb"])
    return SaeConfig(**values)


def _read_yaml(path: str | os.PathLike[str]) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e


def config_json_schema() -> dict[str, Any]:
    schema = object_schema(TOP_FIELDS)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kiln_sae train config"
    return schema
