"""Result dataclasses: what every analysis returns, and how it goes in and out of the store.

A result is a frozen dataclass whose ``np.ndarray`` fields are its arrays and whose other
fields are small JSON-able values (lists of token strings, scalars, dicts). The split is
automatic, so any result can be saved with :func:`save` and rebuilt with
:func:`load_result` without per-class code; each class adds a ``figure()`` method
(in :mod:`interp.figures`-style plotly) for scripts and the dashboard to share.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np

R = TypeVar("R", bound="Result")

#: The one registry of stored kinds: kind -> the dotted path of the class that rebuilds it.
#: Classes live in higher layers; they are imported by path only when a run is read, so this
#: layer imports none of them. A class that moves keeps its kind and changes its path here
#: (runs stored before keep loading); ``tests/test_results.py`` checks both directions.
KINDS: dict[str, str] = {
    "patching": "interp.methods.patching.PatchingResult",
    "path_patching": "interp.methods.path_patching.PathPatchingResult",
    "attribution": "interp.methods.attribution.AttributionResult",
    "head_scores": "interp.methods.attention.HeadScores",
    "ioi_attention": "interp.methods.attention.IOIAttention",
    "logit_lens": "interp.methods.logit_lens.LogitLensResult",
    "analogies": "interp.methods.arithmetic.AnalogyResult",
    "ffn_values": "interp.methods.ffn.ValueProjection",
    "ffn_agreement": "interp.methods.ffn.Agreement",
    "ffn_mining": "interp.methods.mining.MiningResult",
    "ffn_prediction": "interp.methods.prediction.PredictionAttribution",
    "ffn_intervention": "interp.methods.prediction.InterventionEffect",
    "ablation": "interp.methods.ablation.AblationResult",
    "relation_recall": "interp.studies.recall.RelationRecallResult",
    "capitals": "interp.studies.recall.CapitalsResult",
    "o_vector_transfer": "interp.studies.transfer.OVectorTransfer",
    "ioi_circuit": "interp.studies.ioi_circuit.IOICircuit",
    "circuit_evaluation": "interp.studies.ioi_circuit.CircuitEvaluation",
    "ioi": "interp.studies.ioi_run.IOIRun",
    "circuit_formation": "interp.studies.formation.CircuitFormation",
    "knockout_check": "interp.studies.trained_checks.KnockoutCheck",
    "prompt_view": "interp.views.prompt.PromptView",
    "neuron_view": "interp.views.ffn.NeuronView",
    "attention_patterns": "interp.views.heads.AttentionPatterns",
    "head_table": "interp.views.heads.HeadTable",
    "edge_circuit": "interp.methods.graph.Circuit",
    "edge_faithfulness": "interp.methods.circuit_eval.FaithfulnessCurve",
    "word_neighbours": "interp.methods.words.WordNeighbours",
    "word_analogy": "interp.methods.words.WordAnalogy",
    "word_projection": "interp.methods.words.WordProjection",
    "sense_similarity": "interp.methods.polysemy.SenseSimilarity",
    "induction_over_training": "interp.studies.induction.InductionOverTraining",
}


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: subclasses set ``kind`` and add fields."""

    #: the stored kind: a key of :data:`KINDS`
    kind: ClassVar[str] = "result"

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f.name: np.asarray(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def summary(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not isinstance(getattr(self, f.name), np.ndarray)
        }

    @classmethod
    def from_parts(cls: type[R], summary: dict[str, Any], arrays: dict[str, np.ndarray]) -> R:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in summary.items() if k in names}
        values.update({k: v for k, v in arrays.items() if k in names})
        return cls(**values)


def result_class(kind: str) -> type[Result]:
    """The Result subclass that rebuilds runs of ``kind`` (imported by its path in
    :data:`KINDS`)."""
    from importlib import import_module

    from interp.core.errors import InterpError

    path = KINDS.get(kind)
    if path is None:
        raise InterpError(f"no result class for stored kind {kind!r}; known: {sorted(KINDS)}")
    module, name = path.rsplit(".", 1)
    return getattr(import_module(module), name)


def save(
    result: Result,
    *,
    model: Any,
    config: Any,
    seed: int | None = None,
    store: Any = None,
    kind: str | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> Any:
    """Record ``result`` in the results store; returns the store's run record.

    >>> from interp import ioi_task, load, patch
    >>> model = load("reference:ioi")
    >>> heads = patch(model, ioi_task(model, n_prompts=4), "z")
    >>> run = save(heads, model=model, config={"activation": "z", "n_prompts": 4})
    >>> run.kind, run.config["n_prompts"]
    ('patching', 4)
    >>> bool((load_result(run.run_id).values == heads.values).all())  # the arrays, exactly
    True
    """
    from interp.results.store import ResultsStore

    store = store or ResultsStore()
    summary = {**result.summary(), **(extra_summary or {})}
    return store.save(
        kind or result.kind,
        model=_model_dict(model),
        config=config,
        seed=seed,
        summary=summary,
        arrays=result.arrays(),
    )


def save_with_parts(
    kind: str,
    parts: dict[str, Result | list[Result]],
    *,
    model: Any,
    config: Any,
    summary: dict[str, Any],
    arrays: dict[str, Any],
    seed: int | None = None,
    store: Any = None,
) -> Any:
    """Record each of ``parts`` (a result or a list of results) as its own run, then one run
    of ``kind`` whose summary lists their ids under ``run_ids`` (as the FFN-memory scripts
    store their mining, agreement, ... runs beside the run the dashboard reads)."""
    from interp.results.store import ResultsStore

    store = store or ResultsStore()

    def one(result: Result) -> str:
        return save(result, model=model, config=config, seed=seed, store=store).run_id

    summary["run_ids"] = {
        name: [one(r) for r in part] if isinstance(part, list) else one(part)
        for name, part in parts.items()
    }
    return store.save(kind, model=_model_dict(model), config=config, seed=seed,
                      summary=summary, arrays=arrays)  # fmt: skip


def _model_dict(model: Any) -> dict[str, Any]:
    """The stored form of a model (a loaded model or its ``ModelRecord``)."""
    from interp.core.models import ModelRecord, record_of

    return (model if isinstance(model, ModelRecord) else record_of(model)).to_dict()


def load_result(run_id: str, store: Any = None) -> Result:
    """Rebuild the result dataclass of a stored run (see :func:`save` for an example).

    >>> load_result("20260101-000000-00000000")
    Traceback (most recent call last):
    ...
    interp.core.errors.InterpError: no run ...
    """
    from interp.results.store import ResultsStore

    store = store or ResultsStore()
    record = store.get(run_id)
    return result_class(record.kind).from_parts(record.summary, store.arrays(run_id))
