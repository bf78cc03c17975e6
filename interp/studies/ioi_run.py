"""The IOI study end to end (Wang et al. 2022): one call, one stored result.

:func:`run_ioi` runs on one model and one IOI task what ``experiments/ioi.py`` reports:

1. the clean behaviour (mean logit difference IO − S, IO top-1, IO > S, P(IO));
2. circuit discovery in the paper's order (:func:`~interp.studies.ioi_circuit.
   discover_ioi_circuit`: DLA, path patching into queries / values / keys, name-mover
   ablation for the backups);
3. the circuit's evaluation under mean ablation (faithfulness F(C)/F(M), completeness,
   minimality; :func:`~interp.studies.ioi_circuit.evaluate_circuit`);
4. activation-patching heatmaps (residual stream, attention and MLP outputs by layer x named
   position, every head's output), path patching of every head into the logits;
5. attribution patching beside exact head patching (their correlation);
6. on ``reference:ioi`` models, precision and recall of every class against the planted
   heads.

It returns an :class:`IOIRun` (stored kind ``"ioi"``): the headline numbers, the circuit and
its evidence as summary fields, every heatmap as a numpy array, ``.report()`` (the text the
script prints) and ``.figure()`` (the circuit diagram along the paper's paths). The summary
keys and array names are those ``experiments/ioi.py`` has always stored, so runs stored
before this module existed load, list and draw through :meth:`IOIRun.from_parts`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from interp.core.components import Head, heads_text, parse_head
from interp.core.errors import InterpError
from interp.core.ioi_roles import PAPER_GPT2_SMALL, PAPER_METRICS, PAPER_MODELS, class_key
from interp.results.base import Result
from interp.studies.ioi_circuit import (
    CLASSES,
    Thresholds,
    circuit_table,
    discover_ioi_circuit,
    evaluate_circuit,
    precision_recall,
    sensitivity_table,
)

#: prompts of a run when no task is given: the paper's size (Wang et al. 2022 path-patch
#: >= 200 pairs; 100 keeps a CPU run within minutes)
DEFAULT_PROMPTS = 100

#: the named positions of the layer x position heatmaps
NAMED_POSITIONS = ("IO", "S1", "S1+1", "S2", "END")
#: stored array name -> field, where they differ (the summary has a ``minimality`` dict too)
_STORED_AS = {"minimality_scores": "minimality"}
_FIELD_OF = {v: k for k, v in _STORED_AS.items()}


@dataclasses.dataclass(frozen=True)
class IOIRun(Result):
    """One IOI study of one model: headline numbers, the circuit found, its evaluation and
    the arrays behind every step (``None`` for an array a run did not compute or store).
    Summary fields and array names are those ``experiments/ioi.py`` stores (kind ``"ioi"``);
    ``minimality_scores`` is stored as the array ``minimality``."""

    kind: ClassVar[str] = "ioi"
    # -- summary ------------------------------------------------------------------------
    model: str = ""
    n_prompts: int = 0
    seed: int | None = None
    #: class -> [[layer, head], ...], every class of :data:`CLASSES`
    circuit: dict[str, list[list[int]]] = dataclasses.field(default_factory=dict)
    logit_diff: float = math.nan  # mean IO − S on the clean prompts
    corrupted_logit_diff: float | None = None
    io_top1: float | None = None
    io_over_s: float | None = None  # fraction of prompts with IO − S > 0
    io_prob: float | None = None
    faithfulness: float | None = None  # F(C) / F(M); nan or None: no circuit evaluated
    f_circuit: float | None = None
    f_model: float | None = None
    minimality: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    completeness: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
    attribution_correlation: float | None = None
    example_prompt: str = ""
    position_labels: list[str] = dataclasses.field(default_factory=list)
    #: reference models: the planted circuit and per-class precision / recall against it
    planted: dict[str, list[list[int]]] | None = None
    precision_recall: dict[str, dict[str, float]] | None = None
    minimality_threshold: float = 0.01
    seconds: float | None = None
    #: discovery ran past the IOI-behaviour gate (``run_ioi(force=True)``): read with care
    forced: bool = False
    #: what a reader must know before trusting the circuit (forced past the gate,
    #: implausibly large circuit); empty for a clean run
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: the circuit with every causal bar scaled (``IOICircuit.sensitivity``): one row per
    #: scale with ``n_heads`` and the heads ``added`` / ``removed`` per class against x1
    sensitivity: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: summary entries this class has no field for (kept, and stored again)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    # -- arrays ([layer, head] unless noted; float32) --------------------------------------
    dla: np.ndarray | None = None  # mean DLA at END (logit units)
    dla_ablated: np.ndarray | None = None  # the same with the name movers mean-ablated
    pp_logits: np.ndarray | None = None  # path patching head -> logits
    pp_name_mover_q: np.ndarray | None = None
    pp_s_inhibition_v: np.ndarray | None = None
    pp_induction_k: np.ndarray | None = None
    patch_resid_pre: np.ndarray | None = None  # [layer, named position], normalised
    patch_attn_out: np.ndarray | None = None  # [layer, named position]
    patch_mlp_out: np.ndarray | None = None  # [layer, named position]
    patch_head_out: np.ndarray | None = None  # normalised head (z) patching
    attribution: np.ndarray | None = None  # attribution-patching estimate
    attribution_exact: np.ndarray | None = None  # exact patching change of the metric
    attn_end_to_io: np.ndarray | None = None
    attn_end_to_s: np.ndarray | None = None
    attn_s2_to_s1: np.ndarray | None = None
    attn_s2_to_s1_plus_1: np.ndarray | None = None
    attn_previous_token: np.ndarray | None = None
    minimality_scores: np.ndarray | None = None  # nan outside the circuit
    pp_name_mover_kv: np.ndarray | None = None  # path patching into the NMs' keys and values
    single_ablation: np.ndarray | None = None  # LD change with one head mean-ablated

    # -- store format ---------------------------------------------------------------------
    @classmethod
    def _array_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if "ndarray" in str(f.type)]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            _STORED_AS.get(name, name): np.asarray(getattr(self, name))
            for name in self._array_fields()
            if getattr(self, name) is not None
        }

    def summary(self) -> dict[str, Any]:
        skip = {*self._array_fields(), "extra"}
        out = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip
        }
        if out["planted"] is None:  # the old script wrote these two for reference models only
            del out["planted"], out["precision_recall"]
        return {**out, **self.extra}

    @classmethod
    def from_parts(cls, summary: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> IOIRun:
        """Rebuild a stored run, whichever version of ``experiments/ioi.py`` stored it:
        missing entries get their defaults, unknown ones are kept in ``extra``, and a circuit
        stored under ``classes`` (with loosely written class names) is read as well."""
        fields = {f.name for f in dataclasses.fields(cls)}
        array_fields = set(cls._array_fields())
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in summary.items():
            if key in fields and key not in array_fields and key != "extra":
                values[key] = value
            else:
                extra[key] = value
        values["circuit"] = stored_circuit(summary)
        if "circuit" not in summary:
            extra.pop("classes", None)
        for name, array in arrays.items():
            field = _FIELD_OF.get(name, name)
            if field in array_fields:
                values[field] = np.asarray(array)
        return cls(**values, extra=extra)

    # -- reading --------------------------------------------------------------------------
    def array(self, name: str) -> np.ndarray | None:
        """An array by its stored name (``minimality`` is ``minimality_scores``)."""
        field = _FIELD_OF.get(name, name)
        return getattr(self, field) if field in self._array_fields() else None

    @property
    def n_layers(self) -> int:
        """Layers of the model (from a [layer, ...] array; else one past the last head's)."""
        for name in ("dla", "patch_head_out", "patch_resid_pre", "pp_logits"):
            value = getattr(self, name)
            if value is not None and value.ndim == 2:
                return int(value.shape[0])
        heads = self.heads() + [parse_head(h) for hs in (self.planted or {}).values() for h in hs]
        return max((h.layer for h in heads), default=-1) + 1

    @property
    def evaluated(self) -> bool:
        """Was the circuit evaluated (faithfulness measured)?"""
        return self.faithfulness is not None and not math.isnan(self.faithfulness)

    @property
    def minimal(self) -> bool:
        return all(v["score"] >= self.minimality_threshold for v in self.minimality.values())

    def heads(self, cls: str | None = None) -> list[Head]:
        """The circuit's heads, of one class or all (in :data:`CLASSES` order)."""
        classes = list(self.circuit) if cls is None else [class_key(cls)]
        return [parse_head(h) for c in classes for h in self.circuit.get(c, [])]

    def classes(self) -> dict[str, str]:
        """``"layer.head"`` -> class for every circuit head."""
        return {parse_head(h).key: c for c, hs in self.circuit.items() for h in hs}

    # -- text and figures -----------------------------------------------------------------
    def table(self) -> str:
        """The circuit as a plain-text table: class -> heads (as ``IOICircuit.table``)."""
        return circuit_table(self.circuit)

    def report(self) -> str:
        """What ``experiments/ioi.py`` prints after the analysis: the circuit, the headline
        numbers, faithfulness, attribution vs exact, the thresholds and (reference models)
        planted vs found."""
        pct = lambda v: f"{100 * (v if v is not None else math.nan):.1f}%"  # noqa: E731
        lines = [f"IOI circuit of {self.model} ({self.n_prompts} prompts, seed {self.seed})"]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [self.table(), ""]
        if self.evidence:
            lines += [self.evidence_table(), ""]
        if self.sensitivity:
            lines += [sensitivity_table(self.sensitivity), ""]
        lines += [
            f"mean logit difference IO - S: {self.logit_diff:.2f}",
            f"IO top-1: {pct(self.io_top1)}   IO > S: {pct(self.io_over_s)}   "
            f"P(IO): {_num(self.io_prob)}",
        ]
        if self.evaluated:
            lines.append(
                f"faithfulness F(C)/F(M): {pct(self.faithfulness)} "
                f"(F(C) {_num(self.f_circuit)}, F(M) {_num(self.f_model)}); "
                f"minimal: {'yes' if self.minimal else 'no'} "
                f"(every head >= {100 * self.minimality_threshold:.0f}% of F(M))"
            )
        lines.append(
            f"attribution vs exact head patching: r = {_num(self.attribution_correlation, 3)}"
        )
        lines.append(
            "thresholds: "
            + ", ".join(f"{k} {v:.3g}" for k, v in self.thresholds.items())
            + " (dla, backup, ablation: fractions of the clean logit difference; path: of the"
            " clean - corrupted gap; *_floor and min_logit_diff: logits; each bar is the"
            " larger of the fraction and its floor; pattern, pattern_margin: attention)"
        )
        if self.planted:
            lines += ["", self.planted_comparison()]
        return "\n".join(lines)

    def evidence_table(self) -> str:
        """One line per circuit head: its class, the step that found it, the measured value,
        the bar it had to pass and its margin from that bar (same unit; > 0 passes), then
        the attention score that corroborates the class with its margin from ``pattern``
        (``no``: uncorroborated; ``n/a``: a class whose evidence is causal only), and notes."""
        rows = [("head", "class", "step", "value", "bar", "margin", "pattern", "unit")]
        notes = []
        for key, ev in sorted(self.evidence.items(), key=lambda kv: parse_head(kv[0])):
            value = ev.get("value")
            if value is None:  # runs stored before "value" was recorded
                value = next(
                    (ev[k] for k in ("path_effect", "ablation_effect", "dla") if k in ev), None
                )
                if ev.get("step") == "name_mover_ablation":
                    value = ev.get("dla_ablated", math.nan) - ev.get("dla", math.nan)
            bar = ev.get("bar", ev.get("threshold"))
            rows.append(
                (
                    key, str(ev.get("class", "")), str(ev.get("step", "")), _num(value, 3),
                    _num(bar, 3), _num(ev.get("margin"), 3), _pattern_text(ev),
                    str(ev.get("unit", "")),
                )
            )  # fmt: skip
            if ev.get("note"):
                notes.append(f"  {key}: {ev['note']}")
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
        title = "evidence (margin: value past its bar; pattern: attention score, its margin)"
        return "\n".join([title, *lines, *notes])

    def planted_comparison(self) -> str:
        """Per class: planted heads, found heads, precision and recall."""
        planted = self.planted or {}
        scores = self.precision_recall or precision_recall(self.circuit, planted)
        found = {cls: heads_text(self.circuit.get(cls, [])) for cls in CLASSES}
        width = max(len(v) for v in found.values())
        rows = [
            (
                cls,
                heads_text(planted.get(cls, [])),
                f"{found[cls].ljust(width)}  precision {scores[cls]['precision']:.2f}, "
                f"recall {scores[cls]['recall']:.2f}",
            )
            for cls in CLASSES
        ]
        return comparison_text("planted vs found", "planted", "found", rows)

    def paper_comparison(self) -> str:
        """The published GPT-2 small circuit and numbers (labelled "paper") beside this
        run's (labelled "measured")."""
        rows = [
            (c, heads_text(PAPER_GPT2_SMALL[c]), heads_text(self.circuit.get(c, [])))
            for c in CLASSES
        ]
        paper = PAPER_METRICS
        rows += [
            ("logit difference", paper["logit difference IO − S"], f"{self.logit_diff:.2f}"),
            ("IO > S", paper["IO > S"], _pct(self.io_over_s)),
            ("P(IO)", paper["P(IO)"], _num(self.io_prob)),
            ("faithfulness F(C)/F(M)", paper["faithfulness F(C)/F(M)"], _pct(self.faithfulness)),
        ]
        title = "paper (Wang et al. 2022, GPT-2 small) vs measured"
        return comparison_text(title, "paper", "measured", rows)

    @property
    def is_paper_model(self) -> bool:
        """Is this GPT-2 small, the model the paper's circuit and numbers are for?"""
        return self.model in PAPER_MODELS

    def figure(self, n_layers: int | None = None, title: str | None = None):
        """The circuit as a diagram along the paper's paths (heads by layer and class)."""
        from interp.figures.ioi import circuit_diagram

        title = title or f"IOI circuit found in {self.model}"
        return circuit_diagram(self.circuit, n_layers or self.n_layers, title)


def _pattern_text(ev: Mapping[str, Any]) -> str:
    """An evidence entry's attention corroboration: ``END->IO 0.93 +0.63`` (``no`` appended
    when it misses its bar), ``n/a`` for causal-only classes, ``?`` for old runs."""
    name = ev.get("pattern")
    if name is None:
        return "?" if "corroborated" not in ev else ("yes" if ev["corroborated"] else "no")
    if name == "n/a" or "pattern_value" not in ev:
        return "n/a"
    text = f"{name} {ev['pattern_value']:.2f} {ev.get('pattern_margin', math.nan):+.2f}"
    return text if ev.get("corroborated", True) else text + " no"


def _num(value: float | None, digits: int = 2) -> str:
    return f"{(value if value is not None else math.nan):.{digits}f}"


def _pct(value: float | None) -> str:
    return f"{100 * (value if value is not None else math.nan):.1f}%"


def comparison_text(title: str, left: str, right: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """A titled three-column text table: name, ``left``, ``right``."""
    width = max(len(r[0]) for r in rows)
    w1 = max(len(left), *(len(r[1]) for r in rows))
    lines = [title, f"  {''.ljust(width)}  {left.ljust(w1)}  {right}"]
    lines += [f"  {name.ljust(width)}  {a.ljust(w1)}  {b}" for name, a, b in rows]
    return "\n".join(lines)


def stored_circuit(summary: Mapping[str, Any]) -> dict[str, list]:
    """The circuit (class -> [[layer, head], ...]) in a stored IOI run's summary, under
    ``circuit`` (or, in hand-made runs, ``classes`` with loosely written class names)."""
    circuit = summary.get("circuit") or summary.get("classes") or {}
    out: dict[str, list] = {}
    for name, heads in circuit.items():
        if isinstance(heads, list):
            out.setdefault(class_key(name), []).extend([list(parse_head(h)) for h in heads])
    return out


def behaviour_failures(logit_diff: float, io_over_s: float, thresholds: Thresholds) -> list[str]:
    """The IOI-behaviour bars the model misses (empty: it passes), each with the measured
    value beside the bar.

    >>> behaviour_failures(0.02, 0.55, Thresholds())[0]
    'IO > S in 55.0% of prompts (needs >= 90.0%)'
    """
    out = []
    if not io_over_s >= thresholds.min_io_over_s:
        out.append(
            f"IO > S in {io_over_s:.1%} of prompts (needs >= {thresholds.min_io_over_s:.1%})"
        )
    if not logit_diff >= thresholds.min_logit_diff:
        out.append(
            f"mean logit difference IO - S {logit_diff:.2f} "
            f"(needs >= {thresholds.min_logit_diff:.2f} logits)"
        )
    return out


def implausible_circuit(size: int, n_heads: int, thresholds: Thresholds) -> str | None:
    """The warning for a circuit of ``size`` of a model's ``n_heads`` heads, if it is
    implausibly large (more than ``max_circuit_fraction`` of all heads and more than the
    paper's whole circuit); else None.

    >>> implausible_circuit(119, 144, Thresholds())[:40]
    'implausible circuit: 119 of 144 heads (m'
    >>> implausible_circuit(13, 32, Thresholds()) is None  # reference:ioi's planted circuit
    True
    """
    t = thresholds
    if size > t.max_circuit_fraction * n_heads and size > t.max_circuit_heads:
        return (
            f"implausible circuit: {size} of {n_heads} heads (more than "
            f"{t.max_circuit_fraction:.0%} of all heads and more than the "
            f"{t.max_circuit_heads} of the paper's whole GPT-2 small circuit)"
        )
    return None


def run_ioi(
    model: Any,
    task: Any = None,
    thresholds: Thresholds | None = None,
    *,
    n_prompts: int = DEFAULT_PROMPTS,
    seed: int = 0,
    positions: Sequence[str] = NAMED_POSITIONS,
    planted: Mapping[str, Sequence] | None = None,
    log: Callable[[str], None] | None = None,
    force: bool = False,
) -> IOIRun:
    """The IOI study of ``model`` on ``task`` (an :func:`~interp.tasks.ioi.ioi_task`; by
    default ``ioi_task(model, n_prompts, seed)``, 100 prompts as in the paper), see the
    module docstring; ``thresholds`` are the discovery's (default: ``Thresholds()``).
    ``planted`` (default: the placement a ``reference:ioi`` model was built with) adds
    precision and recall per class; ``log`` gets one line per stage.

    Discovery needs real IOI behaviour: IO > S in at least ``thresholds.min_io_over_s`` of
    the prompts and a mean logit difference of at least ``thresholds.min_logit_diff``
    logits; otherwise an :class:`~interp.core.errors.InterpError` says which bar failed.
    ``force=True`` runs anyway and marks the run ``forced`` (with a warning).

    >>> from interp.core.models import load
    >>> from interp.tasks.ioi import ioi_task
    >>> from interp.studies.ioi_run import run_ioi
    >>> model = load("reference:ioi")
    >>> run = run_ioi(model, ioi_task(model, 8, seed=0))
    >>> run.circuit["name_mover"], run.faithfulness > 0.9, run.patch_resid_pre.shape
    ([[6, 1], [6, 3]], True, (8, 5))
    >>> fig = run.figure()  # the circuit diagram; save(run, model=model, config={}) stores it
    """
    import torch

    from interp.core.models import record_of
    from interp.methods.attribution import attribution_vs_exact
    from interp.methods.patching import patch_block, patch_heads, patch_resid
    from interp.methods.path_patching import path_patch
    from interp.tasks.ioi import check_has_heads, ioi_task

    say = log or (lambda line: None)
    start = time.perf_counter()
    record = record_of(model)
    check_has_heads(model)
    task = task if task is not None else ioi_task(model, n_prompts, seed=seed)
    positions = list(positions)
    with torch.no_grad():
        logits = model(task.clean_tokens)
    ld = task.logit_diff(logits)
    final = logits[torch.arange(task.n_prompts), task.end]
    top1 = float((final.argmax(-1) == task.answer_ids).float().mean())
    io_prob = float(final.softmax(-1).gather(1, task.answer_ids[:, None]).mean())
    ld_positive = float((ld > 0).float().mean())

    thresholds = thresholds or Thresholds()
    warnings: list[str] = []
    failed = behaviour_failures(float(ld.mean()), ld_positive, thresholds)
    if failed and not force:
        raise InterpError(
            f"{record.name} shows no IOI behaviour to explain on these prompts: "
            + "; ".join(failed)
            + ". Circuit discovery would turn noise into a circuit. Use a model that does IOI "
            "(reference:ioi, trained:ioi, GPT-2 small) or more prompts, or pass --force "
            "(run_ioi(force=True)) to run anyway with the result marked as forced"
        )
    if failed:
        warnings.append("forced past the IOI-behaviour gate: " + "; ".join(failed))
    say("\n[1/4] circuit discovery (DLA, path patching, ablation)")
    circuit = discover_ioi_circuit(model, task, thresholds, force=force)
    n_heads = model.cfg.n_layers * model.cfg.n_heads
    too_big = implausible_circuit(len(circuit.heads()), n_heads, thresholds)
    if too_big:
        warnings.append(too_big)
    say("[2/4] circuit evaluation (mean ablation over ABC)")
    evaluation = evaluate_circuit(model, task, circuit.circuit) if circuit.heads() else None
    say("[3/4] activation patching heatmaps, path patching into the logits")
    resid = patch_resid(model, task, positions=positions)
    attn_out = patch_block(model, task, "attn_out", positions=positions)
    mlp_out = patch_block(model, task, "mlp_out", positions=positions)
    heads_out = patch_heads(model, task, "z")
    to_logits = path_patch(model, task, desc="path patching -> logits")
    say("[4/4] attribution patching vs exact patching")
    attribution = attribution_vs_exact(model, task, exact=heads_out)

    if planted is None and record.is_reference:
        planted = (record.reference or {}).get("placement")
    f32 = lambda a: None if a is None else np.asarray(a, dtype=np.float32)  # noqa: E731
    return IOIRun(
        model=record.name,
        n_prompts=task.n_prompts,
        seed=task.info.get("seed"),
        circuit=circuit.circuit,
        logit_diff=circuit.clean_logit_diff,
        corrupted_logit_diff=circuit.corrupted_logit_diff,
        io_top1=top1,
        io_over_s=ld_positive,
        io_prob=io_prob,
        faithfulness=evaluation.faithfulness if evaluation else float("nan"),
        f_circuit=evaluation.f_circuit if evaluation else None,
        f_model=evaluation.f_model if evaluation else None,
        minimality=evaluation.minimality if evaluation else {},
        completeness=evaluation.completeness if evaluation else {},
        evidence=circuit.evidence,
        thresholds=circuit.thresholds,
        attribution_correlation=attribution.correlation,
        example_prompt=task.prompts[0],
        position_labels=positions,
        planted={c: [list(parse_head(h)) for h in hs] for c, hs in planted.items()}
        if planted
        else None,
        precision_recall=precision_recall(circuit.circuit, planted) if planted else None,
        minimality_threshold=evaluation.minimality_threshold if evaluation else 0.01,
        seconds=round(time.perf_counter() - start, 1),
        forced=bool(failed),
        warnings=warnings,
        sensitivity=circuit.sensitivity(),
        dla=f32(circuit.dla),
        dla_ablated=f32(circuit.dla_ablated),
        pp_logits=f32(to_logits.effect),
        pp_name_mover_q=f32(circuit.pp_name_mover_q),
        pp_s_inhibition_v=f32(circuit.pp_s_inhibition_v),
        pp_induction_k=f32(circuit.pp_induction_k),
        patch_resid_pre=f32(resid.normalised),
        patch_attn_out=f32(attn_out.normalised),
        patch_mlp_out=f32(mlp_out.normalised),
        patch_head_out=f32(heads_out.normalised),
        attribution=f32(attribution.attribution),
        attribution_exact=f32(attribution.exact),
        attn_end_to_io=f32(circuit.attn_end_to_io),
        attn_end_to_s=f32(circuit.attn_end_to_s),
        attn_s2_to_s1=f32(circuit.attn_s2_to_s1),
        attn_s2_to_s1_plus_1=f32(circuit.attn_s2_to_s1_plus_1),
        attn_previous_token=f32(circuit.attn_previous_token),
        minimality_scores=f32(evaluation.minimality_scores) if evaluation else None,
        pp_name_mover_kv=f32(circuit.pp_name_mover_kv),
        single_ablation=f32(circuit.single_ablation),
    )
