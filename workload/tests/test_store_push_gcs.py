"""kiln_sae/store_push.py's GCS target: the store config it accepts (two upload sessions, never a token), and
the archive's resumable upload when GCS keeps less of a part than it was sent (its 308 ``Range`` says how
much), against a small stateful stand-in on loopback. The full push against Kiln's GCS emulator
(discovery-checked) is in src/core/artifact-store/gcs-store.test.ts."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("store_push", ROOT / "workload" / "kiln_sae" / "store_push.py")
assert spec and spec.loader
sp = importlib.util.module_from_spec(spec)
sys.modules["store_push"] = sp  # dataclasses look their module up by name
spec.loader.exec_module(sp)

# --- The archive layout through upload sessions (no token) ---------------------------------------------

def test_persisted_offset_from_a_308():
    assert sp._persisted({"range": "bytes=0-262143"}) == 262144
    assert sp._persisted({}) == 0
    assert sp._persisted({"range": "bytes=0-x"}) == 0


SESSIONS = {"kind": "gcs", "endpoint": "https://storage.googleapis.com", "bucket": "b", "key_prefix": "runs/j-1",
            "sessions": {"outputs.tar": "https://storage.googleapis.com/upload/x?upload_id=a",
                         "manifest.json": "https://storage.googleapis.com/upload/x?upload_id=m"}}


def test_config_takes_upload_sessions_never_a_token_and_refuses_bad_part_sizes():
    s = sp.Store.from_json(SESSIONS)
    assert isinstance(s, sp.GcsStore) and s.archive
    assert s.where == "gs://b/runs/j-1"
    assert s.part_size % (256 * 1024) == 0
    for bad in ({"token": "ya29.x"}, {"sessions": None}, {"sessions": {"outputs.tar": "https://x"}}, {"sessions": {"outputs.tar": "ftp://x", "manifest.json": "https://x"}},
                {"sessions": {"outputs.tar": "", "manifest.json": "https://x"}}, {"sessions": ["https://x"]},
                {"part_size": 1000}, {"part_size": 256 * 1024 + 1}, {"endpoint": "ftp://x"}):
        with pytest.raises(sp.PushError):
            sp.Store.from_json({**SESSIONS, **bad})


class _Sessions:
    """Two sessions; the first chunk the archive's session gets is half kept (GCS may keep less than it was sent)."""

    def __init__(self) -> None:
        self.data = {"a": b"", "m": b""}
        self.done: dict[str, bytes] = {}
        self.short_once = True
        self.ranges: list[str] = []
        self.auth: list[str | None] = []


def _session_server(state: _Sessions) -> ThreadingHTTPServer:
    import base64
    import re

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _reply(self, status: int, sid: str) -> None:
            body = b""
            self.send_response(status)
            if status == 200:
                d = state.done[sid]
                body = json.dumps({"name": sid, "size": str(len(d)), "md5Hash": base64.b64encode(hashlib.md5(d).digest()).decode()}).encode()
            elif state.data[sid]:
                self.send_header("range", f"bytes=0-{len(state.data[sid]) - 1}")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            sid = self.path.rsplit("upload_id=", 1)[1]
            body = self.rfile.read(int(self.headers["content-length"] or 0))
            r = self.headers["content-range"]
            state.ranges.append(f"{sid} {r}")
            state.auth.append(self.headers.get("authorization"))
            if sid in state.done:
                return self._reply(200, sid)
            q = re.fullmatch(r"bytes \*/(\d+|\*)", r)
            if q:
                if q.group(1) != "*" and int(q.group(1)) == len(state.data[sid]):
                    state.done[sid] = state.data[sid]
                    return self._reply(200, sid)
                return self._reply(308, sid)
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", r)
            assert m, r
            if int(m.group(1)) == len(state.data[sid]):
                keep = body[: len(body) // 2] if (state.short_once and sid == "a") else body
                state.short_once = state.short_once and sid != "a"
                state.data[sid] += keep
            if m.group(3) != "*" and len(state.data[sid]) == int(m.group(3)):
                state.done[sid] = state.data[sid]
                return self._reply(200, sid)
            return self._reply(308, sid)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_archive_goes_on_from_what_gcs_kept_and_a_retry_checks_the_finished_sessions(tmp_path: Path):
    import io
    import tarfile
    state = _Sessions()
    srv = _session_server(state)
    try:
        out = tmp_path / "outputs"
        (out / "sae").mkdir(parents=True)
        big = bytes(range(256)) * (3 * 1024 + 5)
        (out / "sae" / "weights.bin").write_bytes(big)
        (out / "metrics.jsonl").write_text('{"step": 1}\n')
        (out / "x.kiln-part").write_text("in flight, not an output\n")
        base = f"http://127.0.0.1:{srv.server_address[1]}/upload/storage/v1/b/b/o?uploadType=resumable"
        store = sp.Store.from_json({**SESSIONS, "endpoint": f"http://127.0.0.1:{srv.server_address[1]}", "part_size": 256 * 1024,
                                    "sessions": {"outputs.tar": f"{base}&upload_id=a", "manifest.json": f"{base}&upload_id=m"}})
        got = sp.push(store, str(out), time.monotonic() + 60)
        assert got["files"] == 2 and got["bytes"] == len(big) + 12
        # No token ever went with a request: the session URI is the grant.
        assert state.auth and all(a is None for a in state.auth)
        # The first part was half kept: the next one starts at 128 KiB.
        parts = [r for r in state.ranges if r.startswith("a bytes 0-") or r.startswith("a bytes 131072-")]
        assert parts[:2] == ["a bytes 0-262143/*", "a bytes 131072-393215/*"]
        with tarfile.open(fileobj=io.BytesIO(state.done["a"])) as tar:
            assert tar.getnames() == ["metrics.jsonl", "sae/weights.bin"]
            assert tar.extractfile("sae/weights.bin").read() == big
        manifest = json.loads(state.done["m"])
        assert manifest["version"] == 2
        assert manifest["archive"] == {"path": "outputs.tar", "size": len(state.done["a"]), "sha256": hashlib.sha256(state.done["a"]).hexdigest()}
        assert [e["path"] for e in manifest["files"]] == ["metrics.jsonl", "sae/weights.bin"]
        # A retry finds both sessions finished with the same bytes (the tar is deterministic) and sends nothing new.
        n = len(state.ranges)
        assert sp.push(store, str(out), time.monotonic() + 60)["files"] == 2
        assert all(r.endswith("*/*") for r in state.ranges[n:])
    finally:
        srv.shutdown()
