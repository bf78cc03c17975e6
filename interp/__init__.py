"""interp: a mechanistic-interpretability workbench for GPT-2-family language models.

The public API, in the order an analysis uses it::

    import interp

    model = interp.load("reference:ioi")               # or "gpt2-small", a local directory
    task = interp.ioi_task(model, n_prompts=30)        # or interp.Task.from_prompts(...)
    heads = interp.patch(model, task, "z")             # activation patching, [layer, head]
    paths = interp.path_patch(model, task)             # path patching into the logits
    estimate = interp.attribution_patch(model, task)   # attribution patching
    ablated = interp.ablate(model, task, ["L6H1", "6.3"], method="mean")
    lens = interp.logit_lens(model, "The capital of Poland is", targets=[" Warsaw"])
    recall = interp.recall_relation(interp.load("reference:recall"), "capital", "past_tense")
    circuit = interp.discover_ioi_circuit(model, task)
    run = interp.run_ioi(model, task)                  # the whole IOI pipeline, stored as a run
    heads.figure()                                     # every result draws itself
    interp.Store().list()                              # the runs stored so far

    text = interp.load("trained:text")                 # a small LM trained here on English
    interp.head_scores(text)                           # previous-token, duplicate, induction
    interp.shipped_induction("text")                   # induction heads forming in training
    interp.neighbours(text, "river", space=2)          # word vectors, at any layer
    interp.analogy(text, "larger", "large", "small", expected="smaller")
    interp.word_map(text, ["red", "green", "dog", "cat", "river", "sea"])  # PCA map
    interp.sense_similarity(text)                      # polysemy and homonymy by layer
    interp.value_projections(text, k=10)               # FFN values on the vocabulary
    interp.mine(text, "corpus.txt", k=10)              # FFN keys: top trigger examples
    interp.attribute_prediction(text, "a person who")  # which heads and neurons wrote " is"
    interp.switch_components(text, "a person who", ["L1N419"])  # switch a neuron off
    interp.train("text", "runs/text")                  # train one yourself (resumable)

Every sweep takes ``metric=``: ``"logit_diff"`` (default), ``"prob"``, ``"kl"`` or a
callable ``metric(logits, task) -> [batch]``. Components are written any usual way
(``"L6H1"``, ``"6.1"``, ``(6, 1)``). The package is layered one way: ``core`` (models,
hooks, metrics, interventions) -> ``results`` (result classes, store) -> ``tasks`` and
``figures`` -> ``methods`` -> ``studies`` -> ``views`` (dashboard compute) -> ``cli``.

Importing ``interp`` is cheap: the names above are imported on first use, and the library
never imports streamlit.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from interp.core.errors import InterpError
from interp.core.settings import VERSION as __version__

#: public name -> the module that defines it (imported on first access)
_EXPORTS: dict[str, str] = {
    "load": "interp.core.models",
    "record_of": "interp.core.models",
    "ModelRecord": "interp.core.models",
    "Task": "interp.tasks.base",
    "ioi_task": "interp.tasks.ioi",
    "make_task": "interp.tasks",
    "patch": "interp.methods.patching",
    "path_patch": "interp.methods.path_patching",
    "attribution_patch": "interp.methods.attribution",
    "ablate": "interp.methods.ablation",
    "logit_lens": "interp.methods.logit_lens",
    "discover_ioi_circuit": "interp.studies.ioi_circuit",
    "evaluate_circuit": "interp.studies.ioi_circuit",
    "Thresholds": "interp.studies.ioi_circuit",
    "run_ioi": "interp.studies.ioi_run",
    "IOIRun": "interp.studies.ioi_run",
    "Head": "interp.core.components",
    "Neuron": "interp.core.components",
    "Layer": "interp.core.components",
    "parse_component": "interp.core.components",
    "edge_scores": "interp.methods.edges",
    "faithfulness_curve": "interp.methods.circuit_eval",
    "Circuit": "interp.methods.graph",
    "Store": "interp.results.store",
    "save": "interp.results.base",
    "load_result": "interp.results.base",
    "readout_for": "interp.core.metrics",
    "head_scores": "interp.methods.attention",
    "neighbours": "interp.methods.words",
    "analogy": "interp.methods.words",
    "word_map": "interp.methods.words",
    "sense_similarity": "interp.methods.polysemy",
    "value_projections": "interp.methods.ffn",
    "agreement": "interp.methods.ffn",
    "mine": "interp.methods.mining",
    "attribute_prediction": "interp.methods.prediction",
    "switch_components": "interp.methods.prediction",
    "recall_relation": "interp.studies.recall",
    "induction_over_training": "interp.studies.induction",
    "shipped_induction": "interp.studies.induction",
    "train": "interp.training",
    "get_recipe": "interp.training",
}
#: public names that are another name in their module
_RENAMED = {
    "attribution_patch": "attribution_patch_heads",
    "Store": "ResultsStore",
    "word_map": "projection",
}

__all__ = [
    "InterpError",
    "__version__",
    "load",
    "record_of",
    "ModelRecord",
    "Task",
    "ioi_task",
    "make_task",
    "patch",
    "path_patch",
    "attribution_patch",
    "ablate",
    "logit_lens",
    "discover_ioi_circuit",
    "evaluate_circuit",
    "Thresholds",
    "run_ioi",
    "IOIRun",
    "Head",
    "Neuron",
    "Layer",
    "parse_component",
    "edge_scores",
    "faithfulness_curve",
    "Circuit",
    "Store",
    "save",
    "load_result",
    "readout_for",
    "head_scores",
    "neighbours",
    "analogy",
    "word_map",
    "sense_similarity",
    "value_projections",
    "agreement",
    "mine",
    "attribute_prediction",
    "switch_components",
    "recall_relation",
    "induction_over_training",
    "shipped_induction",
    "train",
    "get_recipe",
]

if TYPE_CHECKING:
    from interp.core.components import Head, Layer, Neuron, parse_component
    from interp.core.metrics import readout_for
    from interp.core.models import ModelRecord, load, record_of
    from interp.methods.ablation import ablate
    from interp.methods.attention import head_scores
    from interp.methods.attribution import attribution_patch_heads as attribution_patch
    from interp.methods.circuit_eval import faithfulness_curve
    from interp.methods.edges import edge_scores
    from interp.methods.ffn import agreement, value_projections
    from interp.methods.graph import Circuit
    from interp.methods.logit_lens import logit_lens
    from interp.methods.mining import mine
    from interp.methods.patching import patch
    from interp.methods.path_patching import path_patch
    from interp.methods.polysemy import sense_similarity
    from interp.methods.prediction import attribute_prediction, switch_components
    from interp.methods.words import analogy, neighbours
    from interp.methods.words import projection as word_map
    from interp.results.base import load_result, save
    from interp.results.store import ResultsStore as Store
    from interp.studies.induction import induction_over_training, shipped_induction
    from interp.studies.ioi_circuit import Thresholds, discover_ioi_circuit, evaluate_circuit
    from interp.studies.ioi_run import IOIRun, run_ioi
    from interp.studies.recall import recall_relation
    from interp.tasks import make_task
    from interp.tasks.base import Task
    from interp.tasks.ioi import ioi_task
    from interp.training import get_recipe, train


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'interp' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), _RENAMED.get(name, name))
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
