"""The ensemble detector: members read the same features, their token probabilities are averaged, the
ensemble's own settings decode the average; it saves as one self-contained directory that ``detect`` reads,
and ``probe`` with ``members: N`` builds one SAE per member."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from conftest import metrics_lines, run_kiln
from kiln_sae.errors import ConfigError, DataError
from kiln_sae.pii.detector import EnsembleDetector, load_detector
from kiln_sae.pii.experiment import ProbeConfig

MESSAGE = "Please email me at anna.schmidt@gmail.com about the invoice, thanks."


def _perturbed_copy(src, dst, scale: float = 3.0) -> None:
    """A second member: the same SAE, the probe's weights changed, so its probabilities differ."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    state = load_file(str(dst / "probe.safetensors"))
    g = torch.Generator().manual_seed(1)
    state = {k: (v + scale * torch.randn(v.shape, generator=g)).contiguous() for k, v in state.items()}
    save_file(state, str(dst / "probe.safetensors"))


def test_the_average_of_the_members_decodes_and_round_trips(probe_run, tmp_path):
    _perturbed_copy(probe_run / "detector-sae", tmp_path / "b")
    a, b = load_detector(probe_run / "detector-sae"), load_detector(tmp_path / "b")
    ens = EnsembleDetector.of([a, b], [probe_run / "detector-sae" / "sae", tmp_path / "b" / "sae"])
    assert ens.spec.members == ["member-0", "member-1"] and ens.spec.system == "sae_probe"
    feats = a.source.extract([MESSAGE])[0].with_shape(MESSAGE)
    pa, pb, pe = a.probs(feats), b.probs(feats), ens.probs(feats)
    assert not np.allclose(pa, pb) and np.allclose(pe, (pa + pb) / 2)
    ens.spec.threshold = 0.35
    ens.save(tmp_path / "ens")
    saved = json.loads((tmp_path / "ens" / "detector.json").read_text())
    assert saved["members"] == ["member-0", "member-1"] and saved["threshold"] == 0.35 and saved["sae"] is None
    assert (tmp_path / "ens" / "member-1" / "sae" / "sae.safetensors").exists()  # self-contained
    back = load_detector(tmp_path / "ens")
    assert isinstance(back, EnsembleDetector) and back.spec.threshold == 0.35
    assert np.allclose(back.probs(feats), pe, atol=1e-6)
    assert back.detect([MESSAGE]) == ens.detect([MESSAGE])
    # ``detect`` reads the directory like any detector
    proc = run_kiln("detect", "--detector", str(tmp_path / "ens"), stdin=MESSAGE.encode() + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert "spans" in json.loads(proc.stdout.decode().splitlines()[0])


def test_a_bad_ensemble_directory_is_refused_with_the_reason(probe_run, tmp_path):
    ens = EnsembleDetector.of([load_detector(probe_run / "detector-sae")] * 2,
                              [probe_run / "detector-sae" / "sae"] * 2)
    ens.save(tmp_path / "ens")
    spec = json.loads((tmp_path / "ens" / "detector.json").read_text())
    with (tmp_path / "ens" / "member-1" / "sae" / "sae.safetensors").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DataError, match="sha256"):  # each member's SAE is checked
        load_detector(tmp_path / "ens")
    (tmp_path / "outside").mkdir()
    (tmp_path / "ens" / "link").symlink_to(tmp_path / "outside")
    for members, why in ((["../elsewhere"], "not a directory inside"), (["."], "not a directory inside"),
                         (["link"], "not a directory inside"), ("member-0", "must be a list"),
                         (["member-0", "member-0"], "distinct")):
        (tmp_path / "ens" / "detector.json").write_text(json.dumps({**spec, "members": members}))
        with pytest.raises(DataError, match=why):
            load_detector(tmp_path / "ens")
    # an ensemble cannot be a member of another: refused before it is loaded
    shutil.copytree(tmp_path / "ens", tmp_path / "nest" / "inner")
    (tmp_path / "nest" / "detector.json").write_text(json.dumps({**spec, "members": ["inner"]}))
    with pytest.raises(DataError, match="cannot be a member"):
        load_detector(tmp_path / "nest")
    # a single probe's detector.json has no members key, so a kiln_sae from before ensembles reads it
    assert "members" not in json.loads((tmp_path / "ens" / "member-0" / "detector.json").read_text())
    # a member that reads other features (escaped line breaks shown) cannot join the average
    (tmp_path / "ens" / "detector.json").write_text(json.dumps({**spec, "members": ["member-0"]}))
    member = json.loads((tmp_path / "ens" / "member-0" / "detector.json").read_text())
    (tmp_path / "ens" / "member-0" / "detector.json").write_text(json.dumps({**member, "line_breaks": True}))
    with pytest.raises(DataError, match="line_breaks"):
        load_detector(tmp_path / "ens")
    with pytest.raises(ValueError, match="line_breaks"):
        EnsembleDetector(ens.spec, [load_detector(tmp_path / "ens" / "member-0")])


def test_members_is_checked_and_a_given_sae_is_the_only_member(tmp_path):
    base = {"output_dir": "x", "systems": ["sae"], "detector": "sae", "sae_build": {}}
    for bad in (0, 17, 1.5, "2", True):
        with pytest.raises(ConfigError, match="members must be an integer"):
            ProbeConfig.from_dict({**base, "members": bad})
    assert ProbeConfig.from_dict({**base, "members": 3}).members == 3 and ProbeConfig.from_dict(base).members == 1
    with pytest.raises(ConfigError, match="needs\\s+sae_build"):
        ProbeConfig.from_dict({"output_dir": "x", "systems": ["sae"], "detector": "sae", "sae": "/s", "members": 2})
    # a job that brings its own SAE and extends a base with an ensemble trains one probe on that SAE
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**base, "members": 2, "layers": [2, 4]}))
    job = ProbeConfig.from_dict({"extends": "base.yaml", "sae": "/jobs/1/sae", "output_dir": "out"}, tmp_path)
    assert job.members == 1 and job.sae_build is None
    with_layers = {"extends": "base.yaml", "sae": "/jobs/1/sae", "output_dir": "out", "layers": [2, 4]}
    assert ProbeConfig.from_dict(with_layers, tmp_path).members == 1  # whatever else the job sets


def test_probe_with_two_members_builds_two_saes_and_ships_their_average(probe_run, tmp_path):
    """``members: 2`` through the real command: two SAEs of seeds s and s + 1, two probes, one ensemble
    detector whose decoding was tuned on val; each member's own scores are reported beside it. The features
    come from the probe_run fixture's cache (same model, layer and texts), so only the SAEs and probes train."""
    out = tmp_path / "out"
    shutil.copytree(probe_run / "features", out / "features")
    cfg = {"base_model": "minilm", "layer": 2, "output_dir": str(out), "context_size": 128,
           "data": {"seed": 0, "train": 300, "val": 40, "test": 40}, "epochs": 4, "lr": 0.02,
           "systems": ["sae"], "detector": "sae", "context": 1, "shape": True, "members": 2,
           "sae_build": {"latents": 128, "k": 8, "epochs": 1, "batch_size": 256, "warmup_steps": 1, "seed": 5}}
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_kiln("probe", "--config", str(tmp_path / "probe.yaml"))
    err = proc.stderr.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "features from cache" in err and "members' overlap F1" in err
    seeds = [json.loads((out / d / "recipe.json").read_text())["build"]["seed"] for d in ("sae_build", "sae_build-1")]
    assert seeds == [5, 6]
    det = load_detector(out / "detector")
    assert isinstance(det, EnsembleDetector) and len(det.members) == 2
    assert det.members[0].sae.n_latents == 128
    assert not torch.equal(det.members[0].sae.W_enc, det.members[1].sae.W_enc)  # two SAEs, not one copied
    report = json.loads((out / "pii_report.json").read_text())
    info = report["systems"]["sae_probe"]["info"]
    assert len(info["members"]) == 2 and set(info["members"][0]["overlap_f1"]) == {"test"}
    assert 0.0 <= info["val_overlap_f1"] <= 1.0 and det.spec.threshold == info["threshold"]
    artifacts = {m["path"] for m in metrics_lines(out) if m["kind"] == "artifact"}
    assert {"detector/detector.json", "detector/member-0/probe.safetensors",
            "detector/member-1/sae/sae.safetensors"} <= artifacts
