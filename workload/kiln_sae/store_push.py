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
"key_prefix": "…", "sas": "sv=…&sig=…"}`` (Azure Blob: a SAS the user made for the container; blobs above the
threshold go up as blocks, Put Block then Put Block List), or with ``"blob_sas": {"outputs.tar": "sv=…",
"manifest.json": "sv=…"}`` instead of ``sas``: a SAS per blob, minted by Kiln, and the archive layout.

``{"kind": "gcs", "endpoint": "https://storage.googleapis.com", "bucket": "…", "key_prefix": "…",
"sessions": {"outputs.tar": "https://…&upload_id=…", "manifest.json": "https://…"}}`` (Google Cloud Storage:
two resumable-upload session URIs Kiln opened at launch, each the grant for its one object, for a week; the
archive layout, see ``_GcsSession``). With ``"token"`` instead of ``sessions`` (a bearer token), the files
layout: a simple media upload up to the threshold, a resumable upload in 256 KiB-multiple chunks above it.

The archive layout (for grants that name their objects; see "The archive layout" below): the outputs go up
as one streamed tar, ``KEY_PREFIX/outputs.tar``, then a version-2 manifest with the archive's size and sha256
beside each file's.

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
import tarfile
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
# The archive layout's two objects (see "The archive layout" below).
ARCHIVE_KEY = "outputs.tar"
MANIFEST_KEY = "manifest.json"


class PushError(Exception):
    """A push that did not complete; the message goes into the result file."""


def _http_url(v: str) -> str:
    if urllib.parse.urlsplit(v).scheme not in ("http", "https"):
        raise PushError("store config: a session URI must be an http(s) URL")
    return v


def _grants(data: dict, field: str, instead: str, clean) -> dict | None:
    """The archive layout's per-object grants (``field``: ``{"outputs.tar": …, "manifest.json": …}``), or None
    for the files layout, which uses ``instead``; one of the two, never both."""
    v = data.get(field)
    if v is None:
        return None
    if data.get(instead) is not None:
        raise PushError(f"store config: {field} and {instead} exclude each other")
    if not isinstance(v, dict) or set(v) != {ARCHIVE_KEY, MANIFEST_KEY} or not all(isinstance(x, str) and x for x in v.values()):
        raise PushError(f"store config: {field} must map {ARCHIVE_KEY} and {MANIFEST_KEY} to non-empty strings")
    return {k: clean(x) for k, x in v.items()}


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
    """A container SAS (``sas``: the files layout), or one blob SAS per object of the archive layout
    (``blob_sas``: ``{"outputs.tar": "sv=…", "manifest.json": "sv=…"}``, each good for that blob only)."""
    container_url: str
    key_prefix: str
    sas: str | None
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE
    blob_sas: dict | None = None

    @property
    def archive(self) -> bool:
        return self.blob_sas is not None

    def sas_for(self, key: str) -> str:
        if self.blob_sas is None:
            return self.sas or ""
        name = key[len(self.key_prefix) + 1:] if key.startswith(self.key_prefix + "/") else key
        sas = self.blob_sas.get(name)
        if sas is None:
            raise PushError(f"store config: no SAS for {key} (the machine may write only {', '.join(sorted(self.blob_sas))})")
        return sas

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
        blob_sas = _grants(data, "blob_sas", "sas", lambda v: v.lstrip("?"))
        return AzureStore(container_url=url, key_prefix=text("key_prefix").strip("/"),
                          sas=None if blob_sas is not None else text("sas").lstrip("?"),
                          multipart_threshold=th, part_size=ps, blob_sas=blob_sas)

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


def output_files(root: str) -> list[tuple[str, str]]:
    """``(path relative to root, path)`` of every output file under root, sorted by the relative path: regular
    files only (no links), in-flight names left out (what Kiln's TS manifest counts)."""
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
            out.append((os.path.relpath(p, root).replace(os.sep, "/"), p))
    return sorted(out)


def local_manifest(root: str) -> list[dict]:
    """``{path, size, sha256}`` for every output file under root, sorted by path (what Kiln's TS manifest computes)."""
    return [{"path": rel, "size": os.path.getsize(p), "sha256": sha256_file(p)} for rel, p in output_files(root)]


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
        return f"{path}?{extra + '&' if extra else ''}{self.store.sas_for(key)}"

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
    "sessions": {"outputs.tar": URI, "manifest.json": URI}}``: two resumable-upload session URIs, each the grant
    for its one object (the archive layout, ``_GcsSession``). The machine holds no token."""
    endpoint: str
    bucket: str
    key_prefix: str
    sessions: dict
    part_size: int = DEFAULT_PART_SIZE

    @property
    def archive(self) -> bool:
        return True

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
        ps = data.get("part_size", DEFAULT_PART_SIZE)
        # GCS takes a resumable upload's chunks (all but the last) in multiples of 256 KiB only.
        if not isinstance(ps, int) or isinstance(ps, bool) or ps < GCS_QUANTUM or ps % GCS_QUANTUM != 0:
            raise PushError("store config: part_size must be a positive multiple of 256 KiB for GCS")
        if data.get("token") is not None:
            raise PushError("store config: a GCS store takes upload sessions, not a token (the machine holds none)")
        sessions = _grants(data, "sessions", "token", _http_url)
        if sessions is None:
            raise PushError(f"store config: sessions must map {ARCHIVE_KEY} and {MANIFEST_KEY} to upload session URIs")
        return GcsStore(endpoint=endpoint, bucket=text("bucket"), key_prefix=text("key_prefix").strip("/"),
                        sessions=sessions, part_size=ps)

    @property
    def where(self) -> str:
        return f"gs://{self.bucket}/{self.key_prefix}"


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


class _GcsHttp:
    """Requests to a GCS upload session URI (no SDK on the machine, and no token: the URI is the grant).
    Connection errors and 5xx are retried ``retries`` times within the push's deadline."""

    def __init__(self, store: GcsStore, deadline: float) -> None:
        self.store = store
        self.deadline = deadline

    def _call(self, method: str, url: str, headers: dict[str, str], *, body: bytes = b"", retries: int = RETRIES) -> tuple[int, bytes, dict[str, str]]:
        """One request to the absolute ``url``. Returns (status, body up to 64 KiB, lower-cased headers)."""
        u = urllib.parse.urlsplit(url)
        target = u.path + (f"?{u.query}" if u.query else "")
        last = ""
        for attempt in range(retries):
            if time.monotonic() >= self.deadline:
                raise PushError(f"the push ran out of time ({last or 'before ' + method + ' ' + u.path})")
            h = {**headers, "content-length": str(len(body))}
            timeout = max(1.0, min(REQUEST_TIMEOUT_S, self.deadline - time.monotonic()))
            conn = (http.client.HTTPSConnection(u.hostname or "", u.port, timeout=timeout, context=ssl.create_default_context())
                    if u.scheme == "https" else http.client.HTTPConnection(u.hostname or "", u.port, timeout=timeout))
            try:
                conn.request(method, target, body=body, headers=h)
                resp = conn.getresponse()
                got = {k.lower(): v for k, v in resp.getheaders()}
                if resp.status < 500:
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


# --- The archive layout: two named objects, for grants that name the objects ----------------------------
#
# A blob SAS (sr=b) on Azure and a resumable-upload session URI on GCS each let the machine write exactly one
# named object, and those names must be fixed at launch, when the outputs' names are not known. So with such
# grants the outputs go up as one tar, KEY_PREFIX/outputs.tar, then the manifest (version 2: the archive's
# size and sha256, and each file's as before) as KEY_PREFIX/manifest.json, last. The tar is streamed from the
# files to the store, a part at a time: it never lands on the machine's disk. It is deterministic (PAX format,
# files in manifest order, owner 0, the files' own mtime and mode), so a retried push sends the same bytes: a
# GCS session an earlier try finished is checked against them rather than written again. Anyone can read it
# back without Kiln: `tar xf outputs.tar`.


class _FileHashing:
    """A file as tarfile reads it into the archive, sha256-hashed on the way (one read per file)."""

    def __init__(self, f) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha256.update(data)
        return data


class _Sink:
    """Where the archive's bytes go: hashed (size, sha256, md5) here, sent by the subclass."""

    def __init__(self) -> None:
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()

    def write(self, b) -> int:
        b = bytes(b)
        self.size += len(b)
        self.sha256.update(b)
        self.md5.update(b)
        self._take(b)
        return len(b)

    def _take(self, b: bytes) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError


def write_archive(root: str, sink) -> list[dict]:
    """Stream every output file under root into ``sink`` as a tar; the files' manifest entries, hashed as read."""
    files = []
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
        for rel, p in output_files(root):
            st = os.stat(p)
            ti = tarfile.TarInfo(rel)
            ti.size, ti.mtime, ti.mode = st.st_size, int(st.st_mtime), (st.st_mode & 0o777) or 0o644
            ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, "", ""
            with open(p, "rb") as f:
                r = _FileHashing(f)
                # A file that shrinks while it is read fails here ("unexpected end of data"), never silently.
                tar.addfile(ti, r)
            files.append({"path": rel, "size": st.st_size, "sha256": r.sha256.hexdigest()})
    return files


class _AzureBlocks(_Sink):
    """The archive as one block blob: Put Block per part, Put Block List at the end (the blob's SAS allows both)."""

    def __init__(self, az: AzureBlob, key: str) -> None:
        super().__init__()
        self.az, self.key = az, key
        self.buf = bytearray()
        self.ids: list[str] = []

    def _take(self, b: bytes) -> None:
        self.buf += b
        part = self.az.store.part_size
        while len(self.buf) >= part:
            self._block(bytes(self.buf[:part]))
            del self.buf[:part]

    def _block(self, data: bytes) -> None:
        if len(self.ids) >= AzureBlob.MAX_BLOCKS:
            raise PushError(f"the archive needs more than {AzureBlob.MAX_BLOCKS} blocks: raise part_size")
        bid = base64.b64encode(f"kiln-{len(self.ids):08d}".encode()).decode()
        status, err = self.az._request("PUT", self.key, query={"comp": "block", "blockid": bid}, body=data)
        self.az._check(f"PUT {self.key} block {len(self.ids)}", status, err)
        self.ids.append(bid)

    def finish(self) -> None:
        if self.buf or not self.ids:
            self._block(bytes(self.buf))
            self.buf.clear()
        doc = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + "".join(f"<Latest>{i}</Latest>" for i in self.ids) + "</BlockList>").encode()
        status, err = self.az._request("PUT", self.key, query={"comp": "blocklist"}, headers={"content-type": "application/xml"}, body=doc)
        self.az._check(f"PUT {self.key} block list", status, err)


class _GcsSession(_Sink):
    """One object through a resumable-upload session URI that the client opened at launch (no token: the URI is
    the grant, for this object only, for a week). Parts of ``part_size`` (a multiple of 256 KiB) as they fill,
    the last with the total. A session an earlier try got partway through goes on from what GCS holds; one it
    finished answers the object, whose md5 must then be this stream's. Verified by GCS's own md5 of what it
    stored (the session cannot read back)."""

    def __init__(self, files: _GcsHttp, key: str, session: str) -> None:
        super().__init__()
        self.files, self.key, self.session = files, key, session
        self.buf = bytearray()
        self.start = 0  # the stream offset of buf[0]
        self.meta: dict | None = None
        status, data, h = self._put({"content-range": "bytes */*"}, b"")
        if status in (200, 201):
            self.meta = _object_json(key, data)
        elif status == 308:
            self.persisted = _persisted(h)
        else:
            # 404/410: the session is gone (over a week old, or cancelled).
            raise PushError(f"the upload session for {key} answered HTTP {status} {_gcs_error(data)} (a session lasts a week from launch)")

    def _put(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        try:
            return self.files._call("PUT", self.session, headers, body=body, retries=1)
        except PushError as e:
            return 503, str(e).encode(), {}

    def _take(self, b: bytes) -> None:
        if self.meta is not None:
            return  # finished by an earlier try: only hashed, to compare
        self.buf += b
        self._skip_persisted()
        while len(self.buf) >= self.files.store.part_size:
            self._send(self.files.store.part_size, None)

    def _skip_persisted(self) -> None:
        if self.start < self.persisted:
            cut = min(len(self.buf), self.persisted - self.start)
            del self.buf[:cut]
            self.start += cut

    def _send(self, n: int, total: int | None) -> None:
        """Send buf[:n] (all of it when ``total`` is given, which ends the upload) until GCS holds it."""
        failures = 0
        while True:
            rng = f"bytes {self.start}-{self.start + n - 1}/{total if total is not None else '*'}" if n > 0 else f"bytes */{total}"
            status, data, h = self._put({"content-range": rng}, bytes(self.buf[:n]))
            got = self._answer(status, data, h, total)
            if got < 0:
                return
            n -= got
            if got > 0:
                failures = 0
                if total is None:
                    return  # the rest of this part waits for the next one to fill
                continue
            if status != 308 and status < 500 and status not in (408, 429):
                raise PushError(f"PUT {self.key} at {self.start}: HTTP {status} {_gcs_error(data)}")
            failures += 1
            if failures > RETRIES * 2:
                raise PushError(f"PUT {self.key} at {self.start}: gave up after {failures} failures ({_gcs_error(data)})")
            time.sleep(min(2 ** min(failures, 5), max(0.0, self.files.deadline - time.monotonic())))
            # Where does the upload stand? GCS may have kept less than it was sent.
            status, data, h = self._put({"content-range": f"bytes */{total if total is not None else '*'}"}, b"")
            got = self._answer(status, data, h, total)
            if got < 0:
                return
            n -= got

    def _answer(self, status: int, data: bytes, h: dict[str, str], total: int | None) -> int:
        """Take in GCS's answer: -1 when the object is written (the last part), else how many more bytes of
        ``buf`` GCS now holds (a 308's ``Range``), dropped from the buffer."""
        if status in (200, 201) and total is not None:
            self.meta = _object_json(self.key, data)
            self.buf.clear()
            return -1
        if status != 308:
            return 0
        self.persisted = max(self.persisted, _persisted(h))
        before = self.start
        self._skip_persisted()
        return self.start - before

    def finish(self) -> None:
        if self.meta is None:
            self._send(len(self.buf), self.size)
        assert self.meta is not None
        md5 = base64.b64encode(self.md5.digest()).decode()
        if str(self.meta.get("size")) != str(self.size) or self.meta.get("md5Hash") != md5:
            raise PushError(f"{self.key}: the store holds {self.meta.get('size')} bytes (md5 {self.meta.get('md5Hash')}), not the {self.size} sent (md5 {md5})"
                            " (an earlier push finished this object with other bytes: the outputs changed since)")


def push_archive(store: "AzureStore | GcsStore", outputs: str, deadline: float) -> dict:
    key = lambda name: f"{store.key_prefix}/{name}"  # noqa: E731
    if isinstance(store, AzureStore):
        az = AzureBlob(store, deadline)
        sink: _Sink = _AzureBlocks(az, key(ARCHIVE_KEY))
    else:
        gcs = _GcsHttp(store, deadline)
        sink = _GcsSession(gcs, key(ARCHIVE_KEY), store.sessions[ARCHIVE_KEY])
    files = write_archive(outputs, sink)
    sink.finish()
    archive = {"path": ARCHIVE_KEY, "size": sink.size, "sha256": sink.sha256.hexdigest()}
    doc = json.dumps({"version": 2, "archive": archive, "files": files}, indent=1).encode()
    if isinstance(store, AzureStore):
        az.put_bytes(key(MANIFEST_KEY), doc)
        # Read back: the store's copy, not what was sent, has to be right.
        for name, size, sha in ((MANIFEST_KEY, len(doc), hashlib.sha256(doc).hexdigest()), (ARCHIVE_KEY, archive["size"], archive["sha256"])):
            got_size, got_sha, _ = az.get_hash(key(name))
            if (got_size, got_sha) != (size, sha):
                raise PushError(f"{name} read back from the store differs ({got_size} bytes, sha256 {got_sha[:12]}…)")
    else:
        m = _GcsSession(gcs, key(MANIFEST_KEY), store.sessions[MANIFEST_KEY])
        m.write(doc)
        m.finish()
    return {"files": len(files), "bytes": sum(e["size"] for e in files), "archive_bytes": sink.size}


def push(store: "Store | AzureStore | DirStore | GcsStore", outputs: str, deadline: float) -> dict:
    if isinstance(store, (AzureStore, GcsStore)) and store.archive:
        return push_archive(store, outputs, deadline)
    manifest = local_manifest(outputs)
    s3 = _DirFiles(store, deadline) if isinstance(store, DirStore) else _AzureFiles(store, deadline) if isinstance(store, AzureStore) else _S3Files(store, deadline)
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
