"""Training data: IOI sentences with a held-out split, mixed with real English text.

Each training sequence is either

* an **IOI sentence** completed with its answer ("Then, John and Mary went to the store.
  John gave a drink to Mary ."), ABBA or BABA, from the 15 templates of Wang et al. 2022
  except the held-out ones, with any two distinct names except the held-out *pairs* (every
  name occurs in training: a name never seen has an untrained embedding and the model stays
  at chance on it), or
* a **corpus document** (by default a WordNet gloss). With a word-level vocabulary most
  glosses contain words it lacks; documents with at least ``min_known`` of their tokens in
  the vocabulary are kept, the others dropped, and the model is never trained to predict
  ``<unk>`` (those targets are masked from the loss), so unknown words stay in the input as
  context only.

Batches are a pure function of ``(seed, step)`` (a fresh ``numpy`` generator per step), so
a run resumed at step ``k`` draws exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from jaxtyping import Int

from interp.core.errors import InterpError
from interp.tasks.ioi import ABBA_TEMPLATES, BABA_TEMPLATES, default_words, fill
from interp.training.recipes import Recipe

#: label value ignored by the loss
IGNORE = -100


@dataclass(frozen=True)
class IOIExample:
    """One IOI prompt (stopping before the answer) with its indirect object and subject."""

    prompt: str
    io: str
    s: str
    template: int  # 0..14 BABA, 15..29 ABBA
    order: str


@dataclass(frozen=True)
class IOISplit:
    """Which name pairs and templates training sees, and which are held out."""

    names: tuple[str, ...]
    places: tuple[str, ...]
    objects: tuple[str, ...]
    train_templates: tuple[int, ...]
    heldout_templates: tuple[int, ...]
    heldout_pairs: frozenset[frozenset[str]]

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> IOISplit:
        from interp.core.reference import vocab

        # the reference vocabulary's 40 names (default_words("names") now adds GPT-2 names
        # the word-level tokenizer lacks), so the split and the batches stay as they were
        names = tuple(vocab.NAMES)
        n_t = len(BABA_TEMPLATES)
        bad = [t for t in recipe.heldout_templates if not 0 <= t < n_t]
        if bad:
            raise InterpError(f"held-out template indices must be in 0..{n_t - 1}; got {bad}")
        train_t = tuple(t for t in range(n_t) if t not in recipe.heldout_templates)
        if not train_t:
            raise InterpError("every template is held out; keep at least one for training")
        pairs = [frozenset(p) for p in itertools.combinations(names, 2)]
        if not 0 <= recipe.heldout_pairs < len(pairs):
            raise InterpError(f"heldout_pairs must be in 0..{len(pairs) - 1}")
        rng = np.random.default_rng(recipe.split_seed)
        held = frozenset(pairs[i] for i in rng.choice(len(pairs), recipe.heldout_pairs, False))
        return cls(
            names=names,
            places=tuple(default_words("places")),
            objects=tuple(default_words("objects")),
            train_templates=train_t,
            heldout_templates=tuple(recipe.heldout_templates),
            heldout_pairs=held,
        )

    def example(
        self, rng: np.random.Generator, templates: tuple[int, ...], pairs: str
    ) -> IOIExample:
        """A random example on ``templates``; ``pairs`` is "train", "heldout" or "any"."""
        if pairs == "heldout":
            held = sorted(sorted(p) for p in self.heldout_pairs)
            io, s = (str(x) for x in rng.permutation(held[int(rng.integers(len(held)))]))
        else:
            while True:
                io, s = (str(x) for x in rng.choice(self.names, 2, replace=False))
                if pairs == "any" or frozenset((io, s)) not in self.heldout_pairs:
                    break
        t = int(templates[int(rng.integers(len(templates)))])
        order = "ABBA" if rng.random() < 0.5 else "BABA"
        template = (ABBA_TEMPLATES if order == "ABBA" else BABA_TEMPLATES)[t]
        place = str(self.places[int(rng.integers(len(self.places)))])
        obj = str(self.objects[int(rng.integers(len(self.objects)))])
        prompt = fill(template, io, s, s, place, obj)
        return IOIExample(prompt, io, s, t + (len(BABA_TEMPLATES) if order == "ABBA" else 0), order)

    def eval_sets(self, n: int, seed: int = 0) -> dict[str, list[IOIExample]]:
        """Fixed held-out evaluation sets: ``pairs`` (held-out name pairs on training
        templates), ``templates`` (held-out templates, training pairs), ``both``, and
        ``train`` (what training sees), ``n`` prompts each.

        >>> from interp.training.recipes import get_recipe
        >>> sets = IOISplit.from_recipe(get_recipe("ioi")).eval_sets(4)
        >>> sorted(sets), len(sets["pairs"])
        (['both', 'pairs', 'templates', 'train'], 4)
        """
        spec = {
            "pairs": (self.train_templates, "heldout"),
            "templates": (self.heldout_templates, "train"),
            "both": (self.heldout_templates, "heldout"),
            "train": (self.train_templates, "train"),
        }
        out: dict[str, list[IOIExample]] = {}
        for i, (name, (templates, pairs)) in enumerate(spec.items()):
            if not templates or (pairs == "heldout" and not self.heldout_pairs):
                continue
            rng = np.random.default_rng([seed, 7919, i])
            out[name] = [self.example(rng, templates, pairs) for _ in range(n)]
        return out


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text with the BOS token first (as transformer-lens prepends it)."""
    bos = tokenizer.bos_token_id
    return [[bos, *ids] for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


class TrainingData:
    """The batch of any step, deterministically: ``data.batch(step)``.

    >>> from interp.core.reference.tokenizer import build_tokenizer
    >>> from interp.training.recipes import get_recipe
    >>> data = TrainingData(get_recipe("tiny"), build_tokenizer())
    >>> tokens, labels = data.batch(0)
    >>> torch.equal(tokens, data.batch(0)[0]), tokens.shape[0]
    (True, 8)
    """

    def __init__(self, recipe: Recipe, tokenizer) -> None:
        self.recipe = recipe
        self.tokenizer = tokenizer
        self.split = IOISplit.from_recipe(recipe)
        self.pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.unk = tokenizer.unk_token_id

    @cached_property
    def documents(self) -> list[list[int]]:
        """Corpus documents kept (token ids with BOS, cut to the context length)."""
        from interp.core.corpus import documents, resolve_corpus

        path = resolve_corpus(self.recipe.corpus)
        kept = []
        for ids in encode(self.tokenizer, documents(path)):
            body = ids[1:]
            if len(body) < 3:
                continue
            known = 1.0 - (body.count(self.unk) / len(body) if self.unk is not None else 0.0)
            if known >= self.recipe.min_known:
                kept.append(ids[: self.recipe.n_ctx])
        if not kept:
            raise InterpError(
                f"no document of corpus {str(path)!r} has at least {self.recipe.min_known:.0%} "
                "of its tokens in the model's vocabulary; lower min_known or use other text"
            )
        return kept

    def rows(self, step: int) -> list[list[int]]:
        rng = np.random.default_rng([self.recipe.seed, step])
        n_text = int(rng.binomial(self.recipe.batch_size, self.recipe.text_fraction))
        examples = [
            self.split.example(rng, self.split.train_templates, "train")
            for _ in range(self.recipe.batch_size - n_text)
        ]
        rows = (
            encode(self.tokenizer, [f"{e.prompt} {e.io} ." for e in examples]) if examples else []
        )
        if n_text:
            docs = self.documents
            rows += [docs[int(i)] for i in rng.integers(len(docs), size=n_text)]
        order = rng.permutation(len(rows))
        return [rows[int(i)][: self.recipe.n_ctx] for i in order]

    def batch(
        self, step: int
    ) -> tuple[Int[torch.Tensor, "batch pos"], Int[torch.Tensor, "batch pos"]]:
        """(tokens, labels) of ``step``: labels are the next tokens, IGNORE at padding and
        where the next token is unknown."""
        rows = self.rows(step)
        length = max(len(r) for r in rows)
        tokens = torch.full((len(rows), length), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r)
            labels[i, : len(r) - 1] = torch.tensor(r[1:])
        if self.unk is not None:
            labels[labels == self.unk] = IGNORE
        return tokens, labels
