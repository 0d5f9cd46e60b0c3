"""Device and precision policy: where the SAE runs and in which dtype its matmuls compute."""
from __future__ import annotations

import torch

from kiln_sae.errors import ConfigError


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' requested but torch.cuda.is_available() is False; use device: auto or cpu")
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        # TF32 for the fp32 matmuls that remain (optimiser-side, fp32 policy): ~2x on Ampere+ at negligible error.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def compute_dtype_for(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """None = compute in the parameters' fp32. bf16 keeps fp32 master weights and fp32 losses."""
    if mixed_precision == "bf16" or (mixed_precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def gpu_utilization(device: torch.device) -> float | None:
    """Percent of NVML's last sample period the GPU was busy (metrics protocol `gpu_util`); None on CPU or
    without NVML (torch reads it through pynvml, which a machine may lack)."""
    if device.type != "cuda":
        return None
    try:
        return float(torch.cuda.utilization(device))
    except Exception:  # noqa: BLE001 - pynvml missing, NVML not loaded, a MIG slice: the field is optional
        return None


def gpu_memory_gb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
