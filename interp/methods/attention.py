"""Attention-pattern scores: what each head attends to, as evidence for its role.

* :func:`head_scores` — task-free scores on repeated random sequences
  ``[BOS, t1 .. tk, t1 .. tk]`` (Olsson et al. 2022, "In-context learning and induction
  heads"; transformer-lens ``head_detector``): **previous-token** (mean attention from p to
  p−1), **duplicate-token** (from the second copy of a token to its first copy) and
  **induction** (from the second copy of t_i to the token after its first copy, t_{i+1}).
  The caller chooses the token pool: the whole vocabulary for GPT-2; names for
  ``reference:ioi``, whose planted duplicate and induction heads only match names.
* :func:`ioi_attention` — the IOI-specific scores of Wang et al. 2022 on a task's prompts:
  END→IO, END→S1, END→S2 (name movers attend to IO), S2→S1 (duplicate-token), S2→S1+1
  (induction), S1+1→S1 and the mean attention to p−1 over real tokens (previous-token).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.corpus import pack_documents
from interp.core.errors import InterpError
from interp.core.hooks import head_name, names_filter
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


def patterns(
    model: Model, tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "layer batch head q k"]:
    """Every head's attention pattern (one forward, caching only the patterns)."""
    names = [head_name(layer, "pattern") for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names_filter(names))
    return torch.stack([cache[n] for n in names])


@dataclasses.dataclass(frozen=True)
class HeadScores(Result):
    """Previous-token, duplicate-token and induction scores per head (``[layer, head]``)."""

    kind: ClassVar[str] = "head_scores"
    previous_token: np.ndarray
    duplicate_token: np.ndarray
    induction: np.ndarray
    seq_len: int
    n_sequences: int
    pool_size: int

    def scores(self) -> dict[str, np.ndarray]:
        return {
            "previous_token": self.previous_token,
            "duplicate_token": self.duplicate_token,
            "induction": self.induction,
        }

    def top(self, score: str, k: int = 5) -> list[tuple[int, int, float]]:
        """The ``k`` heads with the highest ``score``: (layer, head, value)."""
        values = self.scores()[score]
        flat = np.argsort(values, axis=None)[::-1][:k]
        return [
            (int(i // values.shape[1]), int(i % values.shape[1]), float(values.flat[i]))
            for i in flat
        ]

    def figure(self):
        from interp.figures.attention import head_scores_figure

        return head_scores_figure(self)


def repeated_sequences(
    model: Model,
    pool: Sequence[int] | None = None,
    seq_len: int = 10,
    n_sequences: int = 8,
    seed: int = 0,
) -> Int[Tensor, "n pos"]:
    """``[BOS, t1 .. tk, t1 .. tk]`` with the t's drawn without repetition from ``pool``
    (token ids; the whole vocabulary except BOS when None)."""
    vocab = model.cfg.d_vocab
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None else 0
    pool_ids = np.array(
        [t for t in range(vocab) if t != bos] if pool is None else list(pool), dtype=np.int64
    )
    if seq_len < 2:
        raise InterpError("seq_len must be at least 2")
    if len(pool_ids) < seq_len:
        raise InterpError(f"the token pool has {len(pool_ids)} tokens; need at least {seq_len}")
    if 2 * seq_len + 1 > model.cfg.n_ctx:
        raise InterpError(f"2 * seq_len + 1 must fit the context window ({model.cfg.n_ctx})")
    rng = np.random.default_rng(seed)
    rows = [rng.choice(pool_ids, seq_len, replace=False) for _ in range(n_sequences)]
    body = torch.tensor(np.stack(rows))
    first = torch.full((n_sequences, 1), int(bos or 0))
    return torch.cat([first, body, body], 1).to(model.cfg.device)


def repeated_text(
    model: Model, documents: Sequence[str], seq_len: int = 40, n_sequences: int = 16, seed: int = 0
) -> Int[Tensor, "n pos"]:
    """``[BOS, s, s]`` rows, each ``s`` ``seq_len`` consecutive tokens of ``documents``
    (tokenised as one stream, documents separated by BOS) from a seeded offset: the
    natural-text counterpart of :func:`repeated_sequences` for :func:`head_scores` (a head
    that copies text may still fail on arbitrary token strings).

    >>> from interp.core.models import load
    >>> rows = repeated_text(load("reference:recall"), ["the cat sat on the mat"] * 9, 5, 2)
    >>> rows.shape, bool((rows[:, 1:6] == rows[:, 6:]).all())
    (torch.Size([2, 11]), True)
    """
    tok = model.tokenizer
    if tok is None:
        raise InterpError("repeated_text needs the model's tokenizer")
    tokens = pack_documents(tok, documents)  # a clear error when there is no BOS
    bos = int(tok.bos_token_id)
    if len(tokens) <= seq_len:
        raise InterpError(f"the text has {len(tokens)} tokens; need more than seq_len {seq_len}")
    if 2 * seq_len + 1 > model.cfg.n_ctx:
        raise InterpError(f"2 * seq_len + 1 must fit the context window ({model.cfg.n_ctx})")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(tokens) - seq_len, n_sequences)
    body = torch.from_numpy(np.stack([tokens[i : i + seq_len] for i in starts]))
    return torch.cat([torch.full((n_sequences, 1), bos), body, body], 1).to(model.cfg.device)


def head_scores(
    model: Model,
    tokens: Int[Tensor, "n pos"] | None = None,
    pool: Sequence[int] | None = None,
    seq_len: int = 10,
    n_sequences: int = 8,
    seed: int = 0,
) -> HeadScores:
    """Scores on repeated random sequences (``tokens`` from :func:`repeated_sequences`, or
    generated from ``pool``): per ``[layer, head]`` the mean attention to the previous
    token, to the earlier copy of the token (duplicate) and to the token after the earlier
    copy (induction; Olsson et al. 2022's prefix-matching score).

    ``trained:text`` grew an induction head, 1.2, reading the previous-token head 0.3:

    >>> from interp import load
    >>> scores = head_scores(load("trained:text"))
    >>> scores.induction.round(2)
    array([[0.04, 0.05, 0.05, 0.  ],
           [0.07, 0.03, 0.64, 0.08]], dtype=float32)
    >>> round(float(scores.previous_token[0, 3]), 2)
    0.95
    """
    if int(getattr(model.cfg, "n_heads", 0) or 0) <= 0:
        raise InterpError("this model has no attention heads to score")
    if tokens is None:
        tokens = repeated_sequences(model, pool, seq_len, n_sequences, seed)
    n, length = tokens.shape
    k = (length - 1) // 2
    if length != 2 * k + 1 or not torch.equal(tokens[:, 1 : k + 1], tokens[:, k + 1 :]):
        raise InterpError("tokens must be [BOS, t1..tk, t1..tk] (see repeated_sequences)")
    pat = patterns(model, tokens)  # [layer, batch, head, q, k]
    q = torch.arange(2, length)
    previous = pat[..., q, q - 1].mean((1, 3))
    second = torch.arange(k + 1, 2 * k + 1)  # positions of the second copy
    duplicate = pat[..., second, second - k].mean((1, 3))
    ind_q = second[:-1]
    induction = pat[..., ind_q, ind_q - k + 1].mean((1, 3))
    pool_size = model.cfg.d_vocab - 1 if pool is None else len(pool)
    return HeadScores(
        previous_token=to_numpy(previous),
        duplicate_token=to_numpy(duplicate),
        induction=to_numpy(induction),
        seq_len=k,
        n_sequences=n,
        pool_size=pool_size,
    )


@dataclasses.dataclass(frozen=True)
class IOIAttention(Result):
    """Mean attention between the IOI positions, per head (``[layer, head]`` each)."""

    kind: ClassVar[str] = "ioi_attention"
    end_to_io: np.ndarray
    end_to_s1: np.ndarray
    end_to_s2: np.ndarray
    s2_to_s1: np.ndarray  # duplicate-token
    s2_to_s1_plus_1: np.ndarray  # induction
    s1_plus_1_to_s1: np.ndarray  # previous-token at S1+1
    previous_token: np.ndarray  # mean attention p -> p-1 over real tokens (p >= 2)
    n_prompts: int

    def figure(self):
        from interp.figures.attention import ioi_attention_figure

        return ioi_attention_figure(self)


def ioi_attention(model: Model, task) -> IOIAttention:
    """The IOI attention scores on ``task``'s clean prompts."""
    pat = patterns(model, task.clean_tokens)  # [layer, batch, head, q, k]
    b = torch.arange(task.n_prompts, device=pat.device)
    pos = {k: v.to(pat.device) for k, v in task.positions.items()}

    by_prompt = pat.permute(1, 0, 2, 3, 4)  # [batch, layer, head, q, k]

    def between(q: str, k: str) -> np.ndarray:
        # advanced indices split by slices: the batch axis comes first -> [batch, layer, head]
        return to_numpy(by_prompt[b, :, :, pos[q], pos[k]].mean(0))

    length = pat.shape[-1]
    qs = torch.arange(2, length, device=pat.device)
    prev = pat[..., qs, qs - 1]  # [layer, batch, head, q]
    real = (qs[None, :] <= pos["END"][:, None]).float()  # [batch, q]
    prev = (prev * real[None, :, None]).sum((1, 3)) / real.sum()
    return IOIAttention(
        end_to_io=between("END", "IO"),
        end_to_s1=between("END", "S1"),
        end_to_s2=between("END", "S2"),
        s2_to_s1=between("S2", "S1"),
        s2_to_s1_plus_1=between("S2", "S1+1"),
        s1_plus_1_to_s1=between("S1+1", "S1"),
        previous_token=to_numpy(prev),
        n_prompts=task.n_prompts,
    )
