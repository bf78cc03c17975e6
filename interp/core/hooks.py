"""Hook-name helpers and context managers shared by every analysis.

Hook names are transformer-lens compatibility-mode names. Shapes at the hook points
(batch, pos, head_index, d_head / d_model / d_mlp):

* ``hook_embed``, ``hook_pos_embed``, ``blocks.{l}.hook_resid_pre|mid|post``: [b, p, d_model]
* ``blocks.{l}.attn.hook_q|k|v|z``: [b, p, n_heads, d_head]
* ``blocks.{l}.attn.hook_pattern``: [b, n_heads, q_pos, k_pos]
* ``blocks.{l}.hook_attn_out``, ``blocks.{l}.hook_mlp_out``: [b, p, d_model]
* ``blocks.{l}.mlp.hook_pre|post``: [b, p, d_mlp]
* ``ln_final.hook_scale``: [b, p, 1]
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator


def resid_name(layer: int, where: str = "pre") -> str:
    return f"blocks.{layer}.hook_resid_{where}"


def head_name(layer: int, what: str = "z") -> str:
    """``what`` in q, k, v, z, pattern, attn_scores, result."""
    return f"blocks.{layer}.attn.hook_{what}"


def mlp_name(layer: int, what: str = "post") -> str:
    """``what`` in pre, post (neuron activations)."""
    return f"blocks.{layer}.mlp.hook_{what}"


def block_out_name(layer: int, what: str) -> str:
    """``what`` in attn_out, mlp_out."""
    return f"blocks.{layer}.hook_{what}"


def names_filter(names: set[str] | list[str]) -> Callable[[str], bool]:
    """Cache only the listed hooks (caching everything costs ~2x a forward pass)."""
    wanted = set(names)
    return lambda name: name in wanted


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence Hugging Face / transformer-lens loading chatter (progress bars, notices)."""
    previous = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    loggers = [logging.getLogger(n) for n in ("transformers", "transformer_lens", "root")]
    levels = [lg.level for lg in loggers]
    from transformers.utils import logging as hf_logging  # a dependency: always there

    hf_logging.disable_progress_bar()
    hf_verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        hf_logging.set_verbosity(hf_verbosity)
        if previous is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = previous
