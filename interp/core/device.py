"""Device and dtype choice: CUDA when present, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from interp.core.errors import InterpError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` to the best available accelerator; validate explicit choices."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InterpError(f"device {device!r} was requested but CUDA is not available here.")
    return dev


def parse_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Map a dtype name to torch; half precision is only allowed on an accelerator."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = DTYPES[str(dtype).lower()]
        except KeyError:
            raise InterpError(
                f"unknown dtype {dtype!r}; choose one of: float32, bfloat16, float16"
            ) from None
    if resolved != torch.float32 and device.type == "cpu":
        raise InterpError(
            f"{dtype} is only supported on a GPU; use float32 on CPU "
            "(half-precision matmuls are slow and inexact there)."
        )
    return resolved


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
