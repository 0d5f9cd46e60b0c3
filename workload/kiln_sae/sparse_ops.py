"""Sparse-aware TopK encode and decode with hand-written backward passes.

Dense SAE training costs ~12·d·n FLOPs per token. With TopK only k latents are non-zero per token, so
everything except the encoder's forward matmul (2·d·n, needed to *choose* the k latents) can touch just the
k active rows: decode = ``embedding_bag`` over W_dec rows; its backward gathers W_dec rows for ∂values and
``index_add_``s outer products into ∂W_dec; the encoder's backward writes only the k active columns of
∂W_enc and builds ∂x with ``embedding_bag`` over W_encᵀ. Total ≈ 2·d·n + 10·k·d (sae_pii.md §5), the
approach of sparsify's ``fused_encoder.py`` and OpenAI's ``kernels.py``.

The [rows·k, d] outer-product tensors are processed in chunks so memory stays bounded for large d·k.
``compute_dtype`` (bf16 under mixed precision) is applied explicitly rather than through autocast, since
custom Functions do not see autocast in their backward; gradients are accumulated and returned in the
parameters' own dtype (fp32 master weights).
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

# The CSR kernels are "beta" in PyTorch; we use only construction + sampled_addmm, covered by our tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

_CHUNK_ELEMENTS = 1 << 24  # max elements of one [rows, k, d] temporary in the fallback paths (64 MiB fp32)
_FALLBACK: set[tuple[str, str]] = set()  # (op, device type) where the sparse-library kernel was unavailable


def _gather_dot_chunked(rows: torch.Tensor, indices: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    n_rows, k = indices.shape
    out = torch.empty(n_rows, k, dtype=grad.dtype, device=grad.device)
    step = max(1, _CHUNK_ELEMENTS // max(1, k * rows.shape[1]))
    for s in range(0, n_rows, step):
        picked = rows[indices[s:s + step]]  # [c, k, d]
        out[s:s + step] = torch.bmm(picked, grad[s:s + step].unsqueeze(-1)).squeeze(-1)
    return out


def _gather_dot(rows: torch.Tensor, indices: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """out[i, j] = <rows[indices[i, j]], grad[i]>  (rows [n, d], indices [N, k] sorted per row, grad [N, d]).

    A sampled dense-dense matmul (SDDMM) over the CSR pattern of ``indices``: 2·k·d FLOPs per token with no
    [N, k, d] temporary (20x faster than gather+bmm on CPU). Computed in fp32."""
    n_tok, k = indices.shape
    key = ("sddmm", grad.device.type)
    if key not in _FALLBACK:
        try:
            crow = torch.arange(0, n_tok * k + 1, k, device=grad.device)
            pattern = torch.sparse_csr_tensor(crow, indices.reshape(-1), torch.zeros(n_tok * k, device=grad.device),
                                              (n_tok, rows.shape[0]), check_invariants=False)
            return torch.sparse.sampled_addmm(pattern, grad.float(), rows.float().t()).values().view(n_tok, k)
        except (RuntimeError, NotImplementedError):
            _FALLBACK.add(key)
    return _gather_dot_chunked(rows.float(), indices, grad.float())


def _scatter_outer_chunked(n: int, indices: torch.Tensor, coeff: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    n_rows, k = indices.shape
    d = vecs.shape[1]
    grad = torch.zeros(n, d, dtype=torch.float32, device=vecs.device)
    step = max(1, _CHUNK_ELEMENTS // max(1, k * d))
    for s in range(0, n_rows, step):
        outer = coeff[s:s + step].unsqueeze(-1).float() * vecs[s:s + step].unsqueeze(1).float()
        grad.index_add_(0, indices[s:s + step].reshape(-1), outer.reshape(-1, d))
    return grad


def _scatter_outer(n: int, indices: torch.Tensor, coeff: torch.Tensor, vecs: torch.Tensor,
                   dtype: torch.dtype) -> torch.Tensor:
    """G[m] = Σ_{(i,j): indices[i,j]=m} coeff[i,j] · vecs[i]  -> [n, d] in ``dtype``.

    = Sᵀ·vecs with S the sparse [N, n] matrix of the k coefficients per token: one sparse-dense matmul (SpMM),
    2·k·d FLOPs per token, instead of materialising N·k outer products for index_add_. Computed in fp32."""
    n_tok, k = indices.shape
    key = ("spmm", vecs.device.type)
    if key not in _FALLBACK:
        try:
            tok = torch.arange(n_tok, device=vecs.device).repeat_interleave(k)
            s_t = torch.sparse_coo_tensor(torch.stack([indices.reshape(-1), tok]), coeff.reshape(-1).float(),
                                          (n, n_tok), check_invariants=False)
            return torch.sparse.mm(s_t, vecs.float()).to(dtype)
        except (RuntimeError, NotImplementedError):
            _FALLBACK.add(key)
    return _scatter_outer_chunked(n, indices, coeff, vecs).to(dtype)


class SparseDecode(torch.autograd.Function):
    """recon[i] = Σ_j values[i, j] · W_dec[indices[i, j]]   (no bias)."""

    @staticmethod
    def forward(ctx, values, indices, W_dec, compute_dtype):  # type: ignore[override]
        dt = compute_dtype or W_dec.dtype
        w = W_dec.to(dt)
        v = values.to(dt)
        ctx.save_for_backward(values, indices, W_dec)
        ctx.dt = dt
        return F.embedding_bag(indices, w, per_sample_weights=v, mode="sum")

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        values, indices, W_dec = ctx.saved_tensors
        dt = ctx.dt
        g = grad_out.to(dt)
        grad_values = grad_W = None
        if ctx.needs_input_grad[0]:
            grad_values = _gather_dot(W_dec, indices, g).to(values.dtype)
        if ctx.needs_input_grad[2]:
            grad_W = _scatter_outer(W_dec.shape[0], indices, values, g, W_dec.dtype)
        return grad_values, None, grad_W, None


class EncodeAt(torch.autograd.Function):
    """pre[i, j] = <x[i], W_enc[:, indices[i, j]]> + b_enc[indices[i, j]] for the chosen latents only.

    ``pre_dense`` (the full x @ W_enc + b_enc, already computed to pick the indices) is gathered from instead
    of recomputing the k dot products; the backward writes only the chosen columns of ∂W_enc."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, indices, pre_dense, compute_dtype):  # type: ignore[override]
        dt = compute_dtype or W_enc.dtype
        if pre_dense is not None:
            out = pre_dense.gather(1, indices)
        else:
            out = _gather_dot(W_enc.t().to(dt), indices, x.to(dt)) + b_enc.to(dt)[indices]
        ctx.save_for_backward(x, W_enc, indices)
        ctx.dt = dt
        return out

    @staticmethod
    def backward(ctx, grad_pre):  # type: ignore[override]
        x, W_enc, indices = ctx.saved_tensors
        dt = ctx.dt
        g = grad_pre.to(dt)
        grad_x = grad_W = grad_b = None
        if ctx.needs_input_grad[0]:
            w_t = W_enc.t().contiguous().to(dt)  # [n, d]: rows = latents' encoder directions
            grad_x = F.embedding_bag(indices, w_t, per_sample_weights=g, mode="sum").to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_W = _scatter_outer(W_enc.shape[1], indices, g, x.to(dt), W_enc.dtype).t()
        if ctx.needs_input_grad[2]:
            grad_b = torch.zeros(W_enc.shape[1], dtype=W_enc.dtype, device=g.device)
            grad_b.index_add_(0, indices.reshape(-1), g.reshape(-1).to(W_enc.dtype))
        return grad_x, grad_W, grad_b, None, None, None


def sparse_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor,
                  compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    return SparseDecode.apply(values, indices, W_dec, compute_dtype)


def dense_pre_acts(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor,
                   compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """x @ W_enc + b_enc without autograd: the one dense matmul (2·d·n), used only to choose latents."""
    dt = compute_dtype or W_enc.dtype
    with torch.no_grad():
        return torch.addmm(b_enc.to(dt), x.detach().to(dt), W_enc.detach().to(dt))


def encode_at(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, indices: torch.Tensor,
              pre_dense: torch.Tensor | None = None, compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    return EncodeAt.apply(x, W_enc, b_enc, indices, pre_dense, compute_dtype)


def topk_encode(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, k: int,
                compute_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(values [N,k] = relu of the top-k pre-activations, indices [N,k], pre_acts [N,n] without grad)."""
    pre = dense_pre_acts(x, W_enc, b_enc, compute_dtype)
    # Ascending latent ids per row: the CSR pattern the sparse kernels build from them must be sorted.
    indices = pre.topk(k, dim=-1, sorted=False).indices.sort(dim=-1).values
    values = torch.relu(encode_at(x, W_enc, b_enc, indices, pre, compute_dtype))
    return values, indices, pre


# ---- the fused TopK training step ---------------------------------------------------------------------
# The TopK training forward/backward as one autograd Function: encode, choose, decode, and a hand-written
# backward that touches only the k chosen latents per token.
#
# Compared with chaining EncodeAt + SparseDecode (sparse_ops.py) this saves, per step: one pass over the
# [N, n] pre-activations (values come from topk itself, re-ordered by the index sort), one coalescing sort of
# the N·k sparse pattern (both weight gradients, ∂W_dec = Sᵀ·∂x̂ and ∂W_encᵀ = S'ᵀ·(x−b_dec), share one
# stable argsort and are built as already-coalesced COO matrices), and the autograd bookkeeping of the
# intermediate [N, k] tensors. The arithmetic is the same as the dense reference (tests compare them).

def _latent_major(indices: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, coo_indices): ``order`` sorts the flattened [N·k] pattern by latent (stable, so tokens stay
    ascending within a latent); coo_indices [2, N·k] = (latent, token) rows of a coalesced [n, N] matrix."""
    flat = indices.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tok = torch.div(order, indices.shape[1], rounding_mode="floor")
    return order, torch.stack([flat[order], tok])


def _latent_major_mm(coo: torch.Tensor, order: torch.Tensor, coeff: torch.Tensor, dense: torch.Tensor,
                     n: int) -> torch.Tensor:
    """Sᵀ·dense with S[i, indices[i, j]] = coeff[i, j]: one sparse-dense matmul, 2·k·d FLOPs per token."""
    s = torch.sparse_coo_tensor(coo, coeff.reshape(-1)[order].float(), (n, dense.shape[0]), is_coalesced=True,
                                check_invariants=False)
    return torch.sparse.mm(s, dense.float())


# One reusable [N, n] pre-activation buffer per process for the CPU training step (when the caller does not
# keep ``pre``). At the benchmark's 4096 x 3072 it is 50 MB: above glibc's largest mmap threshold (32 MB), so a
# fresh tensor is a fresh mmap whose 12k pages fault in on every step (the ``addmm`` bias copy paid them:
# ~25 ms at 1 thread and worse at 2, where the threads' faults serialise on the address-space lock).
# Keyed by inference mode too: a buffer made under ``torch.inference_mode`` (an evaluation pass) is an inference
# tensor, which a later training step may not write into, and vice versa.
_PRE_WORKSPACE: dict[tuple[torch.dtype, str, bool], torch.Tensor] = {}
# Device types whose TopK backward takes the CPU-tuned route (latent bags, ∂b_dec from ∂b_enc); CUDA keeps the
# COO SpMM route it was tuned with. Tests empty this set to run the CUDA route's arithmetic on CPU.
_CPU_ROUTE = {"cpu"}


def _pre_buffer(rows: int, n: int, like: torch.Tensor) -> torch.Tensor:
    key = (like.dtype, like.device.type, torch.is_inference_mode_enabled())
    buf = _PRE_WORKSPACE.get(key)
    if buf is None or buf.numel() < rows * n:
        buf = _PRE_WORKSPACE[key] = torch.empty(rows * n, dtype=like.dtype, device=like.device)
    return buf[:rows * n].view(rows, n)


def _encode_topk(xc: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, k: int, keep_pre: bool):
    """(top values, top indices, pre or None): the one dense matmul (2·d·n per token) and the selection
    (grouped_topk on CPU). Row-chunking this so each [rows, n] block stays in cache showed no gain we could
    measure on the loaded 2-core dev machine (218 vs 231 ms at 1 thread), so it stays one matmul."""
    if keep_pre or xc.device.type != "cpu" or torch.compiler.is_compiling():
        pre = torch.addmm(b_enc, xc, W_enc)
    else:
        pre = torch.addmm(b_enc, xc, W_enc, out=_pre_buffer(xc.shape[0], W_enc.shape[1], xc))
    top_v, top_i = grouped_topk(pre, k) if pre.device.type == "cpu" else pre.topk(k, dim=-1, sorted=False)
    return top_v, top_i, pre if keep_pre else None


_GROUP = 8  # columns per group in grouped_topk


def grouped_topk(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact per-row top-k (values, column ids; unordered) of ``pre`` [N, n], cheaper than one topk on CPU.

    Split each row's columns into n/8 groups {g, g + n/8, ..., g + 7n/8} and take the k groups with the largest
    maxima: every top-k element lies in one of them (were x in another group, the k chosen groups' maxima
    would be k elements ≥ x). So one topk over the n/8 group maxima and one over the 8k candidates replace
    the topk over n columns, whose CPU kernel (a heap over (value, index) pairs per row) costs as much as a
    third of the encoder matmul; the strided groups make the group max 7 vectorised elementwise maxima.
    Ties may pick different columns of equal value, as torch.topk's own order is unspecified."""
    rows, n = pre.shape
    if n % _GROUP or n < 4 * _GROUP * k:
        return pre.topk(k, dim=-1, sorted=False)
    groups = n // _GROUP
    strided = pre.view(rows, _GROUP, groups)  # strided[i, j, g] = pre[i, g + j·groups]
    top_groups = strided.amax(1).topk(k, dim=-1, sorted=False).indices  # [N, k]
    # Candidates [N, 8, k] through a stride-0 index (no [N, 8k] index tensor); candidate p sits in column
    # top_groups[p mod k] + (p div k)·groups.
    cand = strided.gather(2, top_groups.unsqueeze(1).expand(rows, _GROUP, k)).view(rows, _GROUP * k)
    values, pick = cand.topk(k, dim=-1, sorted=False)
    return values, top_groups.gather(1, pick % k).add_(pick.div(k, rounding_mode="floor").mul_(groups))


def _latent_bags(indices: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(order, tokens, offsets): the N·k (token, latent) pairs of ``indices`` grouped by latent, as
    ``embedding_bag`` input: bag m = tokens[offsets[m]:offsets[m+1]], the tokens where latent m fired."""
    flat = indices.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=n)
    return order, torch.div(order, indices.shape[1], rounding_mode="floor"), counts.cumsum(0).sub_(counts)


def _latent_bags_mm(bags: tuple[torch.Tensor, torch.Tensor, torch.Tensor], coeff: torch.Tensor,
                    dense: torch.Tensor) -> torch.Tensor:
    """Sᵀ·dense (as _latent_major_mm) as one ``embedding_bag``: row m = Σ over latent m's bag of coeff·dense[tok].
    On CPU this is a parallel loop over the n bags; torch.sparse.mm's COO kernel is one thread (it ran
    slower at 2 threads than at 1 on the 2-core dev machine)."""
    order, tok, offsets = bags
    return F.embedding_bag(tok, dense.float(), offsets, per_sample_weights=coeff.reshape(-1)[order].float(),
                           mode="sum")


class TopKAutoencode(torch.autograd.Function):
    """recon = Σ_j relu(top_k(x̃ W_enc + b_enc))_j · W_dec[idx_j] + b_dec with x̃ = x − b_dec.

    Returns (recon [N, d] fp32, values [N, k], indices [N, k] ascending per row, pre [N, n] without grad, or
    an empty tensor unless ``keep_pre``: only AuxK needs it). Only ``recon`` carries gradient."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, W_dec, b_dec, k, compute_dtype, keep_pre):  # type: ignore[override]
        dt = compute_dtype or W_enc.dtype
        xc = x - b_dec
        top_v, top_i, pre = _encode_topk(xc.to(dt), W_enc.to(dt), b_enc.to(dt), k, keep_pre)
        # Ascending latent ids per row: the CSR pattern of the ∂values SDDMM must be sorted.
        indices, perm = top_i.sort(dim=-1)
        values = top_v.gather(1, perm).relu_()
        recon = F.embedding_bag(indices, W_dec.to(dt), per_sample_weights=values, mode="sum").float() + b_dec
        if pre is None:
            pre = xc.new_empty(0)
        ctx.save_for_backward(xc, W_enc, W_dec, indices, values)
        ctx.dt = dt
        ctx.mark_non_differentiable(values, indices, pre)
        # No zero [N, n] gradient for ``pre`` (nor [N, k] ones) in the backward: they never get one.
        ctx.set_materialize_grads(False)
        return recon, values, indices, pre

    @staticmethod
    def backward(ctx, grad_recon, _gv, _gi, _gp):  # type: ignore[override]
        if grad_recon is None:
            return None, None, None, None, None, None, None, None
        xc, W_enc, W_dec, indices, values = ctx.saved_tensors
        dt = ctx.dt
        n = W_dec.shape[0]
        need_x, need_we, need_be, need_wd, need_bd = ctx.needs_input_grad[:5]
        g = grad_recon.to(dt)
        grad_values = _gather_dot(W_dec, indices, g)  # fp32 [N, k]
        grad_pre = grad_values.mul_(values > 0)  # relu's gradient, in place
        on_cpu = g.device.type in _CPU_ROUTE
        if on_cpu:
            bags = _latent_bags(indices, n)
            grad_W_dec = _latent_bags_mm(bags, values, g).to(W_dec.dtype) if need_wd else None
            grad_W_enc = _latent_bags_mm(bags, grad_pre, xc.to(dt)).t().to(W_enc.dtype) if need_we else None
        else:
            order, coo = _latent_major(indices, n)
            grad_W_dec = _latent_major_mm(coo, order, values, g, n).to(W_dec.dtype) if need_wd else None
            grad_W_enc = (_latent_major_mm(coo, order, grad_pre, xc.to(dt), n).t().to(W_enc.dtype)
                          if need_we else None)
        grad_b_enc = None
        if need_be or (on_cpu and need_bd and not need_x):
            grad_b_enc = torch.zeros(n, dtype=W_enc.dtype, device=g.device)
            grad_b_enc.index_add_(0, indices.reshape(-1), grad_pre.reshape(-1).to(W_enc.dtype))
        grad_x = grad_b_dec = None
        if on_cpu and need_bd and not need_x:
            # Σ_i ∂x̃_i = Σ_i Σ_j ∂pre_ij · W_enc[:, idx_ij] = W_enc · ∂b_enc: one [d, n] matvec instead of the
            # transposed copy of W_enc and the [N, d] embedding_bag below (training never needs ∂x itself).
            grad_b_dec = (grad_recon.float().sum(0) - W_enc.float().mv(grad_b_enc.float())).to(W_dec.dtype)
        elif need_x or need_bd:
            # ∂x̃ = Σ_j ∂pre_j · W_enc[:, idx_j]: an embedding_bag over the encoder's columns.
            grad_xc = F.embedding_bag(indices, W_enc.t().contiguous().to(dt), per_sample_weights=grad_pre.to(dt),
                                      mode="sum").float()
            if need_bd:
                grad_b_dec = (grad_recon.float().sum(0) - grad_xc.sum(0)).to(W_dec.dtype)
            grad_x = grad_xc if need_x else None
        elif need_bd:
            grad_b_dec = grad_recon.float().sum(0).to(W_dec.dtype)
        if not need_be:
            grad_b_enc = None
        return grad_x, grad_W_enc, grad_b_enc, grad_W_dec, grad_b_dec, None, None, None


def topk_autoencode(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, W_dec: torch.Tensor,
                    b_dec: torch.Tensor, k: int, compute_dtype: torch.dtype | None = None, keep_pre: bool = True):
    """(recon, values, indices, pre); ``pre`` is an empty tensor when ``keep_pre`` is false."""
    return TopKAutoencode.apply(x, W_enc, b_enc, W_dec, b_dec, k, compute_dtype, keep_pre)
