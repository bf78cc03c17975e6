"""Device and dtype choice: CUDA when present, then Apple MPS, then CPU; and the memory
budget every sweep sizes its batched forwards by.

The budget is decided in this order: a ``memory=`` argument of the sweep; the innermost
:func:`memory_limit` block (per thread / task: the dashboard sets one per analysis); the
process-wide :func:`set_memory_budget` (the ``--memory`` option of every script and command,
applied by :func:`interp.core.config.apply_device_options`); ``$INTERP_MEMORY_BUDGET``; half of
the device's free memory (at most 768 MiB on a CPU).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

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
    """Map a dtype name to torch: float32 anywhere, bfloat16 anywhere (CPUs compute it
    natively), float16 on an accelerator only."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = DTYPES[str(dtype).lower()]
        except KeyError:
            raise InterpError(
                f"unknown dtype {dtype!r}; choose one of: float32, bfloat16, float16"
            ) from None
    if resolved == torch.float16 and device.type == "cpu":
        raise InterpError(
            f"{dtype} is only supported on a GPU; on CPU use float32, or bfloat16 "
            "(which CPUs compute natively; reductions are taken in float32 either way)."
        )
    return resolved


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


#: a sweep's share of the free memory of its device, and the CPU ceiling: on a CPU larger
#: forwards are no faster (the matrix units are already busy), only bigger
MEMORY_FRACTION = 0.5
CPU_CEILING = 768 * 2**20


def memory_budget(device: str | torch.device | None = None) -> int:
    """The bytes one batched forward of a sweep may use on ``device``.

    A :func:`memory_limit` block, then :func:`set_memory_budget` (``--memory``), then
    ``$INTERP_MEMORY_BUDGET`` (bytes, or with a unit: ``512MiB``, ``8GiB``) override it.
    On CUDA: half of the memory free now (so an 80 GB GPU runs large chunks). On the CPU:
    half of the available RAM, at most 768 MiB.

    >>> 0 < memory_budget("cpu")
    True
    """
    import os

    scoped = _SCOPED.get()
    if scoped is not None:
        return scoped
    if _PROCESS_BUDGET is not None:
        return _PROCESS_BUDGET
    text = os.environ.get("INTERP_MEMORY_BUDGET")
    if text:
        return parse_bytes(text)
    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free * MEMORY_FRACTION)
    available = _available_ram()
    if available is None:
        return CPU_CEILING
    return int(min(CPU_CEILING, available * MEMORY_FRACTION))


_PROCESS_BUDGET: int | None = None
_SCOPED: contextvars.ContextVar[int | None] = contextvars.ContextVar("memory", default=None)


def as_bytes(memory: str | int | None) -> int | None:
    """``None`` (no budget given), a byte count, or a size written ``2GiB`` -> bytes."""
    if memory is None or (isinstance(memory, str) and not memory.strip()):
        return None
    if isinstance(memory, int):
        if memory <= 0:
            raise InterpError(f"a memory budget must be positive; got {memory}")
        return memory
    return parse_bytes(memory)


def set_memory_budget(memory: str | int | None) -> int | None:
    """Set (or with ``None`` clear) the process-wide sweep budget; returns it in bytes.

    >>> set_memory_budget("64MiB") == memory_budget("cpu") == 64 * 2**20
    True
    >>> set_memory_budget(None)
    """
    global _PROCESS_BUDGET
    _PROCESS_BUDGET = as_bytes(memory)
    return _PROCESS_BUDGET


@contextlib.contextmanager
def memory_limit(memory: str | int | None) -> Iterator[None]:
    """Within the block (this thread or task only), sweeps use ``memory``; ``None`` leaves the
    outer budget in force.

    >>> with memory_limit("32MiB"):
    ...     memory_budget("cpu") == 32 * 2**20
    True
    """
    token = _SCOPED.set(as_bytes(memory) if memory is not None else _SCOPED.get())
    try:
        yield
    finally:
        _SCOPED.reset(token)


def parse_bytes(text: str) -> int:
    """``"1536"``, ``"512MiB"``, ``"8GiB"``, ``"2GB"`` -> bytes."""
    units = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3,
             "mb": 10**6, "gb": 10**9}  # fmt: skip
    value = str(text).strip().lower().replace(" ", "")
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number) :]
    try:
        amount = float(number) * units[unit]
    except (KeyError, ValueError):
        message = f"cannot read the memory size {text!r}; write e.g. 512MiB or 8GiB"
        raise InterpError(message) from None
    if amount <= 0:
        raise InterpError(f"a memory budget must be positive; got {text!r}")
    return int(amount)


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
