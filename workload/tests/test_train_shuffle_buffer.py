"""The streaming shuffle buffer: every row exactly once per epoch, seeded, resumable by skipping."""
import pytest
import torch

from kiln_sae.shuffle_buffer import ShuffleBuffer


def _stream():
    rows = torch.arange(1000, dtype=torch.float32).unsqueeze(1)
    return lambda: (rows[s:s + 37] for s in range(0, 1000, 37))  # ragged chunks, like packed extraction


def test_each_row_once_per_epoch_in_a_seeded_mixed_order():
    buf = ShuffleBuffer(_stream(), capacity=200, batch_size=50, seed=3)
    batches = list(buf.batches(0))
    assert all(b.shape == (50, 1) for b in batches) and len(batches) == 20
    seen = torch.cat(batches).squeeze(1)
    assert sorted(seen.tolist()) == list(range(1000))
    assert seen[:50].max() > 100  # rows from later chunks are mixed into the first batch
    assert not torch.equal(seen, torch.arange(1000.0))
    again = torch.cat(list(ShuffleBuffer(_stream(), capacity=200, batch_size=50, seed=3).batches(0)))
    assert torch.equal(again.squeeze(1), seen)
    other_epoch = torch.cat(list(buf.batches(1))).squeeze(1)
    assert not torch.equal(other_epoch, seen)


def test_resume_by_skipping_gives_the_remaining_batches():
    buf = ShuffleBuffer(_stream(), capacity=200, batch_size=50, seed=3)
    full = list(buf.batches(2))
    rest = list(buf.batches(2, skip=7))
    assert len(rest) == len(full) - 7
    assert all(torch.equal(a, b) for a, b in zip(rest, full[7:]))


def test_capacity_must_hold_two_batches():
    with pytest.raises(ValueError, match="capacity"):
        ShuffleBuffer(_stream(), capacity=60, batch_size=50, seed=0)


def test_streamed_activations_give_the_same_batch_in_order_or_by_jumping():
    from kiln_sae.shuffle_buffer import StreamedActivations

    src = StreamedActivations(_stream(), 1000, batch_size=50, capacity=200, seed=3)
    assert src.steps_per_epoch == 20 and src.d == 1
    in_order = [src.batch(1, i) for i in range(20)]
    jumped = StreamedActivations(_stream(), 1000, batch_size=50, capacity=200, seed=3)
    assert torch.equal(jumped.batch(1, 13), in_order[13]) and torch.equal(jumped.batch(1, 14), in_order[14])
    assert torch.equal(src.head(40).squeeze(1), torch.arange(40.0))  # the init sample: stream order


def test_streamed_activations_report_a_stream_shorter_than_counted():
    from kiln_sae.errors import DataError
    from kiln_sae.shuffle_buffer import StreamedActivations

    src = StreamedActivations(_stream(), 2000, batch_size=50, capacity=200, seed=3)
    with pytest.raises(DataError, match="ended before step 20"):
        for i in range(src.steps_per_epoch):
            src.batch(0, i)


# ---- train with activation_cache: none, end to end -----------------------------------------------------

def _stream_config(tmp_path, name, **extra):
    from test_train_cli import write_config

    return write_config(tmp_path / f"{name}.yaml", tmp_path / name,
                        **{"activation_cache": "none", "shuffle_buffer_tokens": 512, **extra})


def test_streamed_training_sigkill_then_resume_is_bitwise_identical(tmp_path):
    """activation_cache: none streams the rows through the seeded shuffle buffer; a run killed with SIGKILL
    after its second checkpoint and resumed ends with the same SAE bytes, metrics and final eval as an
    uninterrupted run (bitwise: CPU, one thread, fixed seed; resume regenerates the epoch's buffer and skips
    the batches already trained on)."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from test_resume import _final
    from test_train_cli import read_metrics, run_train, train_env, write_activations

    acts = write_activations(tmp_path / "acts.safetensors")
    ref_cfg = _stream_config(tmp_path, "ref")
    ref = run_train(ref_cfg, acts)
    assert ref.returncode == 0, ref.stderr
    cached = run_train(_stream_config(tmp_path, "cached", activation_cache="auto"), acts)
    assert cached.returncode == 0, cached.stderr
    ref_final = _final(tmp_path / "ref")
    assert ref_final[0] != _final(tmp_path / "cached")[0], "streaming must read in its own (buffered) order"
    assert ref_final[1]["explained_variance"] > 0.5, ref_final[1]

    cfg = _stream_config(tmp_path, "killed")
    proc = subprocess.Popen([sys.executable, "-m", "kiln_sae", "train", "--config", str(cfg), "--activations",
                             str(acts)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=train_env())
    try:
        saves = 0
        for line in proc.stdout:  # bounded: the run itself ends within seconds
            if json.loads(line)["kind"] == "checkpoint_saved":
                saves += 1
                if saves == 2:  # step 16: the first step of epoch 1, mid-stream of the buffer
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_out = tmp_path / "killed"
    assert not any(m["kind"] == "done" for m in read_metrics(killed_out)), "killed too late to test anything"
    # Resume from a mid-epoch checkpoint: drop the newer ones so the resumed run must skip into an epoch.
    ckpts = sorted((killed_out / "checkpoints").glob("step-*.pt"))
    for newer in ckpts[1:]:
        newer.unlink()
    resumed = run_train(cfg, acts)
    assert resumed.returncode == 0, resumed.stderr
    starts = [m for m in read_metrics(killed_out) if m["kind"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True] and starts[1]["step"] == 8
    assert _final(killed_out) == ref_final


def test_resuming_a_streamed_run_with_a_cache_is_refused(tmp_path):
    from test_train_cli import run_train, write_activations

    acts = write_activations(tmp_path / "acts.safetensors", n_train=512)
    first = run_train(_stream_config(tmp_path, "run", epochs=1), acts)
    assert first.returncode == 0, first.stderr
    again = run_train(_stream_config(tmp_path, "run", epochs=1, activation_cache="disk"), acts)
    assert again.returncode == 2
    assert "written with activation_cache none (streamed)" in again.stderr
