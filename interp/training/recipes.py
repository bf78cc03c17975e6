"""Training recipes: everything that decides a training run, in one frozen dataclass.

A recipe names the model's shape, the optimiser, the data mixture and the held-out split;
together with a seed it fixes the run completely (:func:`interp.training.train`). The
built-in recipes:

* ``ioi`` — the model shipped as ``trained:ioi``: a 4-layer, 4-head GPT-2 (d_model 128) on
  IOI sentences (ABBA and BABA, the 15 templates of Wang et al. 2022 minus the held-out
  ones, every name of the vocabulary) mixed with WordNet glosses;
* ``tiny`` — a 1-layer model for tests, IOI sentences only, a few seconds of training;
* ``text`` — the model shipped as ``trained:text``: a 2-layer, 4-head GPT-2 (d_model 128,
  context 128) trained as a plain language model on the WordNet glosses, with its own
  byte-level BPE tokenizer (4,096 entries), a quarter of its rows repeating a span of the
  text (``repeat_fraction``), evaluated by held-out loss (:mod:`interp.training.text`);
* ``tiny-text`` — a 1-layer text model for tests (a 300-entry BPE), seconds of training.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from interp.core.errors import InterpError

#: what a recipe can train for (see ``Recipe.objective``)
OBJECTIVES = ("ioi", "text")


@dataclass(frozen=True)
class Recipe:
    """A complete description of a training run (with the seed).

    >>> Recipe(name="demo", n_layers=1, d_model=32).replace(lr=3e-3).lr
    0.003
    """

    #: name of the recipe (the directory name of its shipped model, if any)
    name: str = "ioi"
    #: what the model learns: "ioi" (IOI sentences mixed with corpus text, scored by the
    #: IOI metric) or "text" (next-token prediction on the corpus, scored by held-out loss)
    objective: str = "ioi"
    #: "text" objective: entries of the byte-level BPE trained on the corpus
    vocab_size: int = 4096
    #: "text" objective: fraction of the corpus (in blocks of consecutive documents) held out
    heldout_fraction: float = 0.02
    #: transformer blocks
    n_layers: int = 4
    #: attention heads per block
    n_heads: int = 4
    #: residual stream width (d_head = d_model / n_heads)
    d_model: int = 128
    #: context length (longer documents are cut)
    n_ctx: int = 32
    #: AdamW learning rate (constant after a linear warm-up)
    lr: float = 1e-3
    #: AdamW weight decay
    weight_decay: float = 0.01
    #: linear warm-up steps
    warmup: int = 0
    #: gradient-norm clipping (0: none)
    grad_clip: float = 1.0
    #: sequences per step
    batch_size: int = 64
    #: optimisation steps
    steps: int = 2000
    #: fraction of a batch's sequences that are corpus text (the rest IOI sentences)
    text_fraction: float = 0.25
    #: "text" objective: fraction of training rows that repeat a span of the text (the row
    #: is BOS, a span, the same span again, then the text after the span): repeated text is
    #: what induction heads copy (Olsson et al. 2022), and these rows let them form within
    #: minutes of CPU training rather than billions of tokens; held-out rows stay plain text
    repeat_fraction: float = 0.0
    #: "text" objective: fraction of the repeat rows whose span is shuffled (the span's
    #: tokens in a random order, then that order again, then the text after the span): a
    #: shuffled span has no word order left, so only copying from the earlier occurrence
    #: predicts its second copy, which is what an induction head does on *any* token
    #: string (Olsson et al. 2022's random-token probe); on unshuffled text repeats a model
    #: can lean on word order instead (measured on repeated random tokens, seq_len 40:
    #: 0.21 trained without shuffled rows, 0.74 with half the repeat rows shuffled)
    shuffle_fraction: float = 0.0
    #: corpus file or directory (None: the default WordNet glosses)
    corpus: str | None = None
    #: keep corpus documents with at least this fraction of in-vocabulary tokens
    min_known: float = 0.8
    #: unordered name pairs never seen together in training (evaluated on)
    heldout_pairs: int = 60
    #: BABA template indices held out of training, with their ABBA mirrors
    heldout_templates: tuple[int, ...] = (3, 13)
    #: seed of the held-out split (fixed, so every training seed shares the split)
    split_seed: int = 1234
    #: save a checkpoint every this many steps
    checkpoint_every: int = 250
    #: evaluate the IOI metric every this many steps
    eval_every: int = 50
    #: prompts per held-out evaluation set ("text": held-out windows of n_ctx tokens)
    eval_prompts: int = 200
    #: CPU threads (results are bit-identical for a seed at a fixed thread count)
    threads: int = 1
    #: seed of initialisation and data order
    seed: int = 0
    #: free-form notes kept with the run
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise InterpError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.objective not in OBJECTIVES:
            raise InterpError(
                f"objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}"
            )
        if not 0.0 < self.heldout_fraction < 1.0:
            raise InterpError(f"heldout_fraction must be in (0, 1); got {self.heldout_fraction}")
        if not 0.0 <= self.text_fraction <= 1.0:
            raise InterpError(f"text_fraction must be in [0, 1]; got {self.text_fraction}")
        if not 0.0 <= self.repeat_fraction <= 1.0:
            raise InterpError(f"repeat_fraction must be in [0, 1]; got {self.repeat_fraction}")
        if not 0.0 <= self.shuffle_fraction <= 1.0:
            raise InterpError(f"shuffle_fraction must be in [0, 1]; got {self.shuffle_fraction}")
        for name in ("n_layers", "n_heads", "batch_size", "steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InterpError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.eval_every < 1 or self.eval_prompts < 1:
            raise InterpError("eval_every and eval_prompts must be at least 1")
        object.__setattr__(self, "heldout_templates", tuple(int(t) for t in self.heldout_templates))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (unknown fields are an error)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InterpError(f"recipes have no field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["heldout_templates"] = list(self.heldout_templates)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in d.items() if k in names}
        if "heldout_templates" in values:
            values["heldout_templates"] = tuple(values["heldout_templates"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


RECIPES: dict[str, Recipe] = {
    "ioi": Recipe(name="ioi"),
    "tiny": Recipe(
        name="tiny",
        n_layers=1,
        n_heads=2,
        d_model=32,
        n_ctx=40,
        batch_size=8,
        steps=12,
        text_fraction=0.0,
        heldout_pairs=20,
        checkpoint_every=4,
        eval_every=4,
        eval_prompts=16,
    ),
    "text": Recipe(
        name="text",
        objective="text",
        n_layers=2,
        n_heads=4,
        d_model=128,
        n_ctx=128,
        vocab_size=4096,
        lr=2e-3,
        warmup=100,
        batch_size=16,
        steps=16000,
        text_fraction=1.0,
        repeat_fraction=0.3,
        shuffle_fraction=0.5,
        checkpoint_every=250,
        eval_every=250,
        eval_prompts=128,
        threads=2,
    ),
    "tiny-text": Recipe(
        name="tiny-text",
        objective="text",
        n_layers=1,
        n_heads=2,
        d_model=32,
        n_ctx=24,
        vocab_size=300,
        heldout_fraction=0.2,
        batch_size=4,
        steps=6,
        text_fraction=1.0,
        checkpoint_every=4,
        eval_every=3,
        eval_prompts=4,
    ),
}


def get_recipe(name: str | Recipe, **overrides: Any) -> Recipe:
    """A built-in recipe by name (or a recipe), with fields overridden.

    >>> get_recipe("tiny", steps=3).steps
    3
    """
    if isinstance(name, Recipe):
        recipe = name
    elif name in RECIPES:
        recipe = RECIPES[name]
    else:
        raise InterpError(f"unknown recipe {name!r}; built-in: {', '.join(sorted(RECIPES))}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return recipe.replace(**overrides) if overrides else recipe
