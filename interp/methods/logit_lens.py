"""The logit lens: read the residual stream as if the model stopped there.

nostalgebraist (2020, "interpreting GPT: the logit lens") decoded every layer's residual
stream with the model's own final LayerNorm and unembedding, and saw the prediction form
layer by layer; Merullo et al. (2023) use it to watch " Poland" become " Warsaw" at one FFN
layer. This module decodes, at every position, any of

* ``embed`` (the token + position embedding, = ``resid_pre`` of layer 0),
* ``resid_pre`` / ``resid_mid`` / ``resid_post`` of every layer,
* each sublayer's output (``attn_out``, ``mlp_out``) on its own,

into top-k tokens with probabilities, and the logit, probability and rank (1 = top) of chosen
target tokens across layers.

**LayerNorm treatment (explicit, and recorded in every result).** The final LayerNorm is
recomputed on each decoded vector from that vector's own mean and variance:
``logits = ((x - mean(x)) / sqrt(var(x) + eps)) * w_ln + b_ln) @ W_U + b_U``, with
``w_ln, b_ln`` the final LN's weights when they are not folded into ``W_U`` (with the default
weight processing, ``fold_ln``, they are 1 and 0). Reusing the full forward pass's cached
final-LN scale at every layer was a long-standing bug (TransformerLens issue #1076): earlier
layers' residuals have different norms, so their probabilities came out wrong. The model's
weight processing (``fold_ln``, ``center_unembed``, ...) changes logits (not probabilities
or ranks, for ``center_unembed``) and is stored with the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError
from interp.core.hooks import block_out_name, names_filter, resid_name
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


#: sites in forward-pass order within a layer
SITES = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")
DEFAULT_SITES = ("embed", "resid_mid", "resid_post")
LN_TREATMENT = (
    "final LayerNorm recomputed on each decoded vector (its own mean and variance, "
    "eps from the model config), then the final LN weight and bias unless folded, then W_U, b_U"
)


def stream_names(n_layers: int, sites: Sequence[str] = DEFAULT_SITES) -> list[str]:
    """Labels of the decoded vectors, in forward order: ``embed``, ``L0.resid_mid``, ..."""
    unknown = set(sites) - set(SITES) - {"embed"}
    if unknown or not sites:
        raise InterpError(
            f"unknown logit-lens site(s) {sorted(unknown)}; choose from embed, {', '.join(SITES)}"
        )
    names = ["embed"] if "embed" in sites else []
    for layer in range(n_layers):
        names += [f"L{layer}.{site}" for site in SITES if site in sites]
    return names


def hook_of(stream: str) -> str:
    """The hook point whose activation a stream label decodes."""
    if stream == "embed":
        return resid_name(0, "pre")
    layer, site = stream[1:].split(".")
    if site.startswith("resid_"):
        return resid_name(int(layer), site[len("resid_") :])
    return block_out_name(int(layer), site)


def layer_of(stream: str) -> int:
    """Layer index of a stream label (``embed`` is -1)."""
    return -1 if stream == "embed" else int(stream[1:].split(".")[0])


def decode(model: Model, resid: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_vocab"]:
    """Final LayerNorm (recomputed on ``resid`` itself) and unembedding.

    The LayerNorm's mean and variance are taken in float32 whatever the model's dtype:
    GPT-2's residual stream has entries in the thousands, whose squares overflow float16
    (every logit would come out equal). The normalised vector is then cast back for the
    unembedding, and the logits are returned in float32."""
    resid32 = resid.float()
    centred = resid32 - resid32.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    ln = getattr(model, "ln_final", None)
    w, b = getattr(ln, "w", None), getattr(ln, "b", None)
    if w is not None:
        normed = normed * w.float()
    if b is not None:
        normed = normed + b.float()
    return (normed.to(model.W_U.dtype) @ model.W_U).float() + model.b_U.float()


@torch.no_grad()
def collect(
    model: Model,
    tokens: Int[Tensor, "batch pos"],
    streams: Sequence[str],
    positions: Sequence[int] | None = None,
) -> Float[Tensor, "stream batch kept d_model"]:
    """The vectors the streams name, from one forward pass (caching only those hooks), at
    ``positions`` (``kept`` of them; every position when None)."""
    hooks = [hook_of(s) for s in streams]
    _, cache = model.run_with_cache(tokens, names_filter=names_filter(hooks))
    out = torch.stack([cache[h] for h in hooks])
    return out if positions is None else out[:, :, list(positions)]


def _chunk(rows: int, vocab: int, budget: int = 2**25) -> int:
    """How many streams to decode at once so that ``[chunk, rows, vocab]`` logits stay within
    ``budget`` numbers (a 50k vocabulary times many positions must not fill memory)."""
    return max(1, budget // max(1, rows * vocab))


@torch.no_grad()
def track(
    model: Model,
    resid: Float[Tensor, "stream batch d_model"],
    token_ids: Int[Tensor, "batch t"],
) -> dict[str, Tensor]:
    """Per-row targets: logit, probability and rank (1 = top) of ``token_ids[b]`` in every
    stream (``logit``/``prob``/``rank``: [stream, batch, t]) and the top-1 token (``top1``:
    [stream, batch])."""
    parts: dict[str, list[Tensor]] = {"logit": [], "prob": [], "rank": [], "top1": []}
    ids = token_ids.to(resid.device)
    chunk = _chunk(resid.shape[1], model.cfg.d_vocab)
    for start in range(0, resid.shape[0], chunk):
        logits = decode(model, resid[start : start + chunk])  # [s, batch, vocab]
        chosen = logits.gather(-1, ids.expand(logits.shape[0], *ids.shape))  # [s, batch, t]
        parts["logit"].append(chosen)
        parts["prob"].append(logits.softmax(-1).gather(-1, ids.expand_as(chosen)))
        ranks = [1 + (logits > chosen[..., j : j + 1]).sum(-1) for j in range(ids.shape[1])]
        parts["rank"].append(torch.stack(ranks, -1))
        parts["top1"].append(logits.argmax(-1))
    return {k: torch.cat(v) for k, v in parts.items()}


@dataclasses.dataclass(frozen=True)
class LogitLensResult(Result):
    """Top-k tokens of every decoded stream at every position, and the chosen targets."""

    kind: ClassVar[str] = "logit_lens"

    model_name: str
    weight_processing: dict[str, bool]
    ln_treatment: str
    prompts: list[str]
    str_tokens: list[list[str]]  # [batch][pos] input tokens
    streams: list[str]
    positions: list[int]  # decoded positions (indices into the prompt's tokens)
    top_ids: np.ndarray  # [batch, stream, pos, k]
    top_probs: np.ndarray  # [batch, stream, pos, k]
    token_strings: dict[str, str]  # id -> text, for every id in top_ids and target_ids
    targets: list[str]
    target_ids: np.ndarray  # [t]
    target_logits: np.ndarray  # [batch, stream, pos, t]
    target_probs: np.ndarray  # [batch, stream, pos, t]
    target_ranks: np.ndarray  # [batch, stream, pos, t]; 1 = top token

    def token(self, token_id: int | np.integer) -> str:
        return self.token_strings[str(int(token_id))]

    def top_tokens(self, batch: int = 0, rank: int = 0) -> list[list[str]]:
        """[stream][pos] text of the rank-th top token (0 = top-1)."""
        ids = self.top_ids[batch, :, :, rank]
        return [[self.token(i) for i in row] for row in ids]

    def column(self, position: int) -> int:
        """Index into the decoded positions of a prompt position (negative counts from the end
        of the prompt)."""
        n = len(self.str_tokens[0])
        wanted = position % n
        if wanted not in self.positions:
            raise InterpError(f"position {position} was not decoded; decoded {self.positions}")
        return self.positions.index(wanted)

    def first_stream(self, token: str, batch: int = 0, position: int = -1) -> str | None:
        """The first stream whose top-1 at ``position`` is ``token`` (None if never)."""
        col = self.column(position)
        for name, tok in zip(self.streams, self.top_tokens(batch)):
            if tok[col].strip() == token.strip():
                return name
        return None

    def figure(self, batch: int = 0):
        from interp.figures.lens import heatmap

        return heatmap(self, batch=batch)

    def trajectory_figure(self, batch: int = 0, position: int = -1, metric: str = "prob"):
        from interp.figures.lens import trajectory

        return trajectory(self, batch=batch, position=position, metric=metric)


def _tokens(model: Model, prompts: str | Sequence[str] | Tensor) -> tuple[Tensor, list[str]]:
    from interp.core.tokens import to_tokens

    if isinstance(prompts, Tensor):
        tokens = prompts if prompts.ndim == 2 else prompts[None]
        bos = model.tokenizer.bos_token_id  # decoded without BOS, when the row starts with it
        texts = [
            model.tokenizer.decode(row[1:] if row[0] == bos else row) for row in tokens.tolist()
        ]
        return tokens.to(model.cfg.device), texts
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    return to_tokens(model, texts), texts


def target_ids(model: Model, targets: Sequence[str | int]) -> list[int]:
    """Token ids of target words (``" Warsaw"`` or ``"Warsaw"``; GPT-2 needs one BPE token)."""
    from interp.core.tokens import single_token_id

    out = []
    for t in targets:
        if isinstance(t, int):
            if not 0 <= t < model.cfg.d_vocab:
                raise InterpError(
                    f"token id {t} is outside the vocabulary (0..{model.cfg.d_vocab - 1})"
                )
            out.append(t)
        else:
            out.append(single_token_id(model, t))
    return out


@torch.no_grad()
def logit_lens(
    model: Model,
    prompts: str | Sequence[str] | Int[Tensor, "batch pos"],
    *,
    sites: Sequence[str] = DEFAULT_SITES,
    targets: Sequence[str | int] = (),
    k: int = 5,
    positions: Sequence[int] | None = None,
) -> LogitLensResult:
    """Decode ``sites`` of every layer at ``positions`` (default: all) of each prompt.

    nostalgebraist 2020's logit lens, with the final LayerNorm recomputed on each decoded
    vector (module docstring). On ``reference:recall`` the subject is the top token from the
    mover head's layer on and the capital from the planted FFN's layer (Merullo et al. 2023's
    Poland -> Warsaw):

    >>> from interp import load
    >>> model = load("reference:recall")
    >>> prompt = "Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:"
    >>> lens = logit_lens(model, prompt, targets=[" Warsaw"])
    >>> lens.first_stream("Poland"), lens.first_stream("Warsaw")  # top-1 at the last position
    ('L1.resid_mid', 'L5.resid_post')
    >>> lens.target_probs.shape  # [prompt, stream, position, target]
    (1, 17, 24, 1)
    """
    from interp.core.models import record_of

    if k < 1:
        raise InterpError("k must be at least 1")
    tokens, texts = _tokens(model, prompts)
    n_pos = tokens.shape[1]
    if positions is None:
        positions = list(range(n_pos))
    else:
        for p in positions:
            if not -n_pos <= p < n_pos:
                raise InterpError(f"position {p} is outside the prompt ({n_pos} tokens with BOS)")
        positions = [p % n_pos for p in positions]
    streams = stream_names(model.cfg.n_layers, sites)
    ids = target_ids(model, targets)
    resid = collect(model, tokens, streams, positions)  # [stream, batch, pos, d]
    top_ids, top_probs, t_logits, t_probs, t_ranks = [], [], [], [], []
    target = torch.tensor(ids, dtype=torch.long, device=resid.device)
    chunk = _chunk(resid.shape[1] * resid.shape[2], model.cfg.d_vocab)
    for start in range(0, len(streams), chunk):
        logits = decode(model, resid[start : start + chunk])  # [s, batch, pos, vocab]
        probs = logits.softmax(-1)
        top_p, top_i = probs.topk(k, dim=-1)
        top_ids.append(top_i)
        top_probs.append(top_p)
        if ids:
            chosen = logits[..., target]  # [s, batch, pos, t]
            t_logits.append(chosen)
            t_probs.append(probs[..., target])
            ranks = [1 + (logits > chosen[..., j : j + 1]).sum(-1) for j in range(len(ids))]
            t_ranks.append(torch.stack(ranks, -1))

    def cat(parts, shape_tail) -> np.ndarray:
        if not parts:
            return np.zeros((tokens.shape[0], len(streams), len(positions), *shape_tail))
        return to_numpy(torch.cat(parts).transpose(0, 1))

    top = cat(top_ids, (k,)).astype(np.int64)
    seen = set(np.unique(top).tolist()) | set(ids)
    record = record_of(model)
    return LogitLensResult(
        model_name=record.name,
        weight_processing=dict(record.weight_processing),
        ln_treatment=LN_TREATMENT,
        prompts=texts,
        str_tokens=[[str(t) for t in model.to_str_tokens(row)] for row in tokens],
        streams=streams,
        positions=list(positions),
        top_ids=top,
        top_probs=cat(top_probs, (k,)).astype(np.float32),
        token_strings={str(i): model.tokenizer.decode([i]) for i in sorted(seen)},
        targets=[str(t) for t in targets],
        target_ids=np.asarray(ids, dtype=np.int64),
        target_logits=cat(t_logits, (0,)).astype(np.float32),
        target_probs=cat(t_probs, (0,)).astype(np.float32),
        target_ranks=cat(t_ranks, (0,)).astype(np.int64),
    )


def summary_rows(
    result: LogitLensResult, batch: int = 0, position: int = -1
) -> list[dict[str, Any]]:
    """One row per stream at ``position``: top-k (token, prob) and each target's rank/prob."""
    col = result.column(position)
    rows = []
    for s, name in enumerate(result.streams):
        row: dict[str, Any] = {
            "stream": name,
            "top": [
                (
                    result.token(result.top_ids[batch, s, col, j]),
                    float(result.top_probs[batch, s, col, j]),
                )
                for j in range(result.top_ids.shape[-1])
            ],
        }
        for t, target in enumerate(result.targets):
            row[target] = (
                int(result.target_ranks[batch, s, col, t]),
                float(result.target_probs[batch, s, col, t]),
            )
        rows.append(row)
    return rows


def format_table(result: LogitLensResult, batch: int = 0, position: int = -1) -> str:
    """A plain-text table: stream | top-k tokens (probability) | target rank (probability)."""
    rows = summary_rows(result, batch, position)
    k = result.top_ids.shape[-1]
    header = ["stream"] + [f"top-{j + 1}" for j in range(k)] + [repr(t) for t in result.targets]
    body = []
    for row in rows:
        cells = [row["stream"]] + [f"{tok!r} {p:.3f}" for tok, p in row["top"]]
        cells += [f"#{r} {p:.3f}" for r, p in (row[t] for t in result.targets)]
        body.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    tok = result.str_tokens[batch][result.positions[result.column(position)]]
    title = f"logit lens at position {result.positions[result.column(position)]} ({tok!r})"
    return "\n".join(
        [title, line(header), line(["-" * w for w in widths])] + [line(c) for c in body]
    )
