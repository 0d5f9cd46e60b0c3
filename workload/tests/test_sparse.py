"""The sparse TopK path equals a dense reference: same forward, same gradients for every parameter."""
import torch

from kiln_sae.sae import SparseAutoencoder


def dense_reference(sae: SparseAutoencoder, x: torch.Tensor, dead_mask: torch.Tensor | None):
    xc = x - sae.b_dec
    pre = xc @ sae.W_enc + sae.b_enc
    idx = pre.topk(sae.k, dim=-1).indices
    acts = torch.zeros_like(pre).scatter(1, idx, pre.gather(1, idx).relu())
    recon = acts @ sae.W_dec + sae.b_dec
    total_var = (x - x.mean(0)).pow(2).sum()
    loss = (recon - x).pow(2).sum() / total_var
    if dead_mask is not None:
        n_dead = int(dead_mask.sum())
        k_aux = min(sae.aux_k, n_dead)
        aux_idx = pre.detach().masked_fill(~dead_mask, float("-inf")).topk(k_aux, dim=-1).indices
        aux_acts = torch.zeros_like(pre).scatter(1, aux_idx, pre.gather(1, aux_idx).relu())
        e_hat = aux_acts @ sae.W_dec
        aux = min(n_dead / sae.aux_k, 1.0) * (e_hat - (x - recon).detach()).pow(2).sum() / total_var
        loss = loss + sae.aux_k_coefficient * aux
    return recon, loss


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).norm() / b.norm().clamp_min(1e-30)).detach())


def _grads(sae, loss):
    sae.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in sae.named_parameters()}


def check_against_dense(dead_mask=None):
    g = torch.Generator().manual_seed(0)
    sae = SparseAutoencoder(24, 96, k=6, aux_k=8, aux_k_coefficient=0.5, generator=g)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1, generator=g)
        sae.b_dec.normal_(0, 0.1, generator=g)
    x = torch.randn(64, 24, generator=g)
    out = sae(x, dead_mask)
    sparse_grads = _grads(sae, out.loss)
    recon, loss = dense_reference(sae, x, dead_mask)
    dense_grads = _grads(sae, loss)
    assert rel_err(out.recon, recon) < 1e-5
    assert abs(out.loss.item() - loss.item()) / loss.item() < 1e-5
    for name in dense_grads:
        assert rel_err(sparse_grads[name], dense_grads[name]) < 1e-5, name


def test_sparse_topk_forward_and_backward_equal_dense_reference():
    check_against_dense()


def test_sparse_auxk_forward_and_backward_equal_dense_reference():
    dead = torch.zeros(96, dtype=torch.bool)
    dead[::3] = True
    check_against_dense(dead)


def test_cuda_route_of_the_fused_backward_matches_the_dense_reference(monkeypatch):
    """The fused backward has a CPU route (latent bags, ∂b_dec from ∂b_enc) and the route CUDA keeps (COO
    SpMM, ∂b_dec through ∂x̃): run the CUDA route's arithmetic on CPU so both stay checked against dense."""
    import kiln_sae.sparse_ops as ops

    monkeypatch.setattr(ops, "_CPU_ROUTE", set())
    check_against_dense()
    dead = torch.zeros(96, dtype=torch.bool)
    dead[::3] = True
    check_against_dense(dead)


def test_grouped_topk_is_the_exact_topk():
    """The CPU step's top-k through group maxima picks exactly torch.topk's latents (random rows, rows whose
    top-k crowd into few groups, a row of ties where any k equal values will do) and falls back to topk
    where the grouping does not pay (n not a multiple of 8, or n < 32·k)."""
    from kiln_sae.sparse_ops import grouped_topk

    g = torch.Generator().manual_seed(4)
    pre = torch.randn(300, 3072, generator=g)
    pre[:100, ::384] += 10.0  # every top-8 latent of these rows in one strided group (columns g + 384·j)
    pre[100:200, :40] += 10.0  # the top-32 packed into adjacent columns
    pre[200] = 1.0
    for k in (1, 8, 32, 96):
        values, cols = grouped_topk(pre, k)
        ref_values, ref_cols = pre.topk(k, dim=-1, sorted=False)
        assert torch.equal(pre.gather(1, cols), values)
        assert torch.equal(values.sort(-1).values, ref_values.sort(-1).values)
        assert torch.equal(cols[:200].sort(-1).values, ref_cols[:200].sort(-1).values), k
        assert cols[200].unique().numel() == k
    odd = torch.randn(10, 100, generator=g)
    assert torch.equal(grouped_topk(odd, 4)[1].sort(-1).values, odd.topk(4).indices.sort(-1).values)


def test_fallback_kernels_match_the_sparse_library_path(monkeypatch):
    """Where SDDMM/SpMM are unavailable (a device/dtype combination) the chunked gather/index_add_ path is used."""
    import kiln_sae.sparse_ops as ops

    g = torch.Generator().manual_seed(1)
    sae = SparseAutoencoder(16, 64, k=4, generator=g)
    x = torch.randn(50, 16, generator=g)
    library = _grads(sae, sae(x).loss)
    monkeypatch.setattr(ops, "_FALLBACK", {("sddmm", "cpu"), ("spmm", "cpu")})
    monkeypatch.setattr(ops, "_CHUNK_ELEMENTS", 16 * 4 * 7)  # 7 rows per chunk: exercises the chunk edges
    chunked = _grads(sae, sae(x).loss)
    for name in library:
        assert rel_err(chunked[name], library[name]) < 1e-6, name


def test_encode_dense_and_decode_sparse_are_consistent():
    g = torch.Generator().manual_seed(2)
    sae = SparseAutoencoder(16, 64, k=4, generator=g)
    x = torch.randn(10, 16, generator=g)
    values, indices = sae.encode(x)
    dense = sae.encode_dense(x)
    assert values.shape == (10, 4) and indices.shape == (10, 4)
    assert int((dense > 0).sum(-1).max()) <= 4
    assert rel_err(sae.decode_sparse(values, indices), dense @ sae.W_dec + sae.b_dec) < 1e-6


def test_fused_topk_function_gives_the_dense_gradient_for_the_input_and_keeps_pre_only_on_request():
    """The fused Function's ∂x (unused in training, but part of its contract) and the keep_pre switch: the
    [N, n] pre-activations come back only when asked (AuxK), and the reconstruction is the same either way."""
    from kiln_sae.sparse_ops import topk_autoencode

    g = torch.Generator().manual_seed(1)
    sae = SparseAutoencoder(16, 64, k=5, generator=g)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1, generator=g)
        sae.b_dec.normal_(0, 0.1, generator=g)
    x = torch.randn(40, 16, generator=g, requires_grad=True)
    params = (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec)
    recon, values, indices, pre = topk_autoencode(x, *params, sae.k, None, keep_pre=False)
    assert pre.numel() == 0 and values.shape == indices.shape == (40, 5)
    assert bool((indices[:, 1:] > indices[:, :-1]).all()), "indices ascending per row"
    (grad_x,) = torch.autograd.grad(recon.pow(2).sum(), x)
    x_ref = x.detach().clone().requires_grad_(True)
    ref, _ = dense_reference(sae, x_ref, None)
    (grad_ref,) = torch.autograd.grad(ref.pow(2).sum(), x_ref)
    assert rel_err(recon, ref) < 1e-5 and rel_err(grad_x, grad_ref) < 1e-5
    recon2, _, _, pre2 = topk_autoencode(x.detach(), *params, sae.k, None, keep_pre=True)
    assert pre2.shape == (40, 64) and torch.equal(recon2, recon.detach())


def test_training_forward_skips_pre_acts_without_dead_latents():
    sae = SparseAutoencoder(16, 64, k=5, generator=torch.Generator().manual_seed(2))
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(3))
    assert sae(x).pre_acts is None
    assert sae(x, torch.zeros(64, dtype=torch.bool)).pre_acts is None
    dead = torch.zeros(64, dtype=torch.bool)
    dead[:8] = True
    out = sae(x, dead)
    assert out.pre_acts is not None and out.pre_acts.shape == (32, 64) and float(out.aux_loss) > 0


def test_cpu_workspace_survives_an_inference_pass_before_training():
    """A validation pass under inference_mode must not leave the CPU step an inference tensor to write into."""
    from kiln_sae.sparse_ops import _encode_topk

    torch.manual_seed(0)
    x, W, b = torch.randn(16, 8), torch.randn(8, 32), torch.randn(32)
    with torch.inference_mode():
        v_inf, i_inf, _ = _encode_topk(x, W, b, 4, keep_pre=False)
    v, i, _ = _encode_topk(x, W, b, 4, keep_pre=False)
    with torch.inference_mode():
        _encode_topk(x, W, b, 4, keep_pre=False)
    assert torch.equal(v.sort(-1).values, v_inf.sort(-1).values)
    assert torch.equal(i.sort(-1).values, i_inf.sort(-1).values)
