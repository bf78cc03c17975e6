"""The IOI metric during and after training: IO > S accuracy and the mean logit difference.

Works on any forward function mapping tokens to logits, so the same numbers come from the
plain Hugging Face model while training and from the hooked bridge afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from jaxtyping import Float, Int

from interp.training.data import IOIExample, encode

Forward = Callable[[Int[torch.Tensor, "batch pos"]], Float[torch.Tensor, "batch pos vocab"]]


@torch.no_grad()
def ioi_metrics(
    forward: Forward,
    tokenizer,
    examples: Sequence[IOIExample],
    device: torch.device | str = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """``{"io_over_s": fraction of prompts with logit(IO) > logit(S) at the last token,
    "logit_diff": mean logit(IO) - logit(S), "n": prompts}``.

    >>> from interp.core.reference.tokenizer import build_tokenizer
    >>> from interp.training.data import IOIExample
    >>> tok = build_tokenizer()
    >>> ex = [IOIExample("Then, John and Mary went to the store. John gave a drink to",
    ...                  "Mary", "John", 0, "BABA")]
    >>> vocab = tok.get_vocab()
    >>> def oracle(tokens):  # a "model" that always says Mary
    ...     logits = torch.zeros(*tokens.shape, len(vocab))
    ...     logits[..., vocab["Mary"]] = 2.0
    ...     return logits
    >>> ioi_metrics(oracle, tok, ex)
    {'io_over_s': 1.0, 'logit_diff': 2.0, 'n': 1}
    """
    vocab = tokenizer.get_vocab()
    diffs = []
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        rows = encode(tokenizer, [e.prompt for e in chunk])
        length = max(len(r) for r in rows)
        tokens = torch.full((len(rows), length), pad, dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r)
        ends = torch.tensor([len(r) - 1 for r in rows])
        logits = forward(tokens.to(device)).float().cpu()
        last = logits[torch.arange(len(rows)), ends]
        io = torch.tensor([vocab[e.io] for e in chunk])
        s = torch.tensor([vocab[e.s] for e in chunk])
        diffs.append(last.gather(1, io[:, None])[:, 0] - last.gather(1, s[:, None])[:, 0])
    d = torch.cat(diffs)
    return {
        "io_over_s": float((d > 0).float().mean()),
        "logit_diff": float(d.mean()),
        "n": int(d.numel()),
    }
