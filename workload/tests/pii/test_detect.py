"""``probe`` writes detectors and protocol lines; ``detect`` finds planted spans and survives bad lines."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import metrics_lines, run_kiln
from kiln_sae.checkpoint import sha256_file
from kiln_sae.errors import DataError
from kiln_sae.pii.detector import load_detector

MESSAGE = "Please email me at anna.schmidt@gmail.com about the invoice, thanks."
EMAIL = "anna.schmidt@gmail.com"


def test_probe_writes_detectors_report_and_protocol_lines(probe_run):
    lines = metrics_lines(probe_run)
    kinds = [m["kind"] for m in lines]
    assert kinds[0] == "start" and kinds[-1] == "done"
    evals = [m for m in lines if m["kind"] == "probe_eval"]
    assert {(m["system"], m["match"]) for m in evals} == {
        (s, m) for s in ("raw_probe", "sae_probe") for m in ("exact", "overlap")}
    for m in evals:
        assert set(m["micro"]) == {"precision", "recall", "f1", "f2", "support"} and m["split"] == "test"
        assert "EMAIL" in m["per_label"]
    artifacts = {m["path"]: m for m in lines if m["kind"] == "artifact"}
    assert {"detector/detector.json", "detector/probe.safetensors", "detector-sae/sae/sae.safetensors",
            "pii_report.json"} <= set(artifacts)
    for rel, m in artifacts.items():
        assert sha256_file(probe_run / rel) == m["sha256"]
    spec = json.loads((probe_run / "detector-sae" / "detector.json").read_text())
    assert spec["system"] == "sae_probe" and spec["sae"]["path"] == "sae" and spec["version"] == 1
    assert 0 < spec["threshold"] < 1 and spec["context"] == 1 and spec["act_scale"] == 0.5
    from kiln_sae.pii.shape import SHAPE_BITS

    assert spec["shape_bits"] == list(SHAPE_BITS) and spec["n_features"] == 3 * (768 + len(SHAPE_BITS))
    raw = json.loads((probe_run / "detector" / "detector.json").read_text())
    assert raw["shape_bits"] == list(SHAPE_BITS) and raw["n_features"] == 3 * (384 + len(SHAPE_BITS))


def test_detector_finds_the_planted_email(probe_run):
    det = load_detector(probe_run / "detector")
    (spans,) = det.detect([MESSAGE])
    found = {(MESSAGE[s.start:s.end], s.label) for s, _ in spans}
    assert (EMAIL, "EMAIL") in found
    sae_det = load_detector(probe_run / "detector-sae")  # loads, verifies the SAE hash, runs
    assert isinstance(sae_det.detect([MESSAGE])[0], list)


def test_detect_cli_reports_bad_lines_and_keeps_going(probe_run, tmp_path):
    lines = [MESSAGE.encode(), b"", b"\xff\xfe not utf-8", ("x" * 2000).encode(), b"call Bob at 555 0101"]
    proc = run_kiln("detect", "--detector", str(probe_run / "detector"), "--max-chars", "1000", "--batch-size", "2",
                    stdin=b"\n".join(lines) + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5]
    assert any(s["text"] == EMAIL and s["label"] == "EMAIL" for s in out[0]["spans"])
    assert set(out[0]["spans"][0]) == {"start", "end", "label", "score", "text"}
    assert out[1]["error"] == "empty message"
    assert "UTF-8" in out[2]["error"]
    assert "max-chars" in out[3]["error"]
    assert "spans" in out[4]
    assert "2 messages (3 rejected)" in proc.stderr.decode() and "tokens/s" in proc.stderr.decode()


def test_detect_cli_jsonl_and_redact(probe_run, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": MESSAGE}) + "\n" + "{not json\n" + json.dumps({"body": "x"}) + "\n")
    proc = run_kiln("detect", "--detector", str(probe_run / "detector"), "--input", str(src), "--jsonl", "--redact")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert "[EMAIL]" in out[0]["text"] and EMAIL not in out[0]["text"]
    assert "not valid JSON" in out[1]["error"] and "'text'" in out[2]["error"]


def test_load_detector_rejects_a_tampered_sae_and_a_missing_dir(probe_run, tmp_path):
    import shutil

    copy = tmp_path / "det"
    shutil.copytree(probe_run / "detector-sae", copy)
    with (copy / "sae" / "sae.safetensors").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DataError, match="sha256"):
        load_detector(copy)
    with pytest.raises(DataError, match="probe --config"):
        load_detector(tmp_path / "nope")
    proc = run_kiln("detect", "--detector", str(tmp_path / "nope"))
    assert proc.returncode == 2 and b"not a detector directory" in proc.stderr


def test_detect_keeps_ids_and_reports_steady_state_apart_from_loading(probe_run, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": f"msg-{i}", "text": MESSAGE} for i in range(5)] + [{"id": 77, "body": "no text"}, {"text": MESSAGE}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_kiln("detect", "--detector", str(probe_run / "detector"), "--input", str(src), "--jsonl",
                    "--batch-size", "2", "--progress")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [o.get("id") for o in out] == ["msg-0", "msg-1", "msg-2", "msg-3", "msg-4", 77, None]
    assert "error" in out[5] and "spans" in out[6] and "id" not in out[6]
    err = proc.stderr.decode()
    assert "loaded detector and model in" in err
    assert "steady state (4 messages after the first batch)" in err  # batches of 2: the first one is warm-up
    assert "7/7" in err  # the progress bar reached the end
    custom = run_kiln("detect", "--detector", str(probe_run / "detector"), "--input", str(src), "--jsonl",
                      "--id-field", "text", "--no-progress")
    first = json.loads(custom.stdout.decode().splitlines()[0])
    assert first["id"] == MESSAGE and "/7" not in custom.stderr.decode()


def test_detector_json_records_the_decoding_choices(probe_run):
    spec = json.loads((probe_run / "detector" / "detector.json").read_text())
    assert isinstance(spec["split"], bool) and spec["layers"] is None
    assert all(v <= 0.9 for v in spec["label_thresholds"].values())  # floors never cap recall at 0.95+


def test_a_detector_that_reads_line_breaks_finds_the_same_spans_in_an_escaped_paste(probe_run, tmp_path):
    """Escaped lines ("\\n" written out) are read as the real ones: the spans found in a message pasted as a
    JSON string are those found in the same message with its breaks shown, at the same offsets."""
    import shutil

    from kiln_sae.pii.escape import shown_line_breaks

    spec = json.loads((probe_run / "detector" / "detector.json").read_text())
    assert spec["line_breaks"] is False and isinstance(spec["join_address"], bool)  # recorded by probe
    copy = tmp_path / "det"
    shutil.copytree(probe_run / "detector", copy)
    (copy / "detector.json").write_text(json.dumps({**spec, "line_breaks": True}))
    det = load_detector(copy)
    assert det.source.line_breaks
    escaped = '{"body": "Hi,\\nplease email me at\\nanna.schmidt@gmail.com\\nthanks"}'
    found = [(s, round(sc, 5)) for s, sc in det.detect([escaped])[0]]
    assert found == [(s, round(sc, 5)) for s, sc in det.detect([shown_line_breaks(escaped)])[0]]
    assert EMAIL in [escaped[s.start:s.end] for s, _ in found]
    # A detector written before these keys existed reads text as written and does not join addresses.
    old = {k: v for k, v in spec.items() if k not in ("line_breaks", "join_address")}
    (copy / "detector.json").write_text(json.dumps(old))
    again = load_detector(copy)
    assert not again.spec.line_breaks and not again.spec.join_address


def test_a_detector_with_other_shape_bits_is_refused_and_one_without_them_still_loads(probe_run, tmp_path):
    import shutil

    copy = tmp_path / "det"
    shutil.copytree(probe_run / "detector", copy)
    spec = json.loads((copy / "detector.json").read_text())
    (copy / "detector.json").write_text(json.dumps({**spec, "shape_bits": ["token_upper_initial", "emoji"]}))
    with pytest.raises(DataError, match="shape_bits"):
        load_detector(copy)
    # A v1 detector written before shape bits existed has no such key: it loads and reads no bits.
    old = {k: v for k, v in spec.items() if k != "shape_bits"}
    (copy / "detector.json").write_text(json.dumps({**old, "n_features": 3 * 384}))
    from safetensors.torch import load_file, save_file

    state = load_file(str(copy / "probe.safetensors"))
    keep = [i for i in range(spec["n_features"]) if i % (384 + 12) < 384]  # drop each context block's bits
    state = {"linear.weight": state["linear.weight"][:, keep].contiguous(), "linear.bias": state["linear.bias"],
             "mean": state["mean"][keep].contiguous(), "std": state["std"][keep].contiguous()}
    save_file(state, str(copy / "probe.safetensors"))
    det = load_detector(copy)
    assert det.spec.shape_bits == [] and isinstance(det.detect([MESSAGE])[0], list)


def test_a_detector_with_a_hidden_branch_loads_back_with_the_same_outputs(tmp_path):
    """``hidden`` is recorded in detector.json and rebuilt on load; without the key a detector is linear."""
    from kiln_sae.pii.detector import Detector, DetectorSpec
    from kiln_sae.pii.probe import DenseLinearProbe

    torch.manual_seed(0)
    probe = DenseLinearProbe(10, 27, hidden=6)
    with torch.no_grad():
        for p in probe.parameters():
            p.normal_()
    spec = DetectorSpec(system="raw_probe", base_model="minilm", layer=3, context_size=32, n_features=10, hidden=6)
    Detector(spec, probe).save(tmp_path / "det")
    assert json.loads((tmp_path / "det" / "detector.json").read_text())["hidden"] == 6
    back = load_detector(tmp_path / "det")
    x = torch.randn(5, 10)
    assert back.spec.hidden == 6 and torch.allclose(back.probe(x), probe(x))
    # written before the key existed: a linear probe
    linear = DenseLinearProbe(10, 27)
    Detector(DetectorSpec(system="raw_probe", base_model="minilm", layer=3, context_size=32, n_features=10),
             linear).save(tmp_path / "old")
    raw = json.loads((tmp_path / "old" / "detector.json").read_text())
    (tmp_path / "old" / "detector.json").write_text(json.dumps({k: v for k, v in raw.items() if k != "hidden"}))
    old = load_detector(tmp_path / "old")
    assert old.spec.hidden == 0 and not hasattr(old.probe, "hid")
    (tmp_path / "old" / "detector.json").write_text(json.dumps({**raw, "hidden": -2}))
    with pytest.raises(DataError, match="hidden"):
        load_detector(tmp_path / "old")
