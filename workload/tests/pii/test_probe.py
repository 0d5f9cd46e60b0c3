"""Both probes learn a constructed, linearly separable token problem."""
from __future__ import annotations

import torch

from kiln_sae.pii.align import IGNORE
from kiln_sae.pii.detector import with_context
from kiln_sae.pii.probe import DenseLinearProbe, ProbeTraining, SparseLinearProbe, class_weights, train_probe


def test_sparse_probe_learns_which_latent_marks_each_tag():
    g = torch.Generator().manual_seed(0)
    n, k, n_latents, n_tags = 3000, 4, 64, 3
    tags = torch.randint(0, n_tags, (n,), generator=g)
    indices = torch.randint(3, n_latents, (n, k), generator=g)
    indices[:, 0] = tags  # latent t fires exactly on tag t
    values = torch.rand(n, k, generator=g) + 0.5
    probe = SparseLinearProbe(n_latents, n_tags)
    losses = train_probe(probe, (values, indices), tags, n_tags, ProbeTraining(epochs=8, lr=0.05, batch_size=256))
    assert losses[-1] < losses[0] / 4
    with torch.no_grad():
        acc = (probe(values, indices).argmax(1) == tags).float().mean()
    assert acc > 0.99


def test_dense_probe_learns_a_separable_problem_and_ignores_masked_tokens():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 16, generator=g) * 5 + 100  # large offset: the probe must standardise
    tags = (x[:, 3] > 100).long()
    x[:, 3] += (tags * 2 - 1) * 2.0  # a margin, so "separable" holds with a finite number of steps
    tags[:100] = IGNORE
    probe = DenseLinearProbe(16, 2)
    train_probe(probe, (x,), tags, 2, ProbeTraining(epochs=10, lr=0.05, batch_size=256))
    keep = tags != IGNORE
    with torch.no_grad():
        acc = (probe(x[keep]).argmax(1) == tags[keep]).float().mean()
    assert acc > 0.99


def test_class_weights_favour_rare_tags():
    tags = torch.tensor([0] * 90 + [1] * 10 + [IGNORE] * 5)
    w = class_weights(tags, 3, power=1.0)
    assert w[1] > w[0] * 8 and w[2] == 0


def test_context_features_shift_neighbours_into_their_own_blocks():
    x = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    (dense,) = with_context((x,), 1, None)
    assert dense.tolist() == [[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 0, 0]]
    values = torch.tensor([[1.0], [2.0], [3.0]])
    indices = torch.tensor([[5], [6], [7]])
    v, i = with_context((values, indices), 1, 10)
    assert v.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 0]]
    assert i.tolist() == [[0, 15, 26], [5, 16, 27], [6, 17, 20]]


def test_hybrid_probe_combines_latent_and_raw_evidence():
    from kiln_sae.pii.probe import HybridProbe

    g = torch.Generator().manual_seed(2)
    n = 3000
    x = torch.randn(n, 8, generator=g) * 3 + 50  # large offset: its dense part must standardise
    indices = torch.randint(0, 40, (n, 1), generator=g)
    values = torch.ones(n, 1)
    # The tag needs both inputs: bit 1 from the raw sign of x[:, 0], bit 0 from which latent fired.
    high = (x[:, 0] > 50).long()
    x[:, 0] += (high * 2 - 1) * 2.0
    tags = high * 2 + (indices[:, 0] < 20).long()
    probe = HybridProbe(40, 8, 4)
    train_probe(probe, (values, indices, x), tags, 4, ProbeTraining(epochs=30, lr=0.05, batch_size=256))
    assert abs(float(probe.dense.mean[0]) - float(x[:, 0].mean())) < 1e-3
    with torch.no_grad():
        acc = (probe(values, indices, x).argmax(1) == tags).float().mean()
    assert acc > 0.97


def test_input_dropout_trains_on_redundant_evidence_and_leaves_inference_alone():
    # Two latents mark each tag; with half the inputs dropped in training the probe must use both,
    # so at inference either one alone still decides.
    g = torch.Generator().manual_seed(2)
    n, n_tags = 3000, 3
    tags = torch.randint(0, n_tags, (n,), generator=g)
    indices = torch.stack([tags, tags + n_tags], dim=1)
    values = torch.ones(n, 2)
    probe = SparseLinearProbe(2 * n_tags, n_tags)
    torch.manual_seed(0)
    train_probe(probe, (values, indices), tags, n_tags,
                ProbeTraining(epochs=6, lr=0.05, batch_size=256, input_dropout=0.5))
    assert not probe.training
    with torch.no_grad():
        full = probe(values, indices)
        assert torch.equal(full, probe(values, indices))  # deterministic: no dropout at inference
        only_first = probe(torch.tensor([[1.0, 0.0]]).expand(n, 2), indices)
        only_second = probe(torch.tensor([[0.0, 1.0]]).expand(n, 2), indices)
    for logits in (full, only_first, only_second):
        assert (logits.argmax(1) == tags).float().mean() > 0.99


def _xor_tokens(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens whose tag is 1 when exactly one of latents 0 and 1 fires: no linear probe separates it."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
    indices = torch.stack([torch.full((n,), 2), torch.where(a == 1, 0, 3), torch.where(b == 1, 1, 4)], 1)
    return torch.ones(n, 3), indices, (a ^ b).long()


def test_a_hidden_branch_learns_a_conjunction_the_linear_probe_cannot():
    values, indices, tags = _xor_tokens(2000, 0)
    accs = {}
    for hidden in (0, 16):
        torch.manual_seed(0)
        probe = SparseLinearProbe(8, 2, hidden=hidden, active=3)
        train_probe(probe, (values, indices), tags, 2, ProbeTraining(epochs=40, lr=0.05, batch_size=256))
        with torch.no_grad():
            accs[hidden] = float((probe(values, indices).argmax(1) == tags).float().mean())
    assert accs[0] < 0.8 and accs[16] > 0.99, accs
    x = torch.nn.functional.one_hot(indices, 8).sum(1).float() + torch.randn(2000, 8) * 0.01
    torch.manual_seed(0)
    dense = DenseLinearProbe(8, 2, hidden=16)
    train_probe(dense, (x,), tags, 2, ProbeTraining(epochs=40, lr=0.05, batch_size=256))
    with torch.no_grad():
        assert float((dense(x).argmax(1) == tags).float().mean()) > 0.99
