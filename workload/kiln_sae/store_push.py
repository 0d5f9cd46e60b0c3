"""Push a job's outputs to the durable artifact store and verify them, for the on-machine watchdog.

Run by the watchdog (src/core/watchdog/script.ts) when the budget cap is reached with no client, after the
engine's final checkpoint and before billing ends::

    python3 store_push.py --config PRIVATE/store.json --outputs DIR --result WATCHDOG/push-result.json --timeout-s 300

Only the standard library: it runs with whatever python3 the machine has, even when the job's venv is
broken, and adds no package to the machine. It is run as a file, not as ``-m kiln_sae.store_push``, so the
package's imports (torch) are never loaded.

What "pushed" means here: every file under DIR (the same rules as Kiln's manifest: ``*.kiln-part``,
``*.tmp`` and ``.kiln-*`` are not outputs) was PUT under ``KEY_PREFIX/outputs/``, then the manifest
(``{path, size, sha256}`` per file) under ``KEY_PREFIX/manifest.json``, and then every object was read
back from the store and re-hashed against the manifest. Exit 0 only when all of that held; the result
file says what happened either way (the client reads it later, see src/core/watchdog/outcome.ts).

The store config (0600, in the watchdog's private directory; never on argv), one of:
``{"kind": "s3", "endpoint": "https://…", "region": "…", "bucket": "…", "key_prefix": "…",
"addressing": "path"|"virtual", "access_key_id": "…", "secret_access_key": "…", "session_token": "…"?}``
``{"kind": "azure-blob", "container_url": "https://ACCOUNT.blob.core.windows.net/CONTAINER",
"key_prefix": "…", "sas": "sv=…&sig=…"}`` (Azure Blob: a SAS for the container; blobs above the
threshold go up as blocks, Put Block then Put Block List).

``{"kind": "gcs", "endpoint": "https://storage.googleapis.com", "bucket": "…", "key_prefix": "…", "token": "…"}``
(Google Cloud Storage's JSON API with a bearer token downscoped to the prefix: a simple media upload up to
the threshold, a resumable upload in 256 KiB-multiple chunks above it; see ``_GcsFiles``).

``{"kind": "dir", "root": "/lambda/nfs/NAME", "key_prefix": "…"}`` (a provider volume mounted on the
machine, e.g. a Lambda file system: every file is written to a temporary name beside its place, fsynced and
renamed into place, so a reader never sees half a file; the manifest last, the directories fsynced too).
On Kiln's emulated machines the mount is a directory elsewhere: ``KILN_SIM_MOUNTS`` (JSON, mount point →
directory, set only by the emulators' machines) says where.

Requests are signed with AWS Signature Version 4 (header auth, the payload's sha256 signed), which S3,
R2, MinIO and moto all accept. Files above the multipart threshold (config ``multipart_threshold``,
default 256 MiB; S3 refuses a single PUT above 5 GiB) go up as a multipart upload: parts of
``part_size`` (default 128 MiB, grown so a file never needs more than S3's 10,000 parts; S3's minimum is
5 MiB), each signed with its own sha256, read from the file a part at a time, so memory stays flat. A
multipart upload that fails is aborted, so the store keeps no invisible half-object that bills.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import errno
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass

SINGLE_PUT_MAX = 5 * 1024**3
MIN_PART = 5 * 1024**2
MAX_PARTS = 10_000
DEFAULT_MULTIPART_THRESHOLD = 256 * 1024**2
DEFAULT_PART_SIZE = 128 * 1024**2
CHUNK = 1 << 20
# Per-request socket timeout; the whole push has its own deadline (--timeout-s).
REQUEST_TIMEOUT_S = 60.0
RETRIES = 3


class PushError(Exception):
    """A push that did not complete; the message goes into the result file."""


@dataclass(frozen=True)
class Store:
    endpoint: str
    region: str
    bucket: str
    key_prefix: str
    addressing: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE

    @staticmethod
    def from_json(data: object) -> "Store | AzureStore | DirStore | GcsStore":
        if isinstance(data, dict) and data.get("kind") == "azure-blob":
            return AzureStore.from_json(data)
        if isinstance(data, dict) and data.get("kind") == "gcs":
            return GcsStore.from_json(data)
        if isinstance(data, dict) and data.get("kind") == "dir":
            return DirStore.from_json(data)
        if not isinstance(data, dict) or data.get("kind") != "s3":
            raise PushError("store config: expected an object with kind 's3', 'azure-blob', 'gcs' or 'dir'")
        def text(key: str, optional: bool = False) -> str | None:
            v = data.get(key)
            if v is None and optional:
                return None
            if not isinstance(v, str) or v == "":
                raise PushError(f"store config: {key} must be a non-empty string")
            return v
        addressing = text("addressing")
        if addressing not in ("path", "virtual"):
            raise PushError("store config: addressing must be 'path' or 'virtual'")
        endpoint = text("endpoint")
        assert endpoint is not None
        if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
            raise PushError("store config: endpoint must be an http(s) URL")
        def size(key: str, default: int, low: int, high: int) -> int:
            v = data.get(key, default)
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise PushError(f"store config: {key} must be a whole number of bytes from {low} to {high}")
            return v
        return Store(endpoint=endpoint.rstrip("/"), region=text("region") or "", bucket=text("bucket") or "",
                     key_prefix=(text("key_prefix") or "").strip("/"), addressing=addressing,
                     access_key_id=text("access_key_id") or "", secret_access_key=text("secret_access_key") or "",
                     session_token=text("session_token", optional=True),
                     multipart_threshold=size("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD, 1, SINGLE_PUT_MAX),
                     part_size=size("part_size", DEFAULT_PART_SIZE, MIN_PART, SINGLE_PUT_MAX))


@dataclass(frozen=True)
class AzureStore:
    container_url: str
    key_prefix: str
    sas: str
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE

    @staticmethod
    def from_json(data: dict) -> "AzureStore":
        def text(key: str) -> str:
            v = data.get(key)
            if not isinstance(v, str) or v == "":
                raise PushError(f"store config: {key} must be a non-empty string")
            return v
        url = text("container_url").rstrip("/")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise PushError("store config: container_url must be an http(s) URL")
        th = data.get("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD)
        ps = data.get("part_size", DEFAULT_PART_SIZE)
        if not isinstance(th, int) or isinstance(th, bool) or th < 1:
            raise PushError("store config: multipart_threshold must be a positive whole number of bytes")
        # Azure's Put Block takes up to 4000 MiB; blocks need no minimum size.
        if not isinstance(ps, int) or isinstance(ps, bool) or not 1 <= ps <= 4000 * 1024**2:
            raise PushError("store config: part_size must be a whole number of bytes from 1 to 4000 MiB")
        return AzureStore(container_url=url, key_prefix=text("key_prefix").strip("/"), sas=text("sas").lstrip("?"),
                          multipart_threshold=th, part_size=ps)

    @property
    def where(self) -> str:
        return f"{self.container_url}/{self.key_prefix}"


@dataclass(frozen=True)
class DirStore:
    """A mounted provider volume (a Lambda file system at /lambda/nfs/NAME): the store is a directory."""
    root: str
    key_prefix: str

    @staticmethod
    def from_json(data: dict) -> "DirStore":
        root, prefix = data.get("root"), data.get("key_prefix")
        if not isinstance(root, str) or not root.startswith("/"):
            raise PushError("store config: root must be an absolute path")
        if not isinstance(prefix, str) or prefix.strip("/") == "" or ".." in prefix.split("/"):
            raise PushError("store config: key_prefix must be a relative path without '..'")
        return DirStore(root=root.rstrip("/"), key_prefix=prefix.strip("/"))

    @property
    def where(self) -> str:
        return f"{self.root}/{self.key_prefix}"

    def mounted_root(self) -> str:
        """The mount point as this machine sees it; an emulated machine's mounts are directories elsewhere."""
        try:
            mounts = json.loads(os.environ.get("KILN_SIM_MOUNTS") or "{}")
        except ValueError:
            mounts = {}
        mapped = mounts.get(self.root) if isinstance(mounts, dict) else None
        return mapped if isinstance(mapped, str) else self.root


class _DirFiles:
    """A directory behind the same three calls as the object stores: write-temp, fsync, rename; read back."""

    def __init__(self, store: DirStore, deadline: float) -> None:
        self.root = store.mounted_root()
        self.deadline = deadline
        # A volume that is not mounted must fail the push, never fill the machine's own disk in its place.
        if not os.path.isdir(self.root):
            raise PushError(f"{store.root} is not mounted on this machine (was the file system attached at launch?)")

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _write(self, key: str, chunks) -> None:
        if time.monotonic() > self.deadline:
            raise PushError("the push ran out of time")
        dest = self._path(key)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.kiln-part"
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        # The rename is durable only once its directory is: on NFS a close-to-open flush, locally an fsync.
        fd = os.open(os.path.dirname(dest), os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as e:
            # Some file systems cannot fsync a directory (EINVAL); the rename is then as durable as they make it.
            if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                raise
        finally:
            os.close(fd)

    def put_file(self, key: str, path: str, size: int, sha256: str) -> None:
        def chunks():
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        self._write(key, chunks())

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, [data])

    def get_hash(self, key: str) -> tuple[int, str, bytes]:
        p = self._path(key)
        try:
            with open(p, "rb") as f:
                head = f.read(CHUNK)
        except FileNotFoundError:
            return -1, "", b""
        return os.path.getsize(p), sha256_file(p), head


def is_in_flight(name: str) -> bool:
    return name.endswith(".kiln-part") or name.endswith(".tmp") or name.startswith(".kiln-")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def local_manifest(root: str) -> list[dict]:
    """``{path, size, sha256}`` for every output file under root, sorted by path (what Kiln's TS manifest computes)."""
    out = []
    if not os.path.isdir(root):
        return out
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            if is_in_flight(name):
                continue
            p = os.path.join(d, name)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            out.append({"path": rel, "size": os.path.getsize(p), "sha256": sha256_file(p)})
    return sorted(out, key=lambda e: e["path"])


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _quote(s: str) -> str:
    return urllib.parse.quote(s, safe="-_.~")


class S3:
    """The few S3 calls a push needs, signed with SigV4 over http.client (no SDK on the machine)."""

    def __init__(self, store: Store, deadline: float) -> None:
        self.store = store
        self.deadline = deadline
        u = urllib.parse.urlsplit(store.endpoint)
        self.scheme = u.scheme
        self.port = u.port
        base_host = u.hostname or ""
        self.host = f"{store.bucket}.{base_host}" if store.addressing == "virtual" else base_host

    def _path(self, key: str) -> str:
        # S3 signs the path with each segment encoded once, slashes kept.
        segments = [_quote(s) for s in key.split("/")]
        if self.store.addressing == "virtual":
            return "/" + "/".join(segments)
        return f"/{_quote(self.store.bucket)}/" + "/".join(segments)

    def _host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port in (None, default) else f"{self.host}:{self.port}"

    def _signed_headers(self, method: str, path: str, payload_sha256: str, extra: dict[str, str], query: str = "") -> dict[str, str]:
        now = dt.datetime.now(dt.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers = {"host": self._host_header(), "x-amz-content-sha256": payload_sha256, "x-amz-date": amz_date}
        if self.store.session_token:
            headers["x-amz-security-token"] = self.store.session_token
        headers.update({k.lower(): v.strip() for k, v in extra.items()})
        names = sorted(headers)
        canonical = "\n".join([method, path, query, *(f"{n}:{headers[n]}" for n in names), "", ";".join(names), payload_sha256])
        scope = f"{day}/{self.store.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(_hmac(_hmac(_hmac(f"AWS4{self.store.secret_access_key}".encode(), day), self.store.region), "s3"), "aws4_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.store.access_key_id}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        timeout = max(1.0, min(REQUEST_TIMEOUT_S, self.deadline - time.monotonic()))
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _request(self, method: str, key: str, payload_sha256: str, body_path: str | None = None,
                 body: bytes | None = None, sink=None, query: dict[str, str] | None = None,
                 part: tuple[int, int] | None = None, answer: dict | None = None) -> tuple[int, bytes]:
        """One request with retries on connection errors and 5xx; returns (status, error body or b'').

        ``part`` sends ``(offset, length)`` of ``body_path`` instead of the whole file; ``answer`` receives
        a 2xx response's ``etag`` header and its body (up to 64 KiB) when no ``sink`` reads it."""
        last = ""
        # SigV4's canonical query: names and values encoded, sorted by name ("uploads" is "uploads=").
        q = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted((query or {}).items()))
        for attempt in range(RETRIES):
            if time.monotonic() >= self.deadline:
                raise PushError(f"the push ran out of time ({last or 'before ' + method + ' ' + key})")
            path = self._path(key)
            extra = {}
            if part is not None:
                size = part[1]
            else:
                size = os.path.getsize(body_path) if body_path else len(body) if body is not None else None
            if size is not None:
                extra["content-length"] = str(size)
            headers = self._signed_headers(method, path, payload_sha256, extra, q)
            target = f"{path}?{q}" if q else path
            conn = self._connection()
            try:
                if body_path is not None:
                    with open(body_path, "rb") as f:
                        if part is not None:
                            f.seek(part[0])
                            conn.request(method, target, body=_Window(f, part[1]), headers=headers, encode_chunked=False)
                        else:
                            conn.request(method, target, body=f, headers=headers, encode_chunked=False)
                        resp = conn.getresponse()
                else:
                    conn.request(method, target, body=body, headers=headers)
                    resp = conn.getresponse()
                if 200 <= resp.status < 300:
                    if sink is not None:
                        while chunk := resp.read(CHUNK):
                            sink(chunk)
                    elif answer is not None:
                        answer["etag"] = resp.getheader("etag") or ""
                        answer["body"] = resp.read(65536)
                        resp.read()
                    else:
                        resp.read()
                    return resp.status, b""
                err = resp.read(4096)
                if resp.status < 500:
                    return resp.status, err
                last = f"{method} {key}: HTTP {resp.status} {_error_code(err)}"
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                last = f"{method} {key}: {type(e).__name__}: {e}"
            finally:
                conn.close()
            time.sleep(min(2 ** attempt, max(0.0, self.deadline - time.monotonic())))
        raise PushError(last)

    def put_file(self, key: str, path: str, sha256: str) -> None:
        status, err = self._request("PUT", key, sha256, body_path=path)
        if status >= 300:
            raise PushError(f"PUT {key}: HTTP {status} {_error_code(err)}")

    def put_multipart(self, key: str, path: str, size: int) -> None:
        """CreateMultipartUpload, UploadPart per window of the file, CompleteMultipartUpload; abort on failure."""
        part_size = max(self.store.part_size, -(-size // MAX_PARTS))
        answer: dict = {}
        status, err = self._request("POST", key, hashlib.sha256(b"").hexdigest(), body=b"", query={"uploads": ""}, answer=answer)
        if status >= 300:
            raise PushError(f"POST {key}?uploads: HTTP {status} {_error_code(err)}")
        upload_id = _xml_text(answer.get("body", b""), "UploadId")
        if not upload_id:
            raise PushError(f"POST {key}?uploads: the store answered no UploadId")
        try:
            etags = []
            for n, offset in enumerate(range(0, size, part_size), start=1):
                length = min(part_size, size - offset)
                answer = {}
                status, err = self._request("PUT", key, _sha256_window(path, offset, length), body_path=path,
                                            part=(offset, length), query={"partNumber": str(n), "uploadId": upload_id}, answer=answer)
                if status >= 300:
                    raise PushError(f"PUT {key} part {n}: HTTP {status} {_error_code(err)}")
                etags.append(answer.get("etag", ""))
            doc = "<CompleteMultipartUpload>" + "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_escape(e)}</ETag></Part>" for n, e in enumerate(etags, start=1)
            ) + "</CompleteMultipartUpload>"
            data = doc.encode()
            answer = {}
            status, err = self._request("POST", key, hashlib.sha256(data).hexdigest(), body=data, query={"uploadId": upload_id}, answer=answer)
            # S3 can answer 200 with an <Error> body for a complete that failed late.
            if status >= 300 or b"<Error>" in answer.get("body", b""):
                raise PushError(f"POST {key}?uploadId: HTTP {status} {_error_code(err or answer.get('body', b''))}")
        except PushError:
            try:
                self._request("DELETE", key, hashlib.sha256(b"").hexdigest(), query={"uploadId": upload_id})
            except PushError:
                pass  # The push fails either way; the store's lifecycle rules reap what is left.
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        status, err = self._request("PUT", key, hashlib.sha256(data).hexdigest(), body=data)
        if status >= 300:
            raise PushError(f"PUT {key}: HTTP {status} {_error_code(err)}")

    def get_hash(self, key: str) -> tuple[int, str, bytes]:
        """(size, sha256) of the object as the store serves it, plus its first 1 MiB (for the manifest)."""
        h = hashlib.sha256()
        state = {"size": 0, "head": b""}
        def sink(chunk: bytes) -> None:
            h.update(chunk)
            state["size"] += len(chunk)
            if len(state["head"]) < CHUNK:
                state["head"] += chunk[: CHUNK - len(state["head"])]
        empty = hashlib.sha256(b"").hexdigest()
        status, err = self._request("GET", key, empty, sink=sink)
        if status >= 300:
            raise PushError(f"GET {key}: HTTP {status} {_error_code(err)}")
        return state["size"], h.hexdigest(), state["head"]


class AzureBlob:
    """The few Blob calls a push needs, authorised by the SAS in the query (no SDK on the machine)."""

    VERSION = "2020-12-06"
    MAX_BLOCKS = 50_000

    def __init__(self, store: AzureStore, deadline: float) -> None:
        self.store = store
        self.deadline = deadline
        u = urllib.parse.urlsplit(store.container_url)
        self.scheme = u.scheme
        self.host = u.hostname or ""
        self.port = u.port
        self.base = u.path.rstrip("/")

    def _target(self, key: str, query: dict[str, str] | None = None) -> str:
        path = self.base + "/" + "/".join(_quote(s) for s in key.split("/"))
        extra = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in (query or {}).items())
        return f"{path}?{extra + '&' if extra else ''}{self.store.sas}"

    def _connection(self) -> http.client.HTTPConnection:
        timeout = max(1.0, min(REQUEST_TIMEOUT_S, self.deadline - time.monotonic()))
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _request(self, method: str, key: str, *, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                 body_path: str | None = None, part: tuple[int, int] | None = None, body: bytes | None = None, sink=None) -> tuple[int, bytes]:
        """One request with retries on connection errors and 5xx; (status, error code or b'')."""
        last = ""
        for attempt in range(RETRIES):
            if time.monotonic() >= self.deadline:
                raise PushError(f"the push ran out of time ({last or 'before ' + method + ' ' + key})")
            h = {"x-ms-version": self.VERSION, **(headers or {})}
            if part is not None:
                h["content-length"] = str(part[1])
            elif body_path is not None:
                h["content-length"] = str(os.path.getsize(body_path))
            elif method == "PUT":
                h["content-length"] = str(len(body or b""))
            conn = self._connection()
            try:
                if body_path is not None:
                    with open(body_path, "rb") as f:
                        if part is not None:
                            f.seek(part[0])
                        payload = _Window(f, part[1]) if part is not None else f
                        conn.request(method, self._target(key, query), body=payload, headers=h, encode_chunked=False)
                        resp = conn.getresponse()
                else:
                    conn.request(method, self._target(key, query), body=body, headers=h)
                    resp = conn.getresponse()
                if 200 <= resp.status < 300:
                    if sink is not None:
                        while chunk := resp.read(CHUNK):
                            sink(chunk)
                    else:
                        resp.read()
                    return resp.status, b""
                code = (resp.getheader("x-ms-error-code") or "").encode() or resp.read(4096)
                resp.read()
                if resp.status < 500:
                    return resp.status, code
                last = f"{method} {key}: HTTP {resp.status} {code.decode('utf-8', 'replace')[:100]}"
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                last = f"{method} {key}: {type(e).__name__}: {e}"
            finally:
                conn.close()
            time.sleep(min(2 ** attempt, max(0.0, self.deadline - time.monotonic())))
        raise PushError(last)

    def _check(self, what: str, status: int, err: bytes) -> None:
        if status >= 300:
            raise PushError(f"{what}: HTTP {status} {err.decode('utf-8', 'replace')[:100]}")

    def put_file(self, key: str, path: str, size: int) -> None:
        if size <= self.store.multipart_threshold:
            status, err = self._request("PUT", key, headers={"x-ms-blob-type": "BlockBlob"}, body_path=path)
            return self._check(f"PUT {key}", status, err)
        part_size = max(self.store.part_size, -(-size // self.MAX_BLOCKS))
        ids = []
        for n, offset in enumerate(range(0, size, part_size)):
            # Block ids: base64 of a fixed-length string, the same length for every block of a blob.
            bid = base64.b64encode(f"kiln-{n:08d}".encode()).decode()
            status, err = self._request("PUT", key, query={"comp": "block", "blockid": bid}, body_path=path, part=(offset, min(part_size, size - offset)))
            self._check(f"PUT {key} block {n}", status, err)
            ids.append(bid)
        doc = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + "".join(f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>").encode()
        status, err = self._request("PUT", key, query={"comp": "blocklist"}, headers={"content-type": "application/xml"}, body=doc)
        self._check(f"PUT {key} block list", status, err)

    def put_bytes(self, key: str, data: bytes) -> None:
        status, err = self._request("PUT", key, headers={"x-ms-blob-type": "BlockBlob"}, body=data)
        self._check(f"PUT {key}", status, err)

    def get_hash(self, key: str) -> tuple[int, str, bytes]:
        h = hashlib.sha256()
        state = {"size": 0, "head": b""}
        def sink(chunk: bytes) -> None:
            h.update(chunk)
            state["size"] += len(chunk)
            if len(state["head"]) < CHUNK:
                state["head"] += chunk[: CHUNK - len(state["head"])]
        status, err = self._request("GET", key, sink=sink)
        self._check(f"GET {key}", status, err)
        return state["size"], h.hexdigest(), state["head"]


class _Window:
    """A read-only view of ``length`` bytes of an open file from its current position (one upload part)."""

    def __init__(self, f, length: int) -> None:
        self.f = f
        self.left = length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(want)
        self.left -= len(data)
        return data


def _sha256_window(path: str, offset: int, length: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _xml_text(body: bytes, tag: str) -> str:
    text = body.decode("utf-8", "replace")
    start = text.find(f"<{tag}>")
    end = text.find(f"</{tag}>", start)
    return text[start + len(tag) + 2:end].strip() if start >= 0 and end > start else ""


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _error_code(body: bytes) -> str:
    """S3's XML error code (AccessDenied, NoSuchBucket…), without parsing XML from an untrusted peer."""
    text = body.decode("utf-8", "replace")
    start = text.find("<Code>")
    end = text.find("</Code>", start)
    return text[start + 6:end][:100] if start >= 0 and end > start else text[:100].replace("\n", " ")


class _S3Files:
    """S3 behind the same three calls as AzureBlob: a file (in parts above the threshold), bytes, a read-back."""

    def __init__(self, store: Store, deadline: float) -> None:
        self.store = store
        self.s3 = S3(store, deadline)

    def put_file(self, key: str, path: str, size: int, sha256: str) -> None:
        if size > self.store.multipart_threshold:
            self.s3.put_multipart(key, path, size)
        else:
            self.s3.put_file(key, path, sha256)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.s3.put_bytes(key, data)

    def get_hash(self, key: str) -> tuple[int, str, bytes]:
        return self.s3.get_hash(key)


class _AzureFiles(AzureBlob):
    def put_file(self, key: str, path: str, size: int, sha256: str) -> None:  # type: ignore[override]
        super().put_file(key, path, size)


# --- Google Cloud Storage (JSON API, bearer token) -------------------------------------------------------

GCS_QUANTUM = 256 * 1024


@dataclass(frozen=True)
class GcsStore:
    """``{"kind": "gcs", "endpoint": "https://storage.googleapis.com", "bucket": "…", "key_prefix": "…",
    "token": "…"}``: a token downscoped to ``key_prefix`` (it can create and read objects there, nothing
    else: no list, no delete, no overwrite)."""
    endpoint: str
    bucket: str
    key_prefix: str
    token: str
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE

    @staticmethod
    def from_json(data: dict) -> "GcsStore":
        def text(key: str) -> str:
            v = data.get(key)
            if not isinstance(v, str) or v == "":
                raise PushError(f"store config: {key} must be a non-empty string")
            return v
        endpoint = text("endpoint").rstrip("/")
        if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
            raise PushError("store config: endpoint must be an http(s) URL")
        th = data.get("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD)
        ps = data.get("part_size", DEFAULT_PART_SIZE)
        if not isinstance(th, int) or isinstance(th, bool) or th < 1:
            raise PushError("store config: multipart_threshold must be a positive whole number of bytes")
        # GCS takes a resumable upload's chunks (all but the last) in multiples of 256 KiB only.
        if not isinstance(ps, int) or isinstance(ps, bool) or ps < GCS_QUANTUM or ps % GCS_QUANTUM != 0:
            raise PushError("store config: part_size must be a positive multiple of 256 KiB for GCS")
        return GcsStore(endpoint=endpoint, bucket=text("bucket"), key_prefix=text("key_prefix").strip("/"),
                        token=text("token"), multipart_threshold=th, part_size=ps)

    @property
    def where(self) -> str:
        return f"gs://{self.bucket}/{self.key_prefix}"


class _HashingReader:
    """A file read for an upload, md5-hashed on the way (GCS answers the object's md5Hash to compare)."""

    def __init__(self, f) -> None:
        self.f = f
        self.md5 = hashlib.md5()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.md5.update(data)
        return data


def _md5_b64_file(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return base64.b64encode(h.digest()).decode()


def _gcs_error(body: bytes) -> str:
    """Google's JSON error envelope's message, without trusting its shape."""
    try:
        err = json.loads(body.decode("utf-8", "replace")).get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:160]
        if isinstance(err, str):
            return err[:160]
    except (ValueError, AttributeError):
        pass
    return body[:100].decode("utf-8", "replace").replace("\n", " ")


class _GcsFiles:
    """The few JSON API calls a push needs, with the bearer token (no SDK on the machine). Files up to the
    threshold go up as one simple media upload, checked against the md5Hash GCS answers; larger ones as a
    resumable upload in ``part_size`` chunks, resumed from the offset GCS reports after a failed chunk.

    Quirk: the downscoped token has no ``storage.objects.delete``, which GCS requires to overwrite an object,
    so a retried push would be refused on the files the first try stored: an object already there with the
    same size and md5 is kept as it is."""

    def __init__(self, store: GcsStore, deadline: float) -> None:
        self.store = store
        self.deadline = deadline
        self.origin = urllib.parse.urlsplit(store.endpoint)

    def _object_path(self, key: str) -> str:
        # The object name is one path segment: its slashes are encoded too.
        return f"/storage/v1/b/{_quote(self.store.bucket)}/o/{urllib.parse.quote(key, safe='')}"

    def _upload_path(self, key: str, kind: str) -> str:
        return f"/upload/storage/v1/b/{_quote(self.store.bucket)}/o?uploadType={kind}&name={urllib.parse.quote(key, safe='')}"

    def _call(self, method: str, url: str, headers: dict[str, str], *, body: bytes | None = None, body_path: str | None = None,
              part: tuple[int, int] | None = None, sink=None, retries: int = RETRIES, hashed: list | None = None) -> tuple[int, bytes, dict[str, str]]:
        """One request (url: a path on the endpoint, or an absolute session URI); retries connection errors
        and 5xx. Returns (status, body up to 64 KiB unless ``sink`` took it, lower-cased headers)."""
        u = urllib.parse.urlsplit(url if "://" in url else self.store.endpoint + url)
        same_origin = (u.scheme, u.hostname, u.port) == (self.origin.scheme, self.origin.hostname, self.origin.port)
        target = u.path + (f"?{u.query}" if u.query else "")
        last = ""
        for attempt in range(retries):
            if time.monotonic() >= self.deadline:
                raise PushError(f"the push ran out of time ({last or 'before ' + method + ' ' + u.path})")
            h = dict(headers)
            if same_origin:
                h["authorization"] = f"Bearer {self.store.token}"
            if part is not None:
                h["content-length"] = str(part[1])
            elif body_path is not None:
                h["content-length"] = str(os.path.getsize(body_path))
            elif method in ("PUT", "POST"):
                h["content-length"] = str(len(body or b""))
            timeout = max(1.0, min(REQUEST_TIMEOUT_S, self.deadline - time.monotonic()))
            conn = (http.client.HTTPSConnection(u.hostname or "", u.port, timeout=timeout, context=ssl.create_default_context())
                    if u.scheme == "https" else http.client.HTTPConnection(u.hostname or "", u.port, timeout=timeout))
            try:
                if body_path is not None:
                    with open(body_path, "rb") as f:
                        if part is not None:
                            f.seek(part[0])
                        payload = _Window(f, part[1]) if part is not None else _HashingReader(f)
                        conn.request(method, target, body=payload, headers=h, encode_chunked=False)
                        resp = conn.getresponse()
                    if hashed is not None and isinstance(payload, _HashingReader):
                        hashed[:] = [base64.b64encode(payload.md5.digest()).decode()]
                else:
                    conn.request(method, target, body=body, headers=h)
                    resp = conn.getresponse()
                got = {k.lower(): v for k, v in resp.getheaders()}
                if resp.status < 500:
                    if sink is not None and 200 <= resp.status < 300:
                        while chunk := resp.read(CHUNK):
                            sink(chunk)
                        return resp.status, b"", got
                    data = resp.read(65536)
                    resp.read()
                    return resp.status, data, got
                last = f"{method} {u.path}: HTTP {resp.status} {_gcs_error(resp.read(4096))}"
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                last = f"{method} {u.path}: {type(e).__name__}: {e}"
            finally:
                conn.close()
            if attempt + 1 < retries:
                time.sleep(min(2 ** attempt, max(0.0, self.deadline - time.monotonic())))
        raise PushError(last)

    def _stored(self, key: str) -> dict | None:
        """The object's metadata, or None when it is not there."""
        status, data, _ = self._call("GET", self._object_path(key), {})
        if status == 404:
            return None
        if status >= 300:
            raise PushError(f"GET {key} metadata: HTTP {status} {_gcs_error(data)}")
        return _object_json(key, data)

    def _already(self, key: str, size: int, md5_b64) -> bool:
        meta = self._stored(key)
        return meta is not None and str(meta.get("size")) == str(size) and meta.get("md5Hash") == md5_b64()

    def put_file(self, key: str, path: str, size: int, sha256: str) -> None:
        if self._already(key, size, lambda: _md5_b64_file(path)):
            return
        if size > self.store.multipart_threshold:
            return self._resumable(key, path, size)
        hashed: list = []
        status, data, _ = self._call("POST", self._upload_path(key, "media"), {"content-type": "application/octet-stream"}, body_path=path, hashed=hashed)
        self._check_uploaded(key, status, data, size, hashed[0] if hashed else None)

    def put_bytes(self, key: str, data: bytes) -> None:
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if self._already(key, len(data), lambda: md5):
            return
        status, body, _ = self._call("POST", self._upload_path(key, "media"), {"content-type": "application/json"}, body=data)
        self._check_uploaded(key, status, body, len(data), md5)

    def _check_uploaded(self, key: str, status: int, data: bytes, size: int, md5: str | None) -> None:
        if status >= 300:
            raise PushError(f"POST {key}: HTTP {status} {_gcs_error(data)}")
        meta = _object_json(key, data)
        if str(meta.get("size")) != str(size) or (md5 is not None and meta.get("md5Hash") not in (None, md5)):
            raise PushError(f"POST {key}: the store holds {meta.get('size')} bytes (md5 {meta.get('md5Hash')}), not the {size} sent")

    def _resumable(self, key: str, path: str, size: int) -> None:
        """Start a session, then PUT chunks; after a failed chunk ask where the upload stands and go on from there."""
        status, data, h = self._call("POST", self._upload_path(key, "resumable"),
                                     {"x-upload-content-type": "application/octet-stream", "x-upload-content-length": str(size)}, body=b"")
        session = h.get("location", "")
        if status >= 300 or urllib.parse.urlsplit(session).scheme not in ("http", "https"):
            raise PushError(f"POST {key} (resumable): HTTP {status} {_gcs_error(data) if status >= 300 else 'no session URI'}")
        offset, failures = 0, 0
        while True:
            length = min(self.store.part_size, size - offset)
            try:
                status, data, h = self._call("PUT", session, {"content-range": f"bytes {offset}-{offset + length - 1}/{size}"},
                                             body_path=path, part=(offset, length), retries=1)
            except PushError as e:
                status, data, h = 503, str(e).encode(), {}
            if status in (200, 201):
                return self._check_uploaded(key, status, data, size, None)
            if status == 308:
                offset = _persisted(h)
                continue
            if status < 500 and status not in (408, 429):
                # 404/410: the session is gone (a week old, or cancelled); 4xx: refused.
                raise PushError(f"PUT {key} chunk at {offset}: HTTP {status} {_gcs_error(data)}")
            failures += 1
            if failures > RETRIES * 2:
                raise PushError(f"PUT {key} chunk at {offset}: gave up after {failures} failures ({_gcs_error(data)})")
            time.sleep(min(2 ** min(failures, 5), max(0.0, self.deadline - time.monotonic())))
            # Where does the upload stand? GCS may have kept less than it was sent.
            status, data, h = self._call("PUT", session, {"content-range": f"bytes */{size}"}, body=b"")
            if status in (200, 201):
                return self._check_uploaded(key, status, data, size, None)
            if status != 308:
                raise PushError(f"PUT {key} (status of the upload): HTTP {status} {_gcs_error(data)}")
            offset = _persisted(h)

    def get_hash(self, key: str) -> tuple[int, str, bytes]:
        h = hashlib.sha256()
        state = {"size": 0, "head": b""}
        def sink(chunk: bytes) -> None:
            h.update(chunk)
            state["size"] += len(chunk)
            if len(state["head"]) < CHUNK:
                state["head"] += chunk[: CHUNK - len(state["head"])]
        status, data, _ = self._call("GET", self._object_path(key) + "?alt=media", {}, sink=sink)
        if status >= 300:
            raise PushError(f"GET {key}: HTTP {status} {_gcs_error(data)}")
        return state["size"], h.hexdigest(), state["head"]


def _persisted(headers: dict[str, str]) -> int:
    """The next offset from a 308's ``Range: bytes=0-N`` (no Range: nothing persisted yet)."""
    r = headers.get("range", "")
    if not r.startswith("bytes=0-"):
        return 0
    try:
        return int(r[len("bytes=0-"):]) + 1
    except ValueError:
        return 0


def _object_json(key: str, data: bytes) -> dict:
    try:
        meta = json.loads(data.decode("utf-8"))
    except ValueError as e:
        raise PushError(f"{key}: the store answered no object resource") from e
    if not isinstance(meta, dict):
        raise PushError(f"{key}: the store answered no object resource")
    return meta


def push(store: "Store | AzureStore | DirStore | GcsStore", outputs: str, deadline: float) -> dict:
    manifest = local_manifest(outputs)
    s3 = _GcsFiles(store, deadline) if isinstance(store, GcsStore) else _DirFiles(store, deadline) if isinstance(store, DirStore) else _AzureFiles(store, deadline) if isinstance(store, AzureStore) else _S3Files(store, deadline)
    key = lambda rel: f"{store.key_prefix}/{rel}" if store.key_prefix else rel  # noqa: E731
    for e in manifest:
        s3.put_file(key("outputs/" + e["path"]), os.path.join(outputs, *e["path"].split("/")), e["size"], e["sha256"])
    doc = json.dumps({"version": 1, "files": manifest}, indent=1).encode()
    # The manifest goes last: its presence in the store means every file it lists was written.
    s3.put_bytes(key("manifest.json"), doc)
    # Verification reads everything back: the store's copy, not what we sent, is what has to be right.
    size, sha, head = s3.get_hash(key("manifest.json"))
    if sha != hashlib.sha256(doc).hexdigest():
        raise PushError(f"the manifest read back from the store differs ({size} bytes)")
    bad = []
    for e in manifest:
        size, sha, _ = s3.get_hash(key("outputs/" + e["path"]))
        if size != e["size"] or sha != e["sha256"]:
            bad.append(e["path"])
    if bad:
        raise PushError(f"{len(bad)} objects differ from the manifest when read back: {', '.join(bad[:5])}")
    return {"files": len(manifest), "bytes": sum(e["size"] for e in manifest)}


def write_result(path: str, result: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--outputs", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--timeout-s", type=float, required=True)
    a = ap.parse_args(argv)
    deadline = time.monotonic() + max(1.0, a.timeout_s)
    started = now_iso()
    result: dict = {"ok": False, "startedAt": started}
    try:
        with open(a.config) as f:
            store = Store.from_json(json.load(f))
        result["store"] = store.where if isinstance(store, (AzureStore, DirStore, GcsStore)) else f"s3://{store.bucket}/{store.key_prefix}"
        result.update(push(store, a.outputs, deadline))
        result["ok"] = True
    except PushError as e:
        result["error"] = str(e)
    except (OSError, ValueError) as e:
        result["error"] = f"{type(e).__name__}: {e}"
    result["finishedAt"] = now_iso()
    write_result(a.result, result)
    print(("kiln-push: verified " + f"{result.get('files', 0)} files in {result.get('store')}") if result["ok"]
          else f"kiln-push: failed: {result.get('error')}", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
