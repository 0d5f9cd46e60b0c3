"""kiln_sae/store_push.py's directory target (a Lambda file system mounted at /lambda/nfs/NAME): run as the
watchdog runs it (a file, with python3) against real temp directories, plus one in-process run that records
the renames to show each file lands whole and the manifest lands last."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUSH = ROOT / "workload" / "kiln_sae" / "store_push.py"
MOUNT = "/lambda/nfs/kiln-fs"


def outputs(tmp_path: Path) -> Path:
    out = tmp_path / "outputs"
    (out / "sae" / "checkpoints").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    (out / "sae" / "checkpoints" / "latest.safetensors").write_bytes(bytes(range(256)) * 9000)
    (out / "name with space & ü.txt").write_text("odd names survive\n")
    # Not outputs: partial transfers, temp files and Kiln's own bookkeeping.
    (out / "sae" / "next.safetensors.tmp").write_bytes(b"half")
    (out / ".kiln-sync").write_text("x")
    return out


def run_push(tmp_path: Path, out: Path, volume: Path | None, prefix: str = "runs/j-1") -> tuple[int, dict]:
    cfg = tmp_path / "store.json"
    cfg.write_text(json.dumps({"kind": "dir", "root": MOUNT, "key_prefix": prefix}))
    result = tmp_path / "push-result.json"
    env = {**os.environ, "KILN_SIM_MOUNTS": json.dumps({MOUNT: str(volume)} if volume else {})}
    p = subprocess.run([sys.executable, str(PUSH), "--config", str(cfg), "--outputs", str(out), "--result", str(result), "--timeout-s", "60"],
                       env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, json.loads(result.read_text())


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_every_output_lands_under_the_mount_with_a_manifest_that_matches(tmp_path):
    out = outputs(tmp_path)
    volume = tmp_path / "volume"
    volume.mkdir()
    code, result = run_push(tmp_path, out, volume)
    assert code == 0, result
    assert result["ok"] is True and result["files"] == 3
    assert result["store"] == f"{MOUNT}/runs/j-1"
    job = volume / "runs" / "j-1"
    manifest = json.loads((job / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert [e["path"] for e in manifest["files"]] == ["metrics.jsonl", "name with space & ü.txt", "sae/checkpoints/latest.safetensors"]
    for e in manifest["files"]:
        f = job / "outputs" / e["path"]
        assert f.stat().st_size == e["size"] and sha(f) == e["sha256"] == sha(out / e["path"])
    # Nothing half-written or in flight is left, and nothing that was not an output was copied.
    assert sorted(p.name for p in job.rglob("*") if p.is_file()) == ["latest.safetensors", "manifest.json", "metrics.jsonl", "name with space & ü.txt"]


def test_each_file_is_renamed_into_place_whole_and_the_manifest_comes_last(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("store_push_under_test", PUSH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the file runs.
    monkeypatch.setitem(sys.modules, spec.name, mod)
    spec.loader.exec_module(mod)
    out = outputs(tmp_path)
    volume = tmp_path / "volume"
    volume.mkdir()
    monkeypatch.setenv("KILN_SIM_MOUNTS", json.dumps({MOUNT: str(volume)}))
    renames: list[tuple[str, str, bool]] = []
    real_replace = os.replace

    def recording_replace(src, dst):
        # What a reader could see at the moment of the rename: the temp file complete, the destination not yet there.
        renames.append((os.path.relpath(dst, volume), str(src), os.path.exists(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(mod.os, "replace", recording_replace)
    got = mod.push(mod.DirStore(root=MOUNT, key_prefix="runs/j-2"), str(out), deadline=mod.time.monotonic() + 60)
    assert got["files"] == 3
    assert [r[0] for r in renames][-1] == "runs/j-2/manifest.json"
    assert all(src == str(volume / dst) + ".kiln-part" and not existed for dst, src, existed in renames)
    assert len(renames) == 4


def test_a_volume_that_is_not_mounted_fails_the_push_and_writes_nothing_in_its_place(tmp_path):
    out = outputs(tmp_path)
    code, result = run_push(tmp_path, out, None)
    assert code == 1
    assert result["ok"] is False
    assert "is not mounted on this machine" in result["error"]
    assert not Path(MOUNT).exists() or not (Path(MOUNT) / "runs").exists()


def test_a_prefix_that_climbs_out_of_the_volume_is_refused(tmp_path):
    out = outputs(tmp_path)
    volume = tmp_path / "volume"
    volume.mkdir()
    code, result = run_push(tmp_path, out, volume, prefix="../escape")
    assert code == 1
    assert "key_prefix" in result["error"]
    assert list(volume.iterdir()) == []


def test_a_second_push_of_the_same_job_replaces_the_copy_and_still_verifies(tmp_path):
    out = outputs(tmp_path)
    volume = tmp_path / "volume"
    volume.mkdir()
    assert run_push(tmp_path, out, volume)[0] == 0
    (out / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n')
    code, result = run_push(tmp_path, out, volume)
    assert code == 0, result
    assert (volume / "runs" / "j-1" / "outputs" / "metrics.jsonl").read_text().count("step") == 2
