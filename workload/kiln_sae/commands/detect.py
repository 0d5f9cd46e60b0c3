"""``python -m kiln_sae detect --detector DIR``: PII spans for text or JSONL input, one JSON line per message.

Input is one message per line (``--input FILE`` or ``-`` for stdin); with ``--jsonl`` each line is a JSON object
whose ``text`` field is the message. Output per line: ``{"line": n, "spans": [{start, end, label, score, text}]}``
(or, with ``--redact``, ``{"line": n, "text": "... [EMAIL] ..."}``); with ``--jsonl`` the input's ``--id-field``
(default ``id``) is copied to the output as ``"id"`` when present, so results join back to their records. A
bad line (not UTF-8, empty, longer than ``--max-chars``, bad JSON) gets ``{"line": n, "error": "..."}`` (with
its id when one could be read) and the rest of the batch goes on.

On stderr: a progress bar (lines read, when stderr is a terminal or with ``--progress``), then the load time
and the steady-state throughput: messages/s and tokens/s over every batch after the first (the first pays
one-off warm-up: allocator growth, lazy kernels), so loading the model never counts as detection time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO, TextIO

HELP = "find PII spans in text or JSONL with a trained detector"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", required=True, help="detector directory written by `probe`")
    parser.add_argument("--input", default="-", help="input file, or - for stdin (default)")
    parser.add_argument("--jsonl", action="store_true", help="input lines are JSON objects with a 'text' field")
    parser.add_argument("--text-field", default="text", help="field holding the message with --jsonl")
    parser.add_argument("--id-field", default="id", help="with --jsonl, copy this field of each record to the "
                        "output as 'id' (default: id; records without it get none)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: only when stderr is a terminal)")
    parser.add_argument("--redact", action="store_true", help="write the text with spans replaced by [LABEL]")
    parser.add_argument("--batch-size", type=int, default=64, help="messages per forward batch")
    parser.add_argument("--max-chars", type=int, default=100_000, help="longer lines are rejected")


class LineError(ValueError):
    """A line that cannot be processed; ``record_id`` is its id when the record could be read."""

    def __init__(self, message: str, record_id: object = None) -> None:
        super().__init__(message)
        self.record_id = record_id


def parse_line(raw: bytes, jsonl: bool, field: str, max_chars: int,
               id_field: str | None = None) -> tuple[str, object]:
    """(message, record id or None) of one input line, or LineError with a message for the user."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LineError(f"not valid UTF-8 (byte {e.start})") from e
    line = line.rstrip("\r\n")
    record_id = None
    if jsonl:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LineError(f"not valid JSON ({e.msg} at column {e.colno})") from e
        if isinstance(obj, dict) and id_field:
            record_id = obj.get(id_field)
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise LineError(f"expected a JSON object with a string {field!r} field", record_id)
        line = obj[field]
    if not line.strip():
        raise LineError("empty message", record_id)
    if len(line) > max_chars:
        raise LineError(f"message has {len(line)} characters, over --max-chars {max_chars}", record_id)
    return line, record_id


def redact(text: str, spans: list) -> str:
    out, pos = [], 0
    for span, _score in sorted(spans, key=lambda p: p[0].start):
        out.append(text[pos:span.start])
        out.append(f"[{span.label}]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def _batches(stream: BinaryIO, size: int) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    for n, raw in enumerate(stream, start=1):
        batch.append((n, raw))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _head(n: int, record_id: object) -> dict:
    return {"line": n} if record_id is None else {"line": n, "id": record_id}


def detect_stream(detector, stream: BinaryIO, out: TextIO, args: argparse.Namespace,
                  progress=None) -> dict[str, float]:
    """Detect every line of ``stream``. Throughput counts batches after the first ("steady"); the totals
    (``seconds``) include the first batch."""
    messages = errors = tokens = 0
    steady = {"messages": 0, "tokens": 0, "seconds": 0.0}
    id_field = getattr(args, "id_field", None) if args.jsonl else None
    t0 = time.perf_counter()
    for i, batch in enumerate(_batches(stream, max(1, args.batch_size))):
        tb = time.perf_counter()
        good: list[tuple[int, str, object]] = []
        results: dict[int, dict] = {}
        for n, raw in batch:
            try:
                text, rid = parse_line(raw, args.jsonl, args.text_field, args.max_chars, id_field)
                good.append((n, text, rid))
            except LineError as e:
                results[n] = {**_head(n, e.record_id), "error": str(e)}
                errors += 1
        batch_tokens = 0
        if good:
            texts = [t for _, t, _ in good]
            feats = detector.source.extract(texts)
            for (n, text, rid), f in zip(good, feats, strict=True):
                spans = detector.spans_from_features(text, f)
                batch_tokens += int(f.valid.sum())
                results[n] = ({**_head(n, rid), "text": redact(text, spans)} if args.redact else
                              {**_head(n, rid), "spans": [s.to_dict(text, score) for s, score in spans]})
        for n, _ in batch:
            out.write(json.dumps(results[n], ensure_ascii=False) + "\n")
        out.flush()
        messages += len(good)
        tokens += batch_tokens
        if i > 0:
            steady["messages"] += len(good)
            steady["tokens"] += batch_tokens
            steady["seconds"] += time.perf_counter() - tb
        if progress is not None:
            progress.update(len(batch))
    dt = max(time.perf_counter() - t0, 1e-9)
    if steady["messages"] == 0:  # one batch only: no steady state to separate, report it whole
        steady = {"messages": messages, "tokens": tokens, "seconds": dt}
    st = max(steady["seconds"], 1e-9)
    return {"messages": messages, "errors": errors, "tokens": tokens, "seconds": dt,
            "steady_messages": steady["messages"], "steady_seconds": st,
            "messages_per_s": steady["messages"] / st, "tokens_per_s": steady["tokens"] / st}


def run(args: argparse.Namespace) -> int:
    from kiln_sae.errors import DataError
    from kiln_sae.pii.detector import load_detector

    t0 = time.perf_counter()
    detector = load_detector(args.detector)
    _ = detector.source  # load the base model now, so its time is reported as loading
    load_s = time.perf_counter() - t0
    show = sys.stderr.isatty() if args.progress is None else args.progress
    total = None
    if args.input != "-":
        try:
            with open(args.input, "rb") as fh:
                total = sum(1 for _ in fh)
        except OSError as e:
            raise DataError(f"{args.input}: cannot open input ({e.strerror})") from e
    progress = None
    if show:
        from tqdm import tqdm

        progress = tqdm(total=total, unit="msg", desc="detect", file=sys.stderr, mininterval=0.5)
    try:
        if args.input == "-":
            stats = detect_stream(detector, sys.stdin.buffer, sys.stdout, args, progress)
        else:
            try:
                fh = open(args.input, "rb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise DataError(f"{args.input}: cannot open input ({e.strerror})") from e
            with fh:
                stats = detect_stream(detector, fh, sys.stdout, args, progress)
    finally:
        if progress is not None:
            progress.close()
    print(f"detect: loaded detector and model in {load_s:.2f}s; {stats['messages']} messages "
          f"({stats['errors']} rejected), {stats['tokens']} tokens in {stats['seconds']:.2f}s; steady state "
          f"({stats['steady_messages']} messages after the first batch): {stats['messages_per_s']:.1f} msgs/s, "
          f"{stats['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    return 0
