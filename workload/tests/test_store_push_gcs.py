"""kiln_sae/store_push.py's GCS target: the store config it accepts, and the resumable upload's recovery
when GCS keeps less of a chunk than it was sent (its 308 ``Range`` says how much), against a small
stateful stand-in on loopback. The full push against Kiln's GCS emulator (access boundary, discovery-checked)
is in src/core/artifact-store/gcs-store.test.ts."""
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

BASE = {"kind": "gcs", "endpoint": "https://storage.googleapis.com", "bucket": "b", "key_prefix": "runs/j-1", "token": "ya29.x"}


def test_config_takes_a_gcs_store_and_refuses_bad_chunk_sizes():
    s = sp.Store.from_json(BASE)
    assert isinstance(s, sp.GcsStore)
    assert s.where == "gs://b/runs/j-1"
    assert s.part_size % (256 * 1024) == 0
    for bad in ({"part_size": 1000}, {"part_size": 256 * 1024 + 1}, {"endpoint": "ftp://x"}, {"token": ""}, {"multipart_threshold": 0}):
        with pytest.raises(sp.PushError):
            sp.Store.from_json({**BASE, **bad})


def test_persisted_offset_from_a_308():
    assert sp._persisted({"range": "bytes=0-262143"}) == 262144
    assert sp._persisted({}) == 0
    assert sp._persisted({"range": "bytes=0-x"}) == 0


class _Gcs:
    """One bucket; a resumable session that keeps only half of the first chunk it is sent."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.session: dict = {}
        self.short_once = True
        self.puts: list[str] = []


def _server(state: _Gcs) -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _json(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _meta(self, name: str) -> dict:
            import base64
            d = state.objects[name]
            return {"name": name, "size": str(len(d)), "md5Hash": base64.b64encode(hashlib.md5(d).digest()).decode()}

        def do_GET(self):
            from urllib.parse import unquote, urlsplit, parse_qs
            u = urlsplit(self.path)
            name = unquote(u.path.rsplit("/o/", 1)[1])
            if name not in state.objects:
                return self._json(404, {"error": {"code": 404, "message": "No such object"}})
            if parse_qs(u.query).get("alt") == ["media"]:
                d = state.objects[name]
                self.send_response(200)
                self.send_header("content-length", str(len(d)))
                self.end_headers()
                return self.wfile.write(d)
            return self._json(200, self._meta(name))

        def do_POST(self):
            from urllib.parse import urlsplit, parse_qs
            assert self.headers["authorization"] == "Bearer ya29.x"
            q = parse_qs(urlsplit(self.path).query)
            body = self.rfile.read(int(self.headers["content-length"] or 0))
            name = q["name"][0]
            if q["uploadType"] == ["media"]:
                state.objects[name] = body
                return self._json(200, self._meta(name))
            state.session = {"name": name, "total": int(self.headers["x-upload-content-length"]), "data": b""}
            host = self.headers["host"]
            return self._json(200, headers={"location": f"http://{host}/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=s1"})

        def do_PUT(self):
            import re
            body = self.rfile.read(int(self.headers["content-length"] or 0))
            r = self.headers["content-range"]
            state.puts.append(r)
            s = state.session
            m = re.match(r"bytes (\d+)-(\d+)/(\d+)", r)
            if m and int(m.group(1)) == len(s["data"]):
                keep = body[: len(body) // 2] if state.short_once else body
                state.short_once = False
                s["data"] += keep
            if len(s["data"]) == s["total"]:
                state.objects[s["name"]] = s["data"]
                return self._json(200, self._meta(s["name"]))
            return self._json(308, headers={"range": f"bytes=0-{len(s['data']) - 1}"} if s["data"] else {})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_resumable_upload_goes_on_from_what_gcs_kept(tmp_path: Path):
    state = _Gcs()
    srv = _server(state)
    try:
        out = tmp_path / "outputs"
        out.mkdir()
        big = bytes(range(256)) * (3 * 1024 + 5)  # 3 chunks of 256 KiB and a tail
        (out / "weights.bin").write_bytes(big)
        (out / "metrics.jsonl").write_text('{"step": 1}\n')
        store = sp.Store.from_json({**BASE, "endpoint": f"http://127.0.0.1:{srv.server_address[1]}", "multipart_threshold": 1024, "part_size": 256 * 1024})
        got = sp.push(store, str(out), time.monotonic() + 60)
        assert got == {"files": 2, "bytes": len(big) + 12}
        assert state.objects["runs/j-1/outputs/weights.bin"] == big
        # The first chunk was half kept: the next one starts at 128 KiB, not 256 KiB.
        assert state.puts[:2] == [f"bytes 0-262143/{len(big)}", f"bytes 131072-393215/{len(big)}"]
        manifest = json.loads(state.objects["runs/j-1/manifest.json"])
        assert [e["path"] for e in manifest["files"]] == ["metrics.jsonl", "weights.bin"]
    finally:
        srv.shutdown()
