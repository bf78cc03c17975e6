"""Word vectors: nearest neighbours, analogies and a 2-D map, in the embedding or at any layer.

A **space** is a set of vectors, one per token id of the vocabulary:

* ``"W_E"`` — the input embedding (a row of ``W_E``); ``"W_U"`` — the unembedding (a column
  of ``W_U``), as in :mod:`interp.methods.arithmetic`;
* ``layer`` (an int, ``0 .. n_layers``) — the **residual stream**: layer 0 is the token
  embedding alone (``hook_embed``, without the position embedding, so it does not depend on
  where the word stands) and layer ``l >= 1`` is the residual stream after block ``l - 1``
  (``blocks.{l-1}.hook_resid_post``, before the final LayerNorm). A vocabulary token's vector
  at a layer is its residual when it is run **alone after BOS** (``[BOS, token]``, read at
  position 1): all ``d_vocab`` tokens in batches, cached per model and layer
  (:func:`vocabulary_vectors`). A word's vector can instead be read **in a context** (at the
  word's last token in a sentence) and compared with that vocabulary.

Nearest neighbours are by cosine similarity; special tokens (BOS/EOS, ``<unk>``) are never
neighbours. Analogies follow Mikolov et al. 2013 (*Linguistic regularities in continuous
space word representations*): "big is to biggest as small is to ?" is answered by the token
nearest to ``biggest - big + small``, **excluding the three input words** (otherwise ``small``
itself usually wins); the expected answer's rank is counted among the remaining tokens.

>>> from interp.core.models import load
>>> model = load("reference:recall")
>>> analogy(model, "biggest", "big", "small", expected="smallest").expected_rank
1
>>> neighbours(model, "Paris", k=3).tokens  # the planted capitals are unrelated vectors
['Helsinki', 'Lima', 'Caracas']
>>> at_2 = neighbours(model, "Paris", space=2, context="Q: What is the capital of Paris? A:")
>>> at_2.tokens[0], round(at_2.self_cosine, 3)  # the question leaves Paris unchanged here
('Paris', 1.0)

Words are single tokens (:func:`word_id`): a word the vocabulary splits or does not know is
an :class:`~interp.core.errors.TokenizationError` that names it and shows its pieces.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError, TokenizationError
from interp.core.hooks import names_filter, resid_name
from interp.methods.arithmetic import cosine_nearest, embedding_matrix
from interp.results.base import Result

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.core.models import Model

#: a space: "W_E", "W_U" or a residual layer 0 .. n_layers
Space = str | int
#: tokens per forward when running the whole vocabulary
VOCAB_BATCH = 2048
_CACHE: weakref.WeakKeyDictionary[Any, dict[int, Tensor]] = weakref.WeakKeyDictionary()
_CACHE_LAYERS = 4  # residual layers kept per model (a GPT-2 layer is 50257 x 768 floats)


# -- spaces and words -------------------------------------------------------------------------
def check_space(model: Model, space: Space) -> Space:
    """``space`` validated: ``"W_E"``, ``"W_U"`` or an int layer in ``0 .. n_layers``."""
    if isinstance(space, str):
        if space in ("W_E", "W_U"):
            return space
        if space.lstrip("-").isdigit():
            space = int(space)
        else:
            raise InterpError(f"unknown space {space!r}; choose W_E, W_U or a layer number")
    n = model.cfg.n_layers
    if not 0 <= int(space) <= n:
        raise InterpError(
            f"layer {space} is out of range: 0 (token embedding) .. {n} (after the last block)"
        )
    return int(space)


def space_label(space: Space) -> str:
    """How a space is written on figures: ``W_E``, ``W_U``, ``layer 0 (embedding)``,
    ``layer 3 (after block 2)``."""
    if isinstance(space, str):
        return space
    return "layer 0 (token embedding)" if space == 0 else f"layer {space} (after block {space - 1})"


def layer_hook(layer: int) -> str:
    """The hook whose output is residual layer ``layer`` (0: ``hook_embed``)."""
    return "hook_embed" if layer == 0 else resid_name(layer - 1, "post")


def word_id(model: Model, word: str) -> int:
    """The one token of ``word`` (after a space, as GPT-2 writes words inside a sentence), or
    a :class:`TokenizationError` naming the word and how the tokenizer splits it."""
    from interp.core.tokens import single_token_id

    try:
        return single_token_id(model, word)
    except TokenizationError as err:
        raise TokenizationError(
            f"{err} Word vectors are rows of the vocabulary, so each word must be one token; "
            "try another word or another form of it."
        ) from None


def special_ids(model: Model) -> list[int]:
    """Token ids that are never neighbours: BOS, EOS, pad, ``<unk>``."""
    tok = model.tokenizer
    ids = set(getattr(tok, "all_special_ids", []) or [])
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        value = getattr(tok, name, None)
        if value is not None:
            ids.add(int(value))
    return sorted(i for i in ids if 0 <= i < model.cfg.d_vocab)


def _bos(model: Model) -> int:
    bos = getattr(model.tokenizer, "bos_token_id", None)
    return int(bos) if bos is not None else 0


# -- residual vectors -------------------------------------------------------------------------
@torch.no_grad()
def residuals(
    model: Model,
    tokens: Int[Tensor, "batch pos"],
    positions: Int[Tensor, " batch"],
    layers: Sequence[int],
) -> Float[Tensor, "batch layer d_model"]:
    """The residual stream of each row at its position, at each layer (see the module
    docstring for what a layer is), in float32; one forward caching only those hooks."""
    names = [layer_hook(int(layer)) for layer in layers]
    _, cache = model.run_with_cache(tokens, names_filter=names_filter(names))
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    at = positions.to(tokens.device)
    return torch.stack([cache[n][rows, at].float() for n in names], 1)


def vocabulary_vectors(model: Model, space: Space) -> Float[Tensor, "vocab d_model"]:
    """One vector per token id in ``space``: ``W_E`` / ``W_U`` rows, or every token's residual
    at a layer when run alone after BOS (``[BOS, token]``, batched; cached per model and
    layer, so the second call is free; the model is never changed by the analyses)."""
    space = check_space(model, space)
    if isinstance(space, str):
        return embedding_matrix(model, space).float()
    per_model = _CACHE.setdefault(model, {})
    if space not in per_model:
        vocab = model.cfg.d_vocab
        device = model.cfg.device
        bos = _bos(model)
        out = []
        for start in range(0, vocab, VOCAB_BATCH):
            ids = torch.arange(start, min(vocab, start + VOCAB_BATCH), device=device)
            tokens = torch.stack([torch.full_like(ids, bos), ids], 1)
            ones = torch.ones(len(ids), dtype=torch.long, device=device)
            out.append(residuals(model, tokens, ones, [space])[:, 0])
        while len(per_model) >= _CACHE_LAYERS:
            per_model.pop(next(iter(per_model)))
        per_model[space] = torch.cat(out)
    return per_model[space]


def find_word(model: Model, context: str, word: str) -> tuple[Int[Tensor, " pos"], int]:
    """The context's tokens (with BOS) and the position of ``word``'s **last** token in it
    (a word split into several tokens is read where its last piece is; the word must occur
    once, after a space or at the start)."""
    from interp.core.tokens import to_tokens

    tokens = to_tokens(model, context)[0]
    found = []
    for text in (" " + word.strip(), word.strip()):
        piece = model.tokenizer(text, add_special_tokens=False)["input_ids"]
        n = len(piece)
        if n == 0:
            continue
        ids = tokens.tolist()
        found = [i + n - 1 for i in range(len(ids) - n + 1) if ids[i : i + n] == piece]
        if found:
            break
    if len(found) != 1:
        pieces = model.tokenizer.convert_ids_to_tokens(
            model.tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
        )
        how = "does not occur" if not found else f"occurs {len(found)} times"
        raise InterpError(
            f"{word!r} (tokens {pieces}) {how} in the context {context!r}; give a context "
            "that contains the word once"
        )
    return tokens, found[0]


def context_vectors(
    model: Model, contexts: Sequence[str], words: Sequence[str], layers: Sequence[int]
) -> Float[Tensor, "n layer d_model"]:
    """The residual of ``words[i]`` (its last token) in ``contexts[i]`` at every layer in
    ``layers``: the contexts right-padded into one batch (causal attention: padding after a
    position never changes it)."""
    if len(contexts) != len(words) or not contexts:
        raise InterpError("give one word per context (and at least one context)")
    found = [find_word(model, c, w) for c, w in zip(contexts, words)]
    length = max(len(t) for t, _ in found)
    pad = _bos(model)
    batch = torch.full((len(found), length), pad, dtype=torch.long, device=model.cfg.device)
    for i, (toks, _) in enumerate(found):
        batch[i, : len(toks)] = toks
    positions = torch.tensor([p for _, p in found], device=model.cfg.device)
    return residuals(model, batch, positions, [int(layer) for layer in layers])


def word_vectors(
    model: Model, words: Sequence[str], space: Space = "W_E"
) -> Float[Tensor, "n d_model"]:
    """Each word's vector in ``space`` (alone after BOS for a residual layer)."""
    ids = [word_id(model, w) for w in words]
    return vocabulary_vectors(model, space)[torch.tensor(ids, device=model.cfg.device)]


def _model_name(model: Model) -> str:
    from interp.core.models import record_of

    return record_of(model).name


def _tokens(model: Model, ids: Sequence[int]) -> list[str]:
    from interp.core.tokens import token_str

    return [token_str(model, i) for i in ids]


# -- nearest neighbours -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WordNeighbours(Result):
    """The ``k`` tokens nearest to one word's vector in a space (cosine, best first)."""

    kind: ClassVar[str] = "word_neighbours"
    model_name: str
    word: str
    space: str  # space_label(...)
    context: str  # "" when the word is read alone
    tokens: list[str]
    token_ids: np.ndarray  # [k]
    cosines: np.ndarray  # [k]
    self_cosine: float  # with the word's own vocabulary vector (1 when read alone)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"rank": i + 1, "token": t, "cosine": round(float(c), 4)}
            for i, (t, c) in enumerate(zip(self.tokens, self.cosines))
        ]

    def figure(self) -> go.Figure:
        from interp.figures.words import neighbours_figure

        return neighbours_figure(self)


@torch.no_grad()
def neighbours(
    model: Model, word: str, space: Space = "W_E", k: int = 10, context: str | None = None
) -> WordNeighbours:
    """The ``k`` vocabulary tokens whose vectors in ``space`` are nearest (cosine) to
    ``word``'s. Alone (``context=None``) the word's own vector is the query and the word is
    left out of the answer; with a ``context`` (a residual layer only) the query is the word's
    residual in that sentence, compared with every token's context-free residual, and the
    word itself may appear (``self_cosine`` says how close it stays).

    >>> from interp.core.models import load
    >>> neighbours(load("reference:recall"), "Paris", k=3).tokens
    ['Helsinki', 'Lima', 'Caracas']
    """
    space = check_space(model, space)
    wid = word_id(model, word)
    vocab = vocabulary_vectors(model, space)
    if context:
        if isinstance(space, str):
            raise InterpError("a context applies to a residual layer, not to W_E or W_U")
        query = context_vectors(model, [context], [word], [space])[:, 0]
    else:
        query = vocab[wid][None]
    exclude = special_ids(model) + ([] if context else [wid])
    k = max(1, min(int(k), model.cfg.d_vocab - len(exclude)))
    cos, top_ids, top_cos = cosine_nearest(query, vocab, [exclude], k)
    own = torch.nn.functional.cosine_similarity(query[0], vocab[wid], dim=0)
    return WordNeighbours(
        model_name=_model_name(model),
        word=word.strip(),
        space=space_label(space),
        context=context or "",
        tokens=_tokens(model, top_ids[0].tolist()),
        token_ids=to_numpy(top_ids[0]),
        cosines=to_numpy(top_cos[0]),
        self_cosine=float(own),
    )


# -- analogies --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WordAnalogy(Result):
    """``a - b + c``: the nearest tokens (inputs excluded) and the expected answer's rank."""

    kind: ClassVar[str] = "word_analogy"
    model_name: str
    space: str
    words: list[str]  # [a, b, c]
    expected: str  # "" when none was given
    tokens: list[str]  # top-k, best first
    cosines: np.ndarray  # [k]
    expected_rank: int | None  # 1 = nearest (inputs and special tokens excluded)
    expected_cosine: float | None

    @property
    def question(self) -> str:
        a, b, c = self.words
        return f"{b} : {a} :: {c} : ?"

    def figure(self) -> go.Figure:
        from interp.figures.words import analogy_figure

        return analogy_figure(self)


@torch.no_grad()
def analogy(
    model: Model,
    a: str,
    b: str,
    c: str,
    expected: str | None = None,
    space: Space = "W_E",
    k: int = 10,
) -> WordAnalogy:
    """Mikolov et al. 2013's vector offset: the tokens nearest by cosine to
    ``v(a) - v(b) + v(c)`` in ``space``, the three inputs excluded. "big : biggest ::
    small : ?" is ``analogy(model, "biggest", "big", "small", expected="smallest")``.

    >>> from interp.core.models import load
    >>> r = analogy(load("reference:recall"), "biggest", "big", "small", "smallest")
    >>> r.tokens[0], r.expected_rank
    ('smallest', 1)
    """
    space = check_space(model, space)
    ids = [word_id(model, w) for w in (a, b, c)]
    vocab = vocabulary_vectors(model, space)
    query = (vocab[ids[0]] - vocab[ids[1]] + vocab[ids[2]])[None]
    exclude = sorted(set(ids) | set(special_ids(model)))
    k = max(1, min(int(k), model.cfg.d_vocab - len(exclude)))
    cos, top_ids, top_cos = cosine_nearest(query, vocab, [exclude], k)
    rank = exp_cos = None
    if expected:
        eid = word_id(model, expected)
        if eid in ids:
            raise InterpError(
                f"the expected answer {expected!r} is one of the inputs, which are excluded"
            )
        exp_cos = float(cos[0, eid])
        rank = int(1 + (cos[0] > cos[0, eid]).sum())
    return WordAnalogy(
        model_name=_model_name(model),
        space=space_label(space),
        words=[a.strip(), b.strip(), c.strip()],
        expected=(expected or "").strip(),
        tokens=_tokens(model, top_ids[0].tolist()),
        cosines=to_numpy(top_cos[0]),
        expected_rank=rank,
        expected_cosine=exp_cos,
    )


# -- a 2-D map --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WordProjection(Result):
    """Chosen words projected on the first two principal components of their vectors."""

    kind: ClassVar[str] = "word_projection"
    model_name: str
    space: str
    words: list[str]
    groups: list[str]  # one label per word ("" when ungrouped)
    coords: np.ndarray  # [word, 2]
    explained: np.ndarray  # [2] fraction of the variance along each component

    def figure(self) -> go.Figure:
        from interp.figures.words import projection_figure

        return projection_figure(self)


def pca_2d(
    vectors: Float[np.ndarray, "n d"],
) -> tuple[Float[np.ndarray, "n 2"], Float[np.ndarray, " 2"]]:
    """Coordinates on the first two principal components (float64 SVD of the centred
    vectors; each component's sign fixed so its largest |coordinate| is positive) and the
    fraction of the variance each explains."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(0, keepdims=True)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    coords = np.zeros((len(x), 2))
    m = min(2, len(s))
    coords[:, :m] = u[:, :m] * s[:m]
    for j in range(m):
        if coords[np.argmax(np.abs(coords[:, j])), j] < 0:
            coords[:, j] *= -1
    total = float((s**2).sum())
    explained = np.zeros(2)
    explained[:m] = (s[:m] ** 2) / total if total > 0 else 0.0
    return coords, explained


def projection(
    model: Model,
    words: Sequence[str],
    space: Space = "W_E",
    groups: Sequence[str] | None = None,
) -> WordProjection:
    """PCA of the words' vectors in ``space`` to two dimensions (e.g. countries and their
    capitals: the country -> capital offset shows as parallel arrows).

    >>> from interp.core.models import load
    >>> p = projection(load("reference:recall"), ["France", "Paris", "Poland", "Warsaw"])
    >>> p.coords.shape
    (4, 2)
    """
    words = [w.strip() for w in words if w.strip()]
    if len(words) < 3:
        raise InterpError("give at least three words to project")
    if len(set(words)) != len(words):
        raise InterpError("each word once, please (duplicates would overlap)")
    labels = list(groups) if groups is not None else [""] * len(words)
    if len(labels) != len(words):
        raise InterpError("give one group label per word")
    space = check_space(model, space)
    coords, explained = pca_2d(to_numpy(word_vectors(model, words, space)))
    return WordProjection(
        model_name=_model_name(model),
        space=space_label(space),
        words=words,
        groups=labels,
        coords=coords,
        explained=explained,
    )
