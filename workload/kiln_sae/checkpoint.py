"""Resumable checkpoints and the final SAE artifact.

A checkpoint is ``checkpoints/step-XXXXXXXX.pt`` (torch.save of plain tensors/ints, loaded with
``weights_only=True``) plus a sidecar ``step-XXXXXXXX.json`` holding its sha256 and size. Both are written
atomically (temp file in the same directory, fsync, rename, fsync the directory), sidecar last: a checkpoint
without a matching sidecar — half-written, truncated, bit-flipped — is reported and skipped, never loaded.

The final SAE is ``sae/sae.safetensors`` + ``sae/meta.json``; ``load_sae`` reads either form.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kiln_sae.errors import DataError
from kiln_sae.sae import SparseAutoencoder

CHECKPOINT_DIR = "checkpoints"
SAE_DIR = "sae"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8,})\.pt$")
_log = logging.getLogger("kiln_sae.checkpoint")


class CorruptCheckpointError(DataError):
    """A checkpoint's bytes do not match its sidecar (or either is missing/unreadable)."""


@dataclass(frozen=True)
class SavedFile:
    path: Path
    sha256: str
    bytes: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    _commit(tmp, path)


def checkpoint_path(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def save_checkpoint(output_dir: str | Path, state: dict[str, Any], step: int, keep: int) -> SavedFile:
    final = checkpoint_path(output_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    _commit(tmp, final)
    saved = SavedFile(final, sha256_file(final), final.stat().st_size)
    sidecar = {"format": FORMAT_VERSION, "step": step, "sha256": saved.sha256, "bytes": saved.bytes}
    write_bytes_atomic(final.with_suffix(".json"), json.dumps(sidecar).encode())
    prune_checkpoints(final.parent, keep)
    return saved


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Checkpoint files in ``directory``, newest step first (validity not checked)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), d / name) for name in os.listdir(d) if (m := _NAME.match(name))]
    return sorted(found, reverse=True)


def prune_checkpoints(directory: Path, keep: int) -> None:
    for _step, path in list_checkpoints(directory)[keep:]:
        for victim in (path, path.with_suffix(".json")):
            victim.unlink(missing_ok=True)


def verify_checkpoint(path: str | Path) -> str | None:
    """None when the file matches its sidecar; otherwise the reason it must not be loaded."""
    p = Path(path)
    sidecar = p.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
        expected_sha, expected_bytes = str(meta["sha256"]), int(meta["bytes"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"sidecar {sidecar.name} missing or unreadable ({e.__class__.__name__})"
    try:
        size = p.stat().st_size
    except OSError as e:
        return f"unreadable ({e.__class__.__name__})"
    if size != expected_bytes:
        return f"size {size} bytes != {expected_bytes} recorded (truncated?)"
    if sha256_file(p) != expected_sha:
        return "sha256 does not match the sidecar (corrupted)"
    return None


def find_latest_valid(output_dir: str | Path, log: logging.Logger = _log) -> Path | None:
    for _step, path in list_checkpoints(Path(output_dir) / CHECKPOINT_DIR):
        problem = verify_checkpoint(path)
        if problem is None:
            return path
        log.warning("skipping checkpoint %s: %s", path, problem)
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    problem = verify_checkpoint(path)
    if problem is not None:
        raise CorruptCheckpointError(f"checkpoint {path}: {problem}; delete it or point resume_from elsewhere")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if state.get("format") != FORMAT_VERSION:
        raise CorruptCheckpointError(f"checkpoint {path}: format {state.get('format')} != {FORMAT_VERSION}")
    return state


def sae_from_meta(meta: dict[str, Any]) -> SparseAutoencoder:
    return SparseAutoencoder(int(meta["d_in"]), int(meta["n_latents"]), architecture=meta["architecture"],
                             k=meta.get("k"), aux_k=meta.get("aux_k"))


def save_final_sae(output_dir: str | Path, sae: SparseAutoencoder, meta: dict[str, Any]) -> list[SavedFile]:
    from safetensors.torch import save_file

    d = Path(output_dir) / SAE_DIR
    d.mkdir(parents=True, exist_ok=True)
    weights = d / "sae.safetensors"
    tmp = weights.with_name(f".{weights.name}.tmp-{os.getpid()}")
    save_file({k: v.detach().float().cpu().contiguous() for k, v in sae.state_dict().items()}, str(tmp))
    _commit(tmp, weights)
    write_bytes_atomic(d / "meta.json", (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return [SavedFile(p, sha256_file(p), p.stat().st_size) for p in (weights, d / "meta.json")]


def load_sae(path_or_dir: str | Path, device: str | torch.device = "cpu") -> tuple[SparseAutoencoder, dict[str, Any]]:
    """Load an SAE from ``<out>/sae/``, from an output dir (its ``sae/`` or else newest valid checkpoint),
    or from one checkpoint file. Returns (sae in eval mode, meta) — see the pinned meta keys in README."""
    p = Path(path_or_dir)
    if p.is_dir() and (p / "sae.safetensors").exists():
        from safetensors.torch import load_file

        meta = json.loads((p / "meta.json").read_text())
        sae = sae_from_meta(meta)
        sae.load_state_dict(load_file(str(p / "sae.safetensors")))
    else:
        if p.is_dir() and (p / SAE_DIR / "sae.safetensors").exists():
            return load_sae(p / SAE_DIR, device)
        ckpt = p
        if p.is_dir():
            found = find_latest_valid(p.parent if p.name == CHECKPOINT_DIR else p)
            if found is None:
                raise DataError(f"{p}: no sae/ directory and no valid checkpoint found")
            ckpt = found
        state = load_checkpoint(ckpt)
        meta = dict(state["sae_meta"])
        sae = sae_from_meta(meta)
        sae.load_state_dict(state["model"])
    return sae.to(device).eval(), meta
