"""SAE behaviour: unit-norm decoder through training, gradient projection, AuxK revival, ReLU+L1, b_dec init."""
import torch

from kiln_sae.distributed import DistContext
from kiln_sae.loop import train_step
from kiln_sae.batches import TensorSource
from kiln_sae.optim import make_optimizer
from kiln_sae.sae import SparseAutoencoder


def _train(sae, data, steps, dead_mask=None, lr=1e-2):
    opt = make_optimizer(list(sae.parameters()), lr, torch.device("cpu"))
    src = TensorSource(data)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        rows = torch.randint(0, data.shape[0], (128,), generator=g)
        train_step(sae, opt, [rows], src, act_scale=1.0, dead_mask=dead_mask, lr=lr, grad_clip=1.0,
                   device=torch.device("cpu"), ctx=DistContext())
    return sae


def test_decoder_rows_stay_unit_norm_through_training():
    g = torch.Generator().manual_seed(0)
    sae = _train(SparseAutoencoder(16, 64, k=4, generator=g), torch.randn(512, 16, generator=g) * 3, 30, lr=5e-2)
    norms = sae.W_dec.detach().norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_gradient_projection_removes_the_component_along_each_decoder_row():
    g = torch.Generator().manual_seed(1)
    sae = SparseAutoencoder(8, 16, k=2, generator=g)
    sae(torch.randn(32, 8, generator=g)).loss.backward()
    sae.remove_parallel_grad_()
    parallel = (sae.W_dec.grad * sae.W_dec).sum(dim=1)
    assert parallel.abs().max() < 1e-6


def _train_tracking_dead(sae, data, steps, threshold, lr=1e-2):
    """Like the trainer: a latent is dead once it has not fired for ``threshold`` tokens."""
    opt = make_optimizer(list(sae.parameters()), lr, torch.device("cpu"))
    src, g = TensorSource(data), torch.Generator().manual_seed(0)
    counter = torch.full((sae.n_latents,), threshold)
    for _ in range(steps):
        rows = torch.randint(0, data.shape[0], (128,), generator=g)
        r = train_step(sae, opt, [rows], src, act_scale=1.0, dead_mask=counter >= threshold, lr=lr, grad_clip=1.0,
                       device=torch.device("cpu"), ctx=DistContext())
        counter += 128
        counter.masked_fill_(r.fired, 0)
    return int((counter >= threshold).sum())


def test_auxk_revives_dead_latents():
    # 32 sparse ground-truth features in d=16; latents 32..63 start with b_enc = -2, so they almost never reach
    # the top k and (without AuxK) get no gradient. AuxK trains the dead ones on the residual and revives them.
    g = torch.Generator().manual_seed(2)
    feats = torch.nn.functional.normalize(torch.randn(32, 16, generator=g), dim=1)
    codes = (torch.rand(2048, 32, generator=g) < 0.1).float() * (1 + torch.rand(2048, 32, generator=g))
    data = codes @ feats

    def dead_after_training(coef):
        sae = SparseAutoencoder(16, 64, k=4, aux_k=8, aux_k_coefficient=coef,
                                generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            sae.b_enc[32:] = -2.0
        return _train_tracking_dead(sae, data, 150, threshold=512)

    without, with_aux = dead_after_training(0.0), dead_after_training(1.0)
    assert without >= 25  # measured: 29 of 64 dead
    assert with_aux <= without - 8  # measured: 18


def test_relu_l1_is_weighted_by_decoder_norms():
    g = torch.Generator().manual_seed(4)
    sae = SparseAutoencoder(8, 32, architecture="relu", l1_coefficient=2.0, generator=g)
    x = torch.randn(20, 8, generator=g)
    out = sae(x)
    f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    expected_l1 = (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
    assert torch.allclose(out.l1, expected_l1)
    recon = f @ sae.W_dec + sae.b_dec
    assert torch.allclose(out.loss, (recon - x).pow(2).sum(-1).mean() + 2.0 * expected_l1, rtol=1e-5)
    assert sae.k is None and torch.equal(sae.encode_dense(x), f)


def test_b_dec_init_is_the_geometric_median():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [100.0, 100.0]])
    sae = SparseAutoencoder(2, 4, k=1)
    sae.init_b_dec_(pts)
    # The outlier pulls the mean to (25.25, 25.25); the geometric median stays near the cluster.
    assert sae.b_dec.norm() < 1.0


def test_training_metrics_match_hand_computation():
    """The training step's mse, fvu, l0 and fired mask (SaeOutput) against numbers computed by hand on a
    4-token, d=2 example whose reconstruction is chosen by setting the weights directly."""
    sae = SparseAutoencoder(2, 3, k=1, aux_k_coefficient=0.0)
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-0.6, -0.8]]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    x = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.5], [-1.0, -1.0]])
    out = sae(x)
    # Latent picked per token: 0 (pre 2), 1 (pre 3), 0 (pre 1 > 0.5), 2 (pre 2) -> reconstructions
    # (2, 0), (0, 3), (1, 0), (-1.2, -1.6); squared errors 0, 0, 0.25, 0.04 + 0.36.
    assert out.indices.flatten().tolist() == [0, 1, 0, 2]
    assert torch.allclose(out.recon, torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [-1.2, -1.6]]))
    sq = 0.25 + 0.04 + 0.36
    assert abs(float(out.mse) - sq / 8) < 1e-6
    # Σ‖x − x̄‖² with x̄ = (0.5, 0.625): 2.25 + 0.25 + 0.25 + 2.25 + 0.390625 + 5.640625 + 0.015625 + 2.640625
    total_var = 13.6875
    assert abs(float(out.fvu) - sq / total_var) < 1e-6 and abs(float(out.loss) - sq / total_var) < 1e-6
    assert float(out.l0) == 1.0
    assert out.fired.tolist() == [True, True, True]


def test_topk_steps_adam_on_the_unit_norm_gradient():
    """kiln_sae.optim says why: the FVU gradient shrinks ~8x over a short run and Adam's long-memory second
    moment would shrink every later step with it. After normalize_grad_ the global gradient norm is 1."""
    from kiln_sae.optim import normalize_grad_

    g = torch.Generator().manual_seed(3)
    sae = SparseAutoencoder(8, 16, k=2, generator=g)
    (sae(torch.randn(32, 8, generator=g)).loss * 1e-3).backward()
    normalize_grad_(list(sae.parameters()))
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in sae.parameters()]))
    assert abs(float(total) - 1.0) < 1e-5
