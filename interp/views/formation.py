"""Circuit formation over training (:mod:`interp.studies.formation`) for the dashboard: a
formation run (stored, or measured now on the checkpoints shipped with ``trained:ioi``) and,
at any of its steps, the IOI metric, the head grid (every head's DLA at END and attention
scores as layer x head heatmaps) and the circuit at that step (class -> heads, for
:func:`~interp.views.circuit.circuit_figure`).

The circuit at a step is what the formation study can say without patching: a head is a
name mover when its DLA at END on IO − S reaches the run's absolute threshold
(``threshold_logits``: ``dla_threshold`` x the final checkpoint's logit difference, the
same number of logits at every step), a negative name mover when its DLA is at most minus
that threshold. Classes that need path patching (S-inhibition, induction, duplicate-token)
are not claimed from attention scores alone; the scores are drawn beside the circuit.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from interp.core.errors import InterpError
from interp.studies.formation import ATTENTION, CircuitFormation

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.results.store import RunRecord

#: the trained model whose shipped checkpoints are measured when no formation run is stored
SHIPPED_KIND = "ioi"
#: IOI prompts per checkpoint when measuring the shipped checkpoints here (the study's
#: ``experiments/train.py`` default is 60; 24 keeps the page's first draw short on a CPU)
SHIPPED_PROMPTS = 24
#: the command that stores a formation run (trains ``trained:ioi``'s recipe, resumable)
FORMATION_COMMAND = "python experiments/train.py --recipe ioi --out runs/ioi"
#: titles of the attention scores kept per step (keys of interp.studies.formation.ATTENTION)
ATTENTION_TITLES = {
    "end_to_io": "attention END -> IO",
    "end_to_s1": "attention END -> S1",
    "end_to_s2": "attention END -> S2",
    "s2_to_s1": "attention S2 -> S1 (duplicate-token pattern)",
    "s2_to_s1_plus_1": "attention S2 -> S1+1 (induction pattern)",
}
assert set(ATTENTION_TITLES) == set(ATTENTION)


@dataclasses.dataclass(frozen=True)
class FormationSource:
    """A formation run and where it came from: ``origin`` is ``"stored"`` (``run_id`` names
    the run) or ``"computed"`` (measured now on the shipped checkpoints; ``run_id`` None)."""

    result: CircuitFormation
    origin: str
    model: str
    run_id: str | None
    note: str

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.result.steps]


def formation_records(model_name: str | None = None, root: str | None = None) -> list[RunRecord]:
    """The stored ``circuit_formation`` runs (newest first), of ``model_name`` when given."""
    from interp.results.store import ResultsStore

    records = ResultsStore(root).list(CircuitFormation.kind)
    return [r for r in records if model_name is None or r.model_name == model_name]


def stored_formation(run_id: str, root: str | None = None) -> FormationSource:
    """A stored ``circuit_formation`` run (``experiments/train.py`` stores one)."""
    from interp.results.store import ResultsStore

    store = ResultsStore(root)
    record = store.get(run_id)
    if record.kind != CircuitFormation.kind:
        raise InterpError(f"run {run_id} is a {record.kind!r} run, not a circuit_formation run")
    result = CircuitFormation.from_parts(record.summary, store.arrays(run_id))
    return FormationSource(
        result=result,
        origin="stored",
        model=record.model_name,
        run_id=run_id,
        note=(
            f"stored run {run_id} of {record.model_name} ({len(result.steps)} checkpoints, "
            f"{result.n_prompts} prompts), stored {record.started_at[:19].replace('T', ' ')}"
        ),
    )


def shipped_formation(
    kind: str = SHIPPED_KIND, n_prompts: int = SHIPPED_PROMPTS, device: str = "auto"
) -> FormationSource:
    """Measure circuit formation now on the checkpoints shipped with ``trained:KIND`` and
    its final model (a few checkpoints: seconds to a minute on a CPU).

    >>> src = shipped_formation(n_prompts=8)
    >>> src.origin, src.steps
    ('computed', [500, 650, 2000])
    """
    from interp.core.trained import TRAINED_PREFIX, checkpoints, locate, training_record
    from interp.studies.formation import circuit_formation

    final = locate(kind)  # a clear error when the weights are not shipped
    shipped = checkpoints(kind)
    if not shipped:
        raise InterpError(
            f"{TRAINED_PREFIX}{kind} ships no training checkpoints to measure; store a "
            f"formation run with `{FORMATION_COMMAND}`"
        )
    record = training_record(kind)
    final_step = int(record["step"])
    points = [(s, d) for s, d in shipped if s != final_step] + [(final_step, final)]
    name = TRAINED_PREFIX + kind
    result = circuit_formation(
        points,
        n_prompts=n_prompts,
        device=device,
        history=record.get("history"),
        run=f"{name} (shipped checkpoints)",
    )
    return FormationSource(
        result=result,
        origin="computed",
        model=name,
        run_id=None,
        note=(
            f"measured now on the {len(shipped)} checkpoints shipped with {name} and its final "
            f"model (steps {', '.join(str(int(s)) for s in result.steps)}; {n_prompts} "
            "prompts): no circuit_formation run is stored"
        ),
    )


def formation_source(
    model_name: str | None = None,
    root: str | None = None,
    n_prompts: int = SHIPPED_PROMPTS,
    device: str = "auto",
) -> FormationSource:
    """The newest stored formation run (of ``model_name`` when given), else one measured now
    on the checkpoints shipped with ``trained:ioi``; ``.origin`` says which."""
    records = formation_records(model_name, root)
    if records:
        return stored_formation(records[0].run_id, root)
    return shipped_formation(SHIPPED_KIND, n_prompts, device)


# -- one step ---------------------------------------------------------------------------------
def step_index(result: CircuitFormation, step: int) -> int:
    """The position of training step ``step`` among the run's checkpoints."""
    steps = [int(s) for s in result.steps]
    if int(step) not in steps:
        raise InterpError(f"step {step} is not a checkpoint of this run; steps: {steps}")
    return steps.index(int(step))


def step_circuit(result: CircuitFormation, step: int) -> dict[str, list[list[int]]]:
    """The circuit at ``step`` as class -> ``[[layer, head], ...]``: name movers (DLA at END
    >= the run's threshold in logits) and negative name movers (DLA <= minus it), strongest
    first; classes with no head are left out."""
    dla = result.dla[step_index(result, step)]
    threshold = float(result.threshold_logits)
    circuit: dict[str, list[list[int]]] = {}
    for cls, mask, order in (
        ("name_mover", dla >= threshold, -dla),
        ("negative_name_mover", dla <= -threshold, dla),
    ):
        heads = sorted(
            np.argwhere(mask & (threshold > 0)).tolist(), key=lambda h: order[h[0], h[1]]
        )
        if heads:
            circuit[cls] = heads
    return circuit


@dataclasses.dataclass(frozen=True)
class FormationStep:
    """One checkpoint of a formation run: its metrics, head grid and circuit."""

    step: int
    index: int
    result: CircuitFormation
    circuit: dict[str, list[list[int]]]

    @property
    def io_over_s(self) -> float:
        return float(self.result.io_over_s[self.index])

    @property
    def logit_diff(self) -> float:
        return float(self.result.logit_diff[self.index])

    @property
    def loss(self) -> float | None:
        value = float(self.result.loss[self.index])
        return None if np.isnan(value) else value

    @property
    def n_layers(self) -> int:
        return int(self.result.dla.shape[1])

    @property
    def threshold_logits(self) -> float:
        return float(self.result.threshold_logits)

    def metrics(self) -> dict[str, str]:
        """Headline numbers at this step (measured), for ``st.metric``."""
        return {
            "IO > S": f"{self.io_over_s:.1%}",
            "logit difference IO − S": f"{self.logit_diff:.2f}",
            "training loss": "—" if self.loss is None else f"{self.loss:.3f}",
            "name movers": str(len(self.circuit.get("name_mover", []))),
        }

    def dla_figure(self) -> go.Figure:
        """DLA at END (IO − S) per [layer, head] at this step; the colour range is the
        run's largest |DLA| at any step, so moving the slider compares like with like."""
        from interp.figures.ioi import heatmap

        z = self.result.dla[self.index]
        bound = float(np.nanmax(np.abs(self.result.dla))) or 1.0
        fig = heatmap(
            z,
            list(range(z.shape[1])),
            list(range(z.shape[0])),
            f"direct logit attribution at END (IO − S), step {self.step} "
            f"(name-mover threshold {self.threshold_logits:.2f} logits)",
            "head",
            "layer",
            "logit",
        )
        fig.update_traces(zmin=-bound, zmax=bound)
        return fig

    def attention_figures(self) -> list[go.Figure]:
        """The attention scores per [layer, head] at this step (END -> IO / S1 / S2,
        S2 -> S1 / S1+1), each on the fixed range 0 to 1."""
        import plotly.graph_objects as go

        figures = []
        for key in ATTENTION:
            z = getattr(self.result, key)[self.index]
            n_layers, n_heads = z.shape
            fig = go.Figure(
                go.Heatmap(
                    z=z,
                    x=[str(h) for h in range(n_heads)],
                    y=[str(layer) for layer in range(n_layers)],
                    colorscale="Blues",
                    zmin=0.0,
                    zmax=1.0,
                    colorbar=dict(title="attention"),
                    hovertemplate="layer %{y}, head %{x}<br>attention %{z:.3f}<extra></extra>",
                )
            )
            fig.update_layout(
                title=f"{ATTENTION_TITLES[key]}, step {self.step}",
                xaxis=dict(title="head"),
                yaxis=dict(title="layer", autorange="reversed", dtick=1),
                height=160 + 30 * n_layers,
                margin=dict(l=10, r=10, t=60, b=40),
            )
            figures.append(fig)
        return figures

    def circuit_figure(self) -> go.Figure:
        """The circuit at this step as the IOI diagram (heads by class, arrows to logits)."""
        from interp.views.circuit import circuit_figure

        return circuit_figure(self.circuit, self.n_layers, f"circuit at step {self.step}")

    def head_rows(self) -> list[dict[str, Any]]:
        """One row per head in the circuit: class, DLA and where it reads from at END."""
        from interp.core.ioi_roles import label

        i, r = self.index, self.result
        rows = []
        for cls, heads in self.circuit.items():
            for layer, head in heads:
                rows.append(
                    {
                        "head": f"{layer}.{head}",
                        "class": label(cls),
                        "DLA (logits)": round(float(r.dla[i, layer, head]), 3),
                        "reads from (END)": r.reads_from(i, layer, head),
                        "END -> IO": round(float(r.end_to_io[i, layer, head]), 3),
                        "END -> S2": round(float(r.end_to_s2[i, layer, head]), 3),
                    }
                )
        return rows


def formation_step(result: CircuitFormation, step: int) -> FormationStep:
    """The checkpoint ``step`` of a formation run (:class:`FormationStep`).

    >>> view = formation_step(shipped_formation().result, 2000)
    >>> view.circuit
    {'name_mover': [[1, 3]]}
    """
    return FormationStep(
        step=int(step),
        index=step_index(result, step),
        result=result,
        circuit=step_circuit(result, step),
    )


def formation_curve(result: CircuitFormation, step: int | None = None) -> go.Figure:
    """The run's formation figure (:meth:`CircuitFormation.figure`), ``step`` marked."""
    fig = result.figure()
    if step is not None:
        fig.add_vline(x=int(step), line_dash="solid", line_color="rgba(0,0,0,0.35)")
    return fig
