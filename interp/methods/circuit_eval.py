"""Scoring edge circuits as MIB does: faithfulness curves, CPR, CMD; ground truth; stability.

**Faithfulness** of a circuit C (Mueller et al. 2025, MIB circuit track):
``f(C) = (m(C) - m(empty)) / (m(N) - m(empty))``, where running C means every edge outside C
carries its corrupted (or mean) value and every edge in C its value in this run
(:meth:`interp.methods.edge_forward.GraphForward.circuit_metric`); ``N`` is the full model
(the clean run), ``empty`` has every edge replaced (the corrupted run). MIB evaluates the
top ``int(p * n_edges)`` edges for ``p`` in :data:`MIB_FRACTIONS` (0.1% ... 100%) and
integrates with the trapezoidal rule over ``p`` itself (not its logarithm):

* **CPR** — the area under ``f`` with edges ranked by their *signed* scores (higher is
  better; ``f`` can exceed 1);
* **CMD** — the area under ``|1 - f|`` with edges ranked by *absolute* scores (lower is
  better).

**Ground truth**: :func:`planted_edges` lists the edges of ``reference:ioi``'s planted
circuit that carry name information (what the IOI corruption changes), derived from the
placement and the builder's reads (:mod:`interp.core.reference.ioi`); :func:`auroc` scores
edge scores against it.

**Stability** (Méloux et al. 2025): :func:`bootstrap_jaccard` rescores on prompts
resampled with replacement and reports the Jaccard overlap of the top-k edge sets.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch

from interp.core.errors import InterpError
from interp.core.metrics import MetricLike
from interp.methods.edges import EdgeRuns, edge_scores, prepare_edge_runs
from interp.methods.graph import Circuit, EdgeGraph
from interp.results.base import Result

#: MIB's edge fractions (0.1%, 0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%, 50%, 100%)
MIB_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def trapezoid(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> float:
    """``sum_i (x[i+1] - x[i]) * (y[i] + y[i+1]) / 2`` (MIB's integration rule).

    >>> trapezoid([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    0.75
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


@dataclasses.dataclass(frozen=True)
class FaithfulnessCurve(Result):
    """Faithfulness at MIB's edge fractions, signed ranking (for CPR) and absolute ranking
    (for CMD), with the anchors ``m(N)`` (clean) and ``m(empty)`` (all edges replaced)."""

    kind: ClassVar[str] = "edge_faithfulness"
    fractions: np.ndarray
    n_kept: np.ndarray  # edges kept at each fraction (before pruning), int(p * n_edges)
    faithfulness: np.ndarray  # signed ranking
    faithfulness_abs: np.ndarray  # absolute ranking
    cpr: float
    cmd: float
    full_value: float
    empty_value: float
    method: str = ""

    def figure(self):
        from interp.figures.edges import faithfulness_figure

        return faithfulness_figure(
            self.fractions,
            {"signed (CPR)": self.faithfulness, "|score| (CMD)": self.faithfulness_abs},
            title=f"{self.method}: CPR {self.cpr:.2f}, CMD {self.cmd:.2f}",
        )


def circuit_values(
    runs: EdgeRuns, task: Any, keeps: list[np.ndarray], chunk: int = 4
) -> np.ndarray:
    """The mean metric with each circuit (boolean ``[n_sources, n_destinations]``)."""
    out = []
    f = runs.forward
    for i in range(0, len(keeps), chunk):
        keep = torch.as_tensor(np.stack(keeps[i : i + chunk]))
        values = f.circuit_metric(runs.x_base, task.end, runs.replacement, keep, runs.readout.at)
        out += values.float().mean(1).cpu().tolist()
    return np.asarray(out)


def faithfulness_curve(
    model: Any,
    task: Any,
    circuit: Circuit,
    *,
    fractions: tuple[float, ...] = MIB_FRACTIONS,
    runs: EdgeRuns | None = None,
    metric: MetricLike = "logit_diff",
) -> FaithfulnessCurve:
    """MIB's evaluation of ``circuit``'s scores on ``task``: the curve at ``fractions``, CPR
    (signed ranking) and CMD (absolute ranking). Runs on the circuit's own ablation.

    >>> import interp
    >>> from interp.methods.edges import edge_scores
    >>> model = interp.load("reference:ioi")
    >>> task = interp.ioi_task(model, n_prompts=4)
    >>> curve = faithfulness_curve(model, task, edge_scores(model, task, "eap"))
    >>> round(float(curve.faithfulness[-1]), 6)
    1.0
    """
    runs = runs or prepare_edge_runs(model, task, metric, circuit.ablation)
    if runs.direction != "noising":
        raise InterpError("faithfulness runs circuits on the clean input (noising runs)")
    fractions = tuple(float(p) for p in fractions)
    if list(fractions) != sorted(fractions) or not fractions or fractions[0] < 0:
        raise InterpError(f"fractions must increase from >= 0; got {fractions}")
    counts = [int(p * circuit.n_edges) for p in fractions]
    keeps = [circuit.top_n(n, absolute=False).in_graph for n in counts]
    keeps += [circuit.top_n(n, absolute=True).in_graph for n in counts]
    values = circuit_values(runs, task, keeps)
    full, empty = runs.base_value, runs.replaced_value
    f = (values - empty) / (full - empty)
    signed, absolute = f[: len(counts)], f[len(counts) :]
    x = np.asarray(fractions)
    return FaithfulnessCurve(
        fractions=x,
        n_kept=np.asarray(counts),
        faithfulness=signed,
        faithfulness_abs=absolute,
        cpr=trapezoid(x, signed),
        cmd=trapezoid(x, np.abs(1 - absolute)),
        full_value=full,
        empty_value=empty,
        method=circuit.method,
    )


# -- ground truth ---------------------------------------------------------------------------
#: the planted IOI circuit's edges that carry name information, as
#: (sender role, receiver role, reader input); "input" is the embedding, "logits" the output.
#: Positional and constant reads (previous-token heads' query/key, the anchor, sink and
#: is-name reads) are planted too but are the same in the clean and ABC prompts, so no
#: counterfactual score can see them; they are left out.
PLANTED_READS = (
    ("input", "previous_token", "v"),
    ("input", "duplicate_token", "q"),
    ("input", "duplicate_token", "k"),
    ("input", "duplicate_token", "v"),
    ("input", "induction", "q"),
    ("previous_token", "induction", "k"),
    ("previous_token", "induction", "v"),
    ("duplicate_token", "s_inhibition", "k"),
    ("duplicate_token", "s_inhibition", "v"),
    ("induction", "s_inhibition", "k"),
    ("induction", "s_inhibition", "v"),
    ("s_inhibition", "name_mover", "q"),
    ("input", "name_mover", "k"),
    ("input", "name_mover", "v"),
    ("s_inhibition", "negative_name_mover", "q"),
    ("input", "negative_name_mover", "k"),
    ("input", "negative_name_mover", "v"),
    ("s_inhibition", "backup_name_mover", "q"),
    ("name_mover", "backup_name_mover", "q"),
    ("negative_name_mover", "backup_name_mover", "q"),
    ("input", "backup_name_mover", "k"),
    ("input", "backup_name_mover", "v"),
    ("name_mover", "logits", ""),
    ("negative_name_mover", "logits", ""),
    ("backup_name_mover", "logits", ""),
)


def planted_edges(placement: dict[str, list], n_layers: int, n_heads: int) -> np.ndarray:
    """``[n_sources, n_destinations]`` bool: the planted edges (:data:`PLANTED_READS`) of a
    ``reference:ioi`` placement (``record_of(model).reference["placement"]``); pairs whose
    sender is not upstream of the receiver are not edges and are skipped."""
    g = EdgeGraph(n_layers, n_heads)
    truth = np.zeros(g.real.shape, dtype=bool)
    for sender, receiver, x in PLANTED_READS:
        sources = [0] if sender == "input" else [g.head_source(*lh) for lh in placement[sender]]
        if receiver == "logits":
            dests = [g.logits_destination]
        else:
            dests = [g.head_destination(lyr, h, x) for lyr, h in placement[receiver]]
        for s in sources:
            for d in dests:
                truth[s, d] = g.real[s, d]
    return truth


def model_planted_edges(model: Any) -> np.ndarray | None:
    """The planted edges of a ``reference:ioi`` model (None for any other model)."""
    from interp.core.models import record_of

    try:
        reference = record_of(model).reference
    except InterpError:
        return None
    if not reference or reference.get("kind") != "ioi":
        return None
    return planted_edges(reference["placement"], model.cfg.n_layers, model.cfg.n_heads)


def auroc(scores: np.ndarray, truth: np.ndarray, real: np.ndarray | None = None) -> float:
    """Area under the ROC curve of ``|scores|`` against ``truth`` over the graph's edges
    (the probability that a planted edge outscores an unplanted one; ties count half).

    >>> auroc(np.array([3.0, -2.0, 0.5, 0.1]), np.array([True, True, False, False]))
    1.0
    """
    real = np.ones_like(truth, dtype=bool) if real is None else real
    s, t = np.abs(np.nan_to_num(np.asarray(scores, float)[real])), np.asarray(truth)[real]
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        raise InterpError("AUROC needs both planted and unplanted edges")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# -- stability ------------------------------------------------------------------------------
def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A and B| / |A or B| of two boolean edge sets (1.0 for two empty sets)."""
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum()) / union


def bootstrap_jaccard(
    model: Any,
    task: Any,
    method: str,
    *,
    k: int = 100,
    n_resamples: int = 5,
    seed: int = 0,
    metric: MetricLike = "logit_diff",
    ablation: str = "patching",
    reference: Circuit | None = None,
    size: int | None = None,
) -> tuple[float, list[float]]:
    """Stability of ``method``'s top-``k`` edges: rescore on ``n_resamples`` bootstrap
    resamples of ``size`` prompts (default: all of them; drawn with replacement, seeded)
    and return the mean Jaccard overlap of each resample's top-k set with the full-data
    top-k set, and the overlaps."""
    n = int(task.n_prompts)
    size = n if size is None else int(size)
    if n < max(2, size) or size < 1 or n_resamples < 1:
        raise InterpError(
            f"a bootstrap of {n_resamples} resamples of {size} prompts needs at least "
            f"max(2, {size}) prompts and one resample; the task has {n} prompts"
        )
    reference = reference or edge_scores(model, task, method, metric=metric, ablation=ablation)
    k = min(k, reference.n_edges)
    top = reference.top_n(k, prune=False).in_graph
    rng = np.random.default_rng(seed)
    overlaps = []
    for _ in range(n_resamples):
        index = torch.as_tensor(rng.integers(0, n, size=size))
        sub = task.subset(index)
        scored = edge_scores(model, sub, method, metric=metric, ablation=ablation)
        overlaps.append(jaccard(top, scored.top_n(k, prune=False).in_graph))
    return float(np.mean(overlaps)), overlaps
