"""Metrics during and after training: the IOI metric (IO > S accuracy and the mean logit
difference) and, for text recipes, held-out loss, perplexity and an induction-head probe.

Works on any forward function mapping tokens to logits, so the same numbers come from the
plain Hugging Face model while training and from the hooked bridge afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
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


@torch.no_grad()
def lm_loss(
    forward: Forward,
    windows: Int[torch.Tensor, "n pos"],
    device: torch.device | str = "cpu",
    batch_size: int = 64,
) -> float:
    """Mean next-token cross-entropy (nats) over every position of ``windows`` (each row's
    token ``t+1`` predicted from its tokens ``0..t``).

    >>> uniform = lambda tokens: torch.zeros(*tokens.shape, 8)
    >>> round(lm_loss(uniform, torch.randint(0, 8, (2, 5))), 4) == round(math.log(8), 4)
    True
    """
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        rows = windows[start : start + batch_size].to(device)
        logits = forward(rows).float()[:, :-1]
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), rows[:, 1:].flatten(), reduction="sum"
        )
        total += float(loss)
        count += rows[:, 1:].numel()
    return total / count


def repeated_tokens(
    vocab_size: int, bos: int, seq_len: int, n: int = 8, seed: int = 0
) -> Int[torch.Tensor, "n pos"]:
    """``[BOS, t1..tk, t1..tk]`` rows, the t's distinct random non-BOS tokens (the induction
    probe of Olsson et al. 2022; the same layout as ``interp.methods.attention``)."""
    rng = np.random.default_rng(seed)
    pool = np.array([t for t in range(vocab_size) if t != bos])
    body = torch.from_numpy(np.stack([rng.choice(pool, seq_len, replace=False) for _ in range(n)]))
    return torch.cat([torch.full((n, 1), bos), body, body], 1).long()


@torch.no_grad()
def induction_scores(
    model, tokens: Int[torch.Tensor, "n pos"], device: torch.device | str = "cpu"
) -> Float[torch.Tensor, "layer head"]:
    """Each head's mean attention from a token of the second copy to the token *after* its
    first occurrence (Olsson et al. 2022), on ``tokens`` from :func:`repeated_tokens`, for a
    Hugging Face GPT-2 (its attention is switched to the eager kernel for the call)."""
    k = (tokens.shape[1] - 1) // 2
    implementation = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        attentions = model(tokens.to(device), output_attentions=True).attentions
    finally:
        model.set_attn_implementation(implementation)
    pattern = torch.stack(attentions).float().cpu()  # [layer, n, head, q, k]
    q = torch.arange(k + 1, 2 * k)
    return pattern[..., q, q - k + 1].mean((1, 3))


def text_metrics(
    model,
    windows: Int[torch.Tensor, "n pos"],
    probe: Int[torch.Tensor, "m probe_pos"],
    device: torch.device | str = "cpu",
) -> dict[str, float | str]:
    """``heldout_loss`` / ``heldout_ppl`` on the held-out ``windows`` and the best head's
    induction score on ``probe`` (``induction_max``, ``induction_head`` as "L1H2")."""
    model.eval()
    loss = lm_loss(lambda t: model(t).logits, windows, device)
    scores = induction_scores(model, probe, device)
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return {
        "heldout_loss": loss,
        "heldout_ppl": math.exp(loss),
        "induction_max": float(scores.max()),
        "induction_head": f"L{layer}H{head}",
    }
