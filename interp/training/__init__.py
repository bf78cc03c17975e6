"""Train small GPT-2s from scratch, so that mechanisms emerge instead of being planted.

* :mod:`interp.training.recipes` — :class:`Recipe` and the built-in recipes (``ioi``, ``tiny``);
* :mod:`interp.training.data` — IOI sentences with held-out name pairs and templates, mixed
  with corpus text, one deterministic batch per step;
* :mod:`interp.training.loop` — :func:`train`: deterministic, checkpointed, resumable;
* :mod:`interp.training.evaluate` — IO > S accuracy and logit difference.

>>> from interp.training import get_recipe
>>> get_recipe("ioi").n_layers
4
"""

from interp.training.loop import TrainingRun, list_checkpoints, load_run, train
from interp.training.recipes import RECIPES, Recipe, get_recipe

__all__ = [
    "RECIPES",
    "Recipe",
    "TrainingRun",
    "get_recipe",
    "list_checkpoints",
    "load_run",
    "train",
]
