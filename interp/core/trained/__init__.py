"""Trained models shipped with the workbench: small GPT-2s whose mechanisms were *learned*.

Unlike the reference models (:mod:`interp.core.reference`), nobody wrote these weights: they
were trained from scratch by :func:`interp.training.train` and saved with
``save_pretrained``. Each lives in a directory of this package (``ioi/``, ``text/``) with its
tokenizer and ``interp_training.json`` (recipe, seed, held-out split, training curve), and
loads through the ordinary local-directory path: ``load("trained:ioi")``.

* ``trained:ioi`` — IOI sentences mixed with WordNet glosses, the reference word-level
  vocabulary; the IOI circuit formed during training;
* ``trained:text`` — a plain language model of the WordNet glosses with its own byte-level
  BPE (4,096 entries); ``heldout.txt`` holds a sample of held-out text and ``unigram.json``
  the training split's token counts (the unigram baseline); induction heads formed.

The shipped weights are the float32 training result rounded to float16 (``load`` runs them
in float32). ``interp train ioi --out DIR`` (``interp train text``) re-creates the run, with
every checkpoint, from its recipe and seed (training is deterministic for a seed on a CPU at
a fixed thread count).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interp.core.errors import ModelNotFoundError

TRAINED_PREFIX = "trained:"
#: kind -> what it was trained for
TRAINED_MODELS = {
    "ioi": "indirect-object identification, trained on IOI sentences and WordNet",
    "text": "a language model of English (WordNet glosses, byte-level BPE) with induction heads",
}
INFO_FILE = "interp_training.json"


def trained_dir(kind: str) -> Path:
    """The shipped directory of ``trained:KIND`` (which may be missing)."""
    return Path(__file__).resolve().parent / kind


def locate(kind: str) -> Path:
    """The directory of ``trained:KIND``, or a clear error saying how to train it.

    >>> locate("ioi").name
    'ioi'
    """
    if kind not in TRAINED_MODELS:
        raise ModelNotFoundError(
            f"unknown trained model {kind!r}; shipped: "
            + ", ".join(TRAINED_PREFIX + k for k in TRAINED_MODELS)
        )
    path = trained_dir(kind)
    if not (path / "config.json").exists():
        raise ModelNotFoundError(
            f"the weights of {TRAINED_PREFIX}{kind} are not in {path}. Train them with "
            f"`interp train {kind} --out runs/{kind}` (minutes on a CPU) and load the result "
            f"with --model runs/{kind}/final."
        )
    return path


def training_record(kind: str) -> dict[str, Any]:
    """The shipped model's training record (recipe, held-out split, curve)."""
    return json.loads((locate(kind) / INFO_FILE).read_text())


def checkpoints(kind: str) -> list[tuple[int, Path]]:
    """(step, directory) of the training checkpoints shipped beside ``trained:KIND``."""
    base = trained_dir(kind) / "checkpoints"
    found = [
        (int(d.name.split("-")[1]), d)
        for d in (base.glob("step-*") if base.is_dir() else [])
        if (d / "config.json").exists()
    ]
    return sorted(found)
