"""``python -m kiln_sae detect --detector DIR``: PII spans for text or JSONL input, one JSON line per message.

Input is one message per line (``--input FILE`` or ``-`` for stdin); with ``--jsonl`` each line is a JSON object
whose ``text`` field is the message. Output per line: ``{"line": n, "spans": [{start, end, label, score, text}]}``
(or, with ``--redact``, ``{"line": n, "text": "... [EMAIL] ..."}``). A bad line (not UTF-8, empty, longer than
``--max-chars``, bad JSON) gets ``{"line": n, "error": "..."}`` and the rest of the batch goes on. A
throughput line (messages/s, tokens/s) goes to stderr at the end.
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
    parser.add_argument("--redact", action="store_true", help="write the text with spans replaced by [LABEL]")
    parser.add_argument("--batch-size", type=int, default=64, help="messages per forward batch")
    parser.add_argument("--max-chars", type=int, default=100_000, help="longer lines are rejected")


def parse_line(raw: bytes, jsonl: bool, field: str, max_chars: int) -> str:
    """The message of one input line, or ValueError with a message for the user."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from e
    line = line.rstrip("\r\n")
    if jsonl:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from e
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise ValueError(f"expected a JSON object with a string {field!r} field")
        line = obj[field]
    if not line.strip():
        raise ValueError("empty message")
    if len(line) > max_chars:
        raise ValueError(f"message has {len(line)} characters, over --max-chars {max_chars}")
    return line


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


def detect_stream(detector, stream: BinaryIO, out: TextIO, args: argparse.Namespace) -> dict[str, float]:
    messages = errors = tokens = 0
    t0 = time.perf_counter()
    for batch in _batches(stream, max(1, args.batch_size)):
        good: list[tuple[int, str]] = []
        results: dict[int, dict] = {}
        for n, raw in batch:
            try:
                good.append((n, parse_line(raw, args.jsonl, args.text_field, args.max_chars)))
            except ValueError as e:
                results[n] = {"line": n, "error": str(e)}
                errors += 1
        if good:
            texts = [t for _, t in good]
            feats = detector.source.extract(texts)
            for (n, text), f in zip(good, feats, strict=True):
                spans = detector.spans_from_features(text, f)
                tokens += int(f.valid.sum())
                results[n] = ({"line": n, "text": redact(text, spans)} if args.redact else
                              {"line": n, "spans": [s.to_dict(text, score) for s, score in spans]})
                messages += 1
        for n, _ in batch:
            out.write(json.dumps(results[n], ensure_ascii=False) + "\n")
        out.flush()
    dt = max(time.perf_counter() - t0, 1e-9)
    return {"messages": messages, "errors": errors, "tokens": tokens, "seconds": dt,
            "messages_per_s": messages / dt, "tokens_per_s": tokens / dt}


def run(args: argparse.Namespace) -> int:
    from kiln_sae.errors import DataError
    from kiln_sae.pii.detector import load_detector

    detector = load_detector(args.detector)
    if args.input == "-":
        stats = detect_stream(detector, sys.stdin.buffer, sys.stdout, args)
    else:
        try:
            fh = open(args.input, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise DataError(f"{args.input}: cannot open input ({e.strerror})") from e
        with fh:
            stats = detect_stream(detector, fh, sys.stdout, args)
    print(f"detect: {stats['messages']} messages ({stats['errors']} rejected), {stats['tokens']} tokens in "
          f"{stats['seconds']:.2f}s: {stats['messages_per_s']:.1f} msgs/s, {stats['tokens_per_s']:.0f} tokens/s",
          file=sys.stderr)
    return 0
