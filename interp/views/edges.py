"""Dashboard compute for edge circuits (no Streamlit): stored circuits as rows, the edge
table of one circuit, and the exact effect of one clicked edge beside its estimate."""

from __future__ import annotations

from typing import Any

import numpy as np

from interp.core.errors import InterpError
from interp.methods.graph import Circuit


def circuit_runs(store: Any) -> list[dict[str, Any]]:
    """Stored ``edge_circuit`` runs, newest first, as rows for a picker."""
    rows = []
    for r in store.list(kind="edge_circuit"):
        s = r.summary
        rows.append({"run id": r.run_id, "model": r.model_name, "method": s.get("method"),
                     "metric": s.get("metric"), "prompts": s.get("n_prompts")})  # fmt: skip
    return rows


def edge_rows(circuit: Circuit, top: int = 50) -> list[dict[str, Any]]:
    """The ``top`` edges by |score| as rows: edge name, score, rank."""
    g = circuit.graph
    chosen = circuit.top_n(min(top, circuit.n_edges), prune=False).in_graph
    pairs = sorted(zip(*np.nonzero(chosen)), key=lambda sd: -abs(float(circuit.scores[sd])))
    return [
        {"rank": i + 1, "edge": g.edge_name(int(s), int(d)), "score": float(circuit.scores[s, d])}
        for i, (s, d) in enumerate(pairs)
    ]


def edge_check(model: Any, task: Any, circuit: Circuit, edge: str) -> dict[str, float]:
    """Exact edge patching of one edge (:func:`interp.methods.edges.exact_effects`) beside
    the circuit's score for it, in the circuit's sign (the metric's loss)."""
    from interp.methods.edges import exact_effects, importance_sign, prepare_edge_runs

    g = circuit.graph
    if (model.cfg.n_layers, model.cfg.n_heads) != (g.n_layers, g.n_heads):
        raise InterpError("the circuit was scored on a model of another shape")
    s, d = g.parse_edge(edge)
    runs = prepare_edge_runs(model, task, circuit.metric, circuit.ablation, circuit.direction)
    only = np.zeros(g.real.shape, dtype=bool)
    only[s, d] = True
    effect = float(exact_effects(model, task, runs, only=only)[s, d])
    return {"estimate": float(circuit.scores[s, d]),
            "exact": importance_sign(runs.readout, runs.direction) * effect}  # fmt: skip


def edge_check_ioi(
    model: Any, n_prompts: int, seed: int, run_id: str, root: str, edge: str
) -> dict[str, float]:
    """:func:`edge_check` of a stored IOI circuit on the prompts it was scored on (the same
    IOI task: ``n_prompts`` and ``seed``), for the dashboard."""
    from interp.results.base import load_result
    from interp.results.store import ResultsStore
    from interp.tasks.ioi import ioi_task

    circuit = load_result(run_id, store=ResultsStore(root))
    if not isinstance(circuit, Circuit):
        raise InterpError(f"run {run_id} is not an edge circuit")
    return edge_check(model, ioi_task(model, n_prompts=max(n_prompts, 1), seed=seed), circuit, edge)
