"""Checkpoints: atomic with sha256 sidecars; truncated or corrupted files are skipped, never loaded."""
import json

import pytest
import torch

from kiln_sae import checkpoint as ckpt
from kiln_sae.sae import SparseAutoencoder


def _state(step, sae=None):
    sae = sae or SparseAutoencoder(4, 8, k=2, generator=torch.Generator().manual_seed(step))
    return {"format": ckpt.FORMAT_VERSION, "step": step, "model": sae.state_dict(),
            "sae_meta": {"d_in": 4, "n_latents": 8, "k": 2, "aux_k": 2, "architecture": "topk", "act_scale": 1.5,
                         "base_model": "m", "layer": 1, "hook": "resid_post", "context_size": 16}}


def test_save_writes_file_and_sidecar_and_prunes(tmp_path):
    for step in (10, 20, 30, 40):
        saved = ckpt.save_checkpoint(tmp_path, _state(step), step, keep=2)
    assert saved.path.name == "step-00000040.pt"
    sidecar = json.loads(saved.path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == ckpt.sha256_file(saved.path) and sidecar["bytes"] == saved.path.stat().st_size
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [40, 30]
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))  # no temp files left behind


def test_truncated_newest_checkpoint_is_skipped(tmp_path):
    ckpt.save_checkpoint(tmp_path, _state(10), 10, keep=5)
    newest = ckpt.save_checkpoint(tmp_path, _state(20), 20, keep=5).path
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    assert "truncated" in ckpt.verify_checkpoint(newest)
    assert ckpt.find_latest_valid(tmp_path).name == "step-00000010.pt"
    with pytest.raises(ckpt.CorruptCheckpointError):
        ckpt.load_checkpoint(newest)


def test_bit_flip_and_missing_sidecar_are_detected(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, _state(10), 10, keep=5).path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "sha256" in ckpt.verify_checkpoint(path)
    other = ckpt.save_checkpoint(tmp_path, _state(20), 20, keep=5).path
    other.with_suffix(".json").unlink()  # killed between writing the checkpoint and its sidecar
    assert "sidecar" in ckpt.verify_checkpoint(other)
    assert ckpt.find_latest_valid(tmp_path) is None


def test_load_sae_from_final_dir_checkpoint_and_output_dir(tmp_path):
    sae = SparseAutoencoder(4, 8, k=2, generator=torch.Generator().manual_seed(7))
    meta = _state(5, sae)["sae_meta"]
    ckpt.save_checkpoint(tmp_path / "a", _state(5, sae), 5, keep=1)
    ckpt.save_final_sae(tmp_path / "b", sae, meta)
    for where in (tmp_path / "a", tmp_path / "a" / "checkpoints" / "step-00000005.pt", tmp_path / "b",
                  tmp_path / "b" / "sae"):
        loaded, m = ckpt.load_sae(where)
        assert torch.equal(loaded.W_dec, sae.W_dec) and torch.equal(loaded.b_enc, sae.b_enc)
        assert m["act_scale"] == 1.5 and m["n_latents"] == 8 and m["k"] == 2 and m["architecture"] == "topk"
        assert not loaded.training
