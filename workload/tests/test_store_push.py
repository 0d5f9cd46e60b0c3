"""kiln_sae/store_push.py, run as the watchdog runs it (a file, with python3), against moto's S3 on loopback with
IAM authentication on (scripts/moto-s3-server.py): every request's SigV4 signature and the caller's policy are
checked by moto, so a wrong signature or a key without the right is a real refusal, not a mocked one."""
from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUSH = ROOT / "workload" / "kiln_sae" / "store_push.py"
SERVER = ROOT / "scripts" / "moto-s3-server.py"

boto3 = pytest.importorskip("boto3", reason="boto3 (moto's dependency, dev extra) is not installed")
pytest.importorskip("moto", reason="moto[server] (dev extra) is not installed")


@pytest.fixture(scope="module")
def moto():
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the server prints one line once ready, or exits
    if not line:
        proc.kill()
        pytest.skip(f"moto's S3 server did not start: {proc.stderr.read()[-500:]}")
    yield json.loads(line)
    proc.stdin.close()
    proc.wait(timeout=30)


def s3(moto, who="admin"):
    k = moto[who]
    return boto3.client("s3", endpoint_url=moto["url"], region_name=moto["region"], aws_access_key_id=k["id"], aws_secret_access_key=k["secret"])


def config(tmp_path: Path, moto, key: dict, prefix: str, **extra) -> Path:
    c = {"kind": "s3", "endpoint": moto["url"], "region": moto["region"], "bucket": moto["bucket"], "key_prefix": prefix,
         "addressing": "path", "access_key_id": key["id"], "secret_access_key": key["secret"], **extra}
    p = tmp_path / "store.json"
    p.write_text(json.dumps(c))
    return p


def outputs(tmp_path: Path) -> Path:
    out = tmp_path / "outputs"
    (out / "sae").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    (out / "sae" / "checkpoint.safetensors").write_bytes(bytes(range(256)) * 4000)
    (out / "name with space & ü.txt").write_text("odd names survive\n")
    # Not outputs: partial transfers, temp files and Kiln's own bookkeeping.
    (out / "sae" / "next.safetensors.tmp").write_bytes(b"half")
    (out / ".kiln-sync").write_text("x")
    return out


def push(tmp_path: Path, cfg: Path, out: Path, timeout_s: float = 60) -> tuple[int, dict]:
    result = tmp_path / "push-result.json"
    r = subprocess.run([sys.executable, str(PUSH), "--config", str(cfg), "--outputs", str(out), "--result", str(result), "--timeout-s", str(timeout_s)],
                       capture_output=True, text=True, timeout=300)
    return r.returncode, json.loads(result.read_text())


def test_pushes_every_output_and_the_manifest_last_and_verifies_by_reading_back(tmp_path, moto):
    out = outputs(tmp_path)
    code, result = push(tmp_path, config(tmp_path, moto, moto["writer"], "runs/j-1"), out)
    assert code == 0, result
    assert result["ok"] and result["files"] == 3 and result["store"] == f"s3://{moto['bucket']}/runs/j-1"
    admin = s3(moto)
    manifest = json.loads(admin.get_object(Bucket=moto["bucket"], Key="runs/j-1/manifest.json")["Body"].read())
    assert [e["path"] for e in manifest["files"]] == ["metrics.jsonl", "name with space & ü.txt", "sae/checkpoint.safetensors"]
    for e in manifest["files"]:
        body = admin.get_object(Bucket=moto["bucket"], Key=f"runs/j-1/outputs/{e['path']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == e["sha256"] == hashlib.sha256((out / e["path"]).read_bytes()).hexdigest()
    keys = {o["Key"] for o in admin.list_objects_v2(Bucket=moto["bucket"], Prefix="runs/j-1/")["Contents"]}
    assert not any(k.endswith(".tmp") or ".kiln-" in k for k in keys)


def test_temporary_credentials_sign_with_their_session_token(tmp_path, moto):
    sts = boto3.client("sts", endpoint_url=moto["url"], region_name=moto["region"], aws_access_key_id=moto["admin"]["id"], aws_secret_access_key=moto["admin"]["secret"])
    c = sts.assume_role(RoleArn=moto["role_arn"], RoleSessionName="j-2", DurationSeconds=900)["Credentials"]
    cfg = config(tmp_path, moto, {"id": c["AccessKeyId"], "secret": c["SecretAccessKey"]}, "runs/j-2", session_token=c["SessionToken"])
    code, result = push(tmp_path, cfg, outputs(tmp_path))
    assert code == 0, result


def test_a_wrong_signature_a_missing_right_and_a_foreign_prefix_are_refused_by_the_store(tmp_path, moto):
    out = outputs(tmp_path)
    bad = {"id": moto["writer"]["id"], "secret": "not-the-secret"}
    assert push(tmp_path, config(tmp_path, moto, bad, "runs/j-3"), out)[1]["error"].endswith("SignatureDoesNotMatch")
    assert push(tmp_path, config(tmp_path, moto, moto["readonly"], "runs/j-3"), out)[1]["error"].endswith("AccessDenied")
    code, result = push(tmp_path, config(tmp_path, moto, moto["writer"], "elsewhere/j-3"), out)
    assert code == 1 and result["error"].endswith("AccessDenied") and not result["ok"]


def test_a_bad_config_is_reported_in_the_result_not_as_a_traceback(tmp_path, moto):
    cfg = config(tmp_path, moto, moto["writer"], "runs/j-4", addressing="sideways")
    code, result = push(tmp_path, cfg, outputs(tmp_path))
    assert code == 1 and result["error"] == "store config: addressing must be 'path' or 'virtual'"


def test_a_store_that_never_answers_fails_by_the_push_deadline(tmp_path, moto):
    # Accepts connections and never answers: only the push's own deadline ends the wait.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []
    stop = threading.Event()
    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        cfg = tmp_path / "store.json"
        cfg.write_text(json.dumps({"kind": "s3", "endpoint": f"http://127.0.0.1:{srv.getsockname()[1]}", "region": "us-east-1", "bucket": "b",
                                   "key_prefix": "p", "addressing": "path", "access_key_id": "a", "secret_access_key": "s"}))
        # Returning at all is the point (push() waits at most 300 s for it): the socket's default has no timeout.
        code, result = push(tmp_path, cfg, outputs(tmp_path), timeout_s=2)
        assert code == 1 and not result["ok"]
        assert "timed out" in result["error"] or "ran out of time" in result["error"]
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


def test_a_file_above_the_threshold_goes_up_in_parts_and_reads_back_whole(tmp_path, moto):
    # 12 MiB in 5 MiB parts (S3's minimum): three parts, the last one short. moto checks each part's
    # SigV4 payload hash and the writer's policy on every call.
    out = tmp_path / "outputs"
    (out / "sae").mkdir(parents=True)
    big = bytes(range(251)) * ((12 * 1024**2) // 251 + 1)
    big = big[: 12 * 1024**2]
    (out / "sae" / "big.safetensors").write_bytes(big)
    (out / "small.txt").write_text("one PUT\n")
    cfg = config(tmp_path, moto, moto["writer"], "runs/j-mp", multipart_threshold=1024**2, part_size=5 * 1024**2)
    code, result = push(tmp_path, cfg, out)
    assert code == 0, result
    assert result["files"] == 2 and result["bytes"] == len(big) + len("one PUT\n")
    admin = s3(moto)
    head = admin.head_object(Bucket=moto["bucket"], Key="runs/j-mp/outputs/sae/big.safetensors")
    assert head["ContentLength"] == len(big)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a three-part object
    body = admin.get_object(Bucket=moto["bucket"], Key="runs/j-mp/outputs/sae/big.safetensors")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(big).hexdigest()
    assert admin.list_multipart_uploads(Bucket=moto["bucket"]).get("Uploads", []) == []


def test_a_multipart_upload_the_store_refuses_fails_cleanly(tmp_path, moto):
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "big.bin").write_bytes(b"x" * (2 * 1024**2))
    cfg = config(tmp_path, moto, moto["readonly"], "runs/j-mp2", multipart_threshold=1024**2, part_size=5 * 1024**2)
    code, result = push(tmp_path, cfg, out)
    assert code == 1 and not result["ok"] and result["error"].endswith("AccessDenied")
    assert "?uploads" in result["error"]


def test_part_sizes_outside_what_s3_allows_are_refused_in_the_result(tmp_path, moto):
    cfg = config(tmp_path, moto, moto["writer"], "runs/j-mp3", part_size=1024)
    code, result = push(tmp_path, cfg, outputs(tmp_path))
    assert code == 1 and result["error"].startswith("store config: part_size must be a whole number of bytes from 5242880")
