"""Language-model training data: real English, a byte-level BPE trained on it, a held-out slice.

For the ``text`` recipes (``objective="text"``) the model learns plain next-token prediction
on a corpus (by default the WordNet 3.0 glosses, :mod:`interp.core.corpus`):

* **held-out split** — the corpus' documents (glosses, in file order, so neighbours share a
  lexicographer file and topic words) are cut into blocks of :data:`BLOCK` consecutive
  documents, and a fraction ``heldout_fraction`` of the blocks, drawn with ``split_seed``,
  is held out: never trained on, not even by the tokenizer;
* **tokenizer** — a byte-level BPE (GPT-2's scheme, Radford et al. 2019: bytes mapped to
  printable characters, a ``ByteLevel`` pre-tokenizer that splits words with their leading
  space, merges learned by frequency) trained with the ``tokenizers`` library on the training
  documents to ``vocab_size`` entries, ``<|endoftext|>`` (id 0) as BOS, EOS and padding;
  training it twice on the same text gives the same merges;
* **packing** — every document is followed by ``<|endoftext|>`` and the documents are
  concatenated into one token stream (as GPT-2 was trained); a training row is ``BOS`` and
  then ``n_ctx - 1`` consecutive stream tokens from a random offset, so consecutive glosses
  share a context window and repeated words give induction heads something to copy; a share
  ``repeat_fraction`` of the rows is ``BOS``, a span of the stream, the same span again and
  then the text that follows the span (span lengths drawn between :data:`MIN_SPAN` and half
  the row), the repeated text on which induction heads form (Olsson et al. 2022); a share
  ``shuffle_fraction`` of those rows shuffles the span first (its tokens in a random order,
  twice, then the text after the span), so that only copying, not word order, predicts the
  second copy: the token-agnostic copying that Olsson et al.'s random-token probe measures;
* **evaluation** — the held-out stream cut into fixed, non-overlapping windows; the loss is
  the mean next-token cross-entropy over every position, compared with a **unigram**
  baseline (token frequencies of the training stream, add-one smoothed) on the same targets.

Batches are a pure function of ``(seed, step)``, so a resumed run draws the same ones.

>>> docs = ["the cat sat on the mat", "a dog is a dog", "the end"] * 20
>>> tok = train_tokenizer(docs, vocab_size=300)
>>> tok.decode(tok("the cat sat")["input_ids"]), tok.bos_token_id
('the cat sat', 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Int

from interp.core.corpus import pack_documents
from interp.core.errors import InterpError
from interp.training.recipes import Recipe

#: the shortest span a repeated row repeats (tokens)
MIN_SPAN = 8
#: the special token: BOS, EOS (document separator) and padding, id 0
EOT = "<|endoftext|>"
#: consecutive documents per held-out block
BLOCK = 100
#: the tokenizer of a text run is trained once and kept here (in the run directory)
TOKENIZER_DIR = "tokenizer"


def train_tokenizer(docs: list[str], vocab_size: int):
    """A GPT-2-style byte-level BPE with ``vocab_size`` entries trained on ``docs``, as a
    ``transformers`` ``PreTrainedTokenizerFast`` (``<|endoftext|>`` = id 0 = BOS = EOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257:
        raise InterpError(f"a byte-level BPE needs vocab_size > 256; got {vocab_size}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=EOT,
        eos_token=EOT,
        unk_token=EOT,
        pad_token=EOT,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )


@dataclass(frozen=True)
class TextSplit:
    """The corpus' documents, and which blocks of them are held out."""

    documents: tuple[str, ...]
    heldout_blocks: tuple[int, ...]

    @classmethod
    def from_recipe(cls, recipe: Recipe, documents: list[str] | None = None) -> TextSplit:
        if documents is None:
            from interp.core import corpus

            documents = corpus.documents(corpus.resolve_corpus(recipe.corpus))
        n_blocks = -(-len(documents) // BLOCK)
        n_held = max(1, round(recipe.heldout_fraction * n_blocks))
        if n_blocks < 2:
            raise InterpError(f"the corpus has {len(documents)} documents; need > {BLOCK}")
        n_held = min(n_held, n_blocks - 1)
        rng = np.random.default_rng(recipe.split_seed)
        held = tuple(sorted(int(b) for b in rng.choice(n_blocks, n_held, replace=False)))
        return cls(tuple(documents), held)

    def _docs(self, heldout: bool) -> list[str]:
        held = set(self.heldout_blocks)
        return [d for i, d in enumerate(self.documents) if ((i // BLOCK) in held) == heldout]

    @cached_property
    def train_documents(self) -> list[str]:
        return self._docs(False)

    @cached_property
    def heldout_documents(self) -> list[str]:
        return self._docs(True)


def windows(
    tokens: np.ndarray, n_ctx: int, bos: int, limit: int | None = None
) -> Int[torch.Tensor, "n pos"]:
    """Non-overlapping rows ``[BOS, tokens[i*(n_ctx-1) : (i+1)*(n_ctx-1)]]`` (full rows only,
    at most ``limit``)."""
    step = n_ctx - 1
    n = len(tokens) // step if limit is None else min(limit, len(tokens) // step)
    if n < 1:
        raise InterpError(f"{len(tokens)} tokens do not fill one window of {n_ctx}")
    body = torch.from_numpy(tokens[: n * step].reshape(n, step).copy())
    return torch.cat([torch.full((n, 1), bos, dtype=torch.long), body], 1)


def unigram_counts(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """int64 [vocab]: how often each token occurs in ``tokens``."""
    return np.bincount(tokens, minlength=vocab_size).astype(np.int64)


def unigram_loss(counts: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy (nats) of an add-one-smoothed unigram model fitted on ``counts``
    (Laplace smoothing over the whole vocabulary) on ``targets``.

    >>> round(unigram_loss(np.array([3, 1]), np.array([0, 1])), 4)  # p = 4/6, 2/6
    0.752
    """
    probs = (counts + 1.0) / (counts.sum() + len(counts))
    return float(-np.log(probs[targets]).mean())


class TextData:
    """Training batches and the held-out evaluation of a ``text`` recipe.

    >>> from interp.training.recipes import get_recipe
    >>> recipe = get_recipe("tiny-text")
    >>> docs = [f"gloss {i} about the cat and the dog" for i in range(300)]
    >>> data = TextData(recipe, TextSplit.from_recipe(recipe, docs))
    >>> tokens, labels = data.batch(0)
    >>> tokens.shape == (recipe.batch_size, recipe.n_ctx)
    True
    >>> torch.equal(labels[:, :-1], tokens[:, 1:])  # labels: the next tokens
    True
    """

    def __init__(self, recipe: Recipe, split: TextSplit, tokenizer=None) -> None:
        self.recipe = recipe
        self.split = split
        self.tokenizer = (
            tokenizer
            if tokenizer is not None
            else train_tokenizer(split.train_documents, recipe.vocab_size)
        )
        self.bos = int(self.tokenizer.bos_token_id)

    @cached_property
    def train_stream(self) -> np.ndarray:
        out = pack_documents(self.tokenizer, self.split.train_documents)
        if len(out) <= self.recipe.n_ctx:
            raise InterpError(f"the training text has {len(out)} tokens; need > n_ctx")
        return out

    @cached_property
    def heldout_stream(self) -> np.ndarray:
        return pack_documents(self.tokenizer, self.split.heldout_documents)

    @cached_property
    def heldout_windows(self) -> Int[torch.Tensor, "n pos"]:
        """The fixed held-out evaluation rows (at most ``eval_prompts`` of them)."""
        return windows(self.heldout_stream, self.recipe.n_ctx, self.bos, self.recipe.eval_prompts)

    @cached_property
    def unigram(self) -> np.ndarray:
        return unigram_counts(self.train_stream, len(self.tokenizer))

    def batch(
        self, step: int
    ) -> tuple[Int[torch.Tensor, "batch pos"], Int[torch.Tensor, "batch pos"]]:
        """(tokens, labels) of ``step``: ``BOS`` + ``n_ctx - 1`` stream tokens from random
        offsets, a share ``repeat_fraction`` of the rows repeating a span (module docstring);
        labels are the next tokens (the last one is the stream token after the row)."""
        rng = np.random.default_rng([self.recipe.seed, step])
        n = self.recipe.n_ctx
        s = self.train_stream
        starts = rng.integers(0, len(s) - n, size=self.recipe.batch_size)
        body = np.stack([s[i : i + n] for i in starts])  # n tokens: n-1 inputs + the last label
        repeat = rng.random(len(starts)) < self.recipe.repeat_fraction
        spans = rng.integers(MIN_SPAN, max(MIN_SPAN, n // 2) + 1, size=len(starts))
        shuffled = np.zeros(len(starts), dtype=bool)
        if self.recipe.shuffle_fraction > 0:  # drawn only then: other recipes' batches stay
            shuffled = rng.random(len(starts)) < self.recipe.shuffle_fraction
        for row in np.flatnonzero(repeat):
            i, span = int(starts[row]), int(spans[row])
            if shuffled[row]:
                words = s[i : i + span][rng.permutation(span)]
                body[row] = np.concatenate([words, words, s[i + span : i + n - span]])
            else:
                body[row] = np.concatenate([s[i : i + span], s[i : i + n - span]])
        tokens = torch.from_numpy(
            np.concatenate([np.full((len(starts), 1), self.bos), body[:, :-1]], 1)
        )
        labels = torch.from_numpy(body.copy())
        return tokens.long(), labels.long()

    def record(self) -> dict[str, Any]:
        """What ``interp_training.json`` keeps about the data (corpus, split, baseline)."""
        from interp.core.corpus import fingerprint, resolve_corpus

        targets = self.heldout_windows[:, 1:].numpy().ravel()
        ug = unigram_loss(self.unigram, targets)
        try:
            corpus = resolve_corpus(self.recipe.corpus)
            where: dict[str, Any] = {"path": corpus.name, "fingerprint": fingerprint(corpus)}
        except InterpError:  # documents given directly (tests)
            where = {"path": None, "fingerprint": None}
        return {
            "corpus": {
                **where,
                "documents": len(self.split.documents),
                "train_tokens": int(len(self.train_stream)),
                "heldout_tokens": int(len(self.heldout_stream)),
            },
            "heldout_blocks": list(self.split.heldout_blocks),
            "block_size": BLOCK,
            "tokenizer": {
                "kind": "byte-level BPE (tokenizers), GPT-2 scheme",
                "vocab_size": len(self.tokenizer),
                "special": EOT,
            },
            "eval_windows": int(self.heldout_windows.shape[0]),
            "unigram": {"heldout_loss": ug, "heldout_ppl": math.exp(ug), "smoothing": "add-one"},
        }

    def heldout_sample(self, max_chars: int = 8000) -> str:
        """The first held-out documents (whole ones, up to ``max_chars``), one per paragraph."""
        out: list[str] = []
        size = 0
        for doc in self.split.heldout_documents:
            if size + len(doc) + 2 > max_chars and out:
                break
            out.append(doc)
            size += len(doc) + 2
        return "\n\n".join(out) + "\n"


def load_or_train_tokenizer(recipe: Recipe, split: TextSplit, run_dir: Path | None):
    """The run's tokenizer: read from ``RUN/tokenizer`` when a run already trained it."""
    from transformers import AutoTokenizer

    saved = run_dir / TOKENIZER_DIR if run_dir is not None else None
    if saved is not None and (saved / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(saved)
    tok = train_tokenizer(split.train_documents, recipe.vocab_size)
    if saved is not None:
        tok.save_pretrained(saved)
    return tok
