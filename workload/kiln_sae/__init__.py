"""Kiln's GPU workload: TopK/ReLU sparse autoencoders on a language model's residual stream, and a PII
detector on their latents. Run as ``python -m kiln_sae <command> --config FILE``; see workload/README.md."""

__version__ = "0.1.0"
