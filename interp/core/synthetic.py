"""GPT-2-shaped models with GPT-2's real tokenizer, for testing a pipeline before (or
without) real weights.

:func:`build_gpt2_shaped` saves a ``GPT2LMHeadModel`` with the shape of GPT-2 small, medium,
large or XL (or fewer layers), GPT-2's 50,257-token BPE vocabulary and tokenizer
(:mod:`interp.core.gpt2_tokenizer`), and random weights that are *perturbed* away from the
trivial: LayerNorm gains and biases are not 1 and 0, so weight processing (folding LN,
centring) and half precision are exercised as on real GPT-2. The result loads like any local
directory (``interp.load(path)``); it has no IOI behaviour, which is what an honest pipeline
must notice.
"""

from __future__ import annotations

from pathlib import Path

from interp.core.errors import InterpError

#: (n_layer, n_head, n_embd) of GPT-2's published sizes
GPT2_SHAPES = {
    "small": (12, 12, 768),
    "medium": (24, 16, 1024),
    "large": (36, 20, 1280),
    "xl": (48, 25, 1600),
}


def build_gpt2_shaped(
    out: str | Path,
    size: str = "small",
    *,
    n_layers: int | None = None,
    d_model: int | None = None,
    n_heads: int | None = None,
    n_ctx: int = 1024,
    seed: int = 0,
    perturb: float = 0.2,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Save a GPT-2-``size``-shaped model with random, perturbed weights and GPT-2's
    tokenizer to ``out``; returns ``out``. ``n_layers`` keeps only that many blocks (for fast
    tests), ``d_model`` / ``n_heads`` a narrower model of GPT-2's vocabulary and architecture
    (d_mlp = 4 d_model, as GPT-2), ``n_ctx`` a shorter context; ``perturb`` is the spread of
    the LayerNorm gains around 1 and of the biases around 0.

    >>> import interp
    >>> path = build_gpt2_shaped("/tmp/gpt2-shaped", n_layers=2)  # doctest: +SKIP
    >>> interp.load(path).cfg.d_vocab  # doctest: +SKIP
    50257
    """
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from interp.core.gpt2_tokenizer import fetch_gpt2_tokenizer

    if size not in GPT2_SHAPES:
        raise InterpError(f"unknown GPT-2 size {size!r}; choose one of {sorted(GPT2_SHAPES)}")
    layers, heads, width = GPT2_SHAPES[size]
    if n_layers is not None:
        if not 1 <= n_layers <= layers:
            raise InterpError(f"n_layers must be 1..{layers} for GPT-2 {size}")
        layers = n_layers
    heads = heads if n_heads is None else n_heads
    width = width if d_model is None else d_model
    if width % heads:
        raise InterpError(f"d_model {width} is not divisible by n_heads {heads}")
    local = None if tokenizer_dir is None else Path(tokenizer_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(fetch_gpt2_tokenizer(local)))
    config = GPT2Config(n_layer=layers, n_head=heads, n_embd=width, n_positions=n_ctx,
                        vocab_size=len(tokenizer))  # fmt: skip
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".weight") and ("ln_" in name):
                param.copy_(1 + perturb * torch.randn(param.shape, generator=generator))
            elif name.endswith(".bias"):
                param.copy_(perturb * torch.randn(param.shape, generator=generator))
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
