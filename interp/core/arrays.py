"""Tensors to numpy for results: floating point always as float32 (numpy has no bfloat16,
and half-precision results are stored and compared in float32), everything else as is."""

from __future__ import annotations

import numpy as np
from torch import Tensor


def to_numpy(tensor: Tensor) -> np.ndarray:
    """``tensor`` on the CPU as a numpy array; bfloat16 / float16 become float32.

    >>> import torch
    >>> to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype
    dtype('float32')
    """
    tensor = tensor.detach()
    if tensor.is_floating_point() and tensor.dtype != np.float64:
        tensor = tensor.float()
    return tensor.cpu().numpy()
