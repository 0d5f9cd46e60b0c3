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
