"""Edge-level IOI circuits scored the way MIB scores them: EAP, EAP-IG and exact patching.

For each method (``--method eap|eap-ig|exact|all``) every edge of the model's graph
(:mod:`interp.methods.graph`; 32,491 edges for GPT-2 small, 1,997 for ``reference:ioi``) is
scored on IOI prompts with their ABC corruption (:mod:`interp.methods.edges`), and the
scores are evaluated as MIB's circuit track does (:mod:`interp.methods.circuit_eval`):
faithfulness at 0.1% ... 100% of the edges, CPR (area under the signed-ranking curve, higher
is better) and CMD (area under |1 - f| of the absolute-ranking curve, lower is better).
On ``reference:ioi`` the AUROC of the scores against the planted circuit's edges is
printed; for every method the Jaccard overlap of its top-k edges across bootstrap
resamples of the prompts (stability; Méloux et al. report 0.67 on GPT-2 small IOI).
With GPT-2 small, MIB's published numbers are printed beside ours, labelled "paper".
Each method's circuit (kind ``edge_circuit``) and curve (kind ``edge_faithfulness``) are
stored as runs.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from interp.core.config import DeviceOptions, load_for, option
from interp.core.errors import InterpError
from interp.experiment import run_script

#: MIB circuit track, IOI, GPT-2 small (Mueller et al. 2025): (CPR, CMD), "paper"
PAPER = {
    "random": (0.25, 0.75),
    "eap": (1.20, 0.03),
    "eap-ig": (1.85, 0.03),
    "exact": (2.30, 0.02),
    "best 2025 entry": (2.43, 0.02),
}
METHOD_NAMES = ("eap", "eap-ig", "exact")


@dataclass
class Config(DeviceOptions):
    """Edge-level circuits on IOI: EAP, EAP-IG and exact edge patching, MIB's scoring."""

    model: str = option("reference:ioi", "model: reference:ioi, gpt2-small, a local directory")
    method: str = option("all", "eap, eap-ig, exact or all")
    placement_seed: int | None = option(None, "reference:ioi only: a random circuit placement")
    n_prompts: int = option(20, "number of IOI prompts")
    seed: int = option(0, "seed of the prompts and of the bootstrap")
    metric: str = option("logit_diff", "logit_diff, prob or kl")
    ablation: str = option("patching", "patching (ABC counterfactual) or mean")
    ig_steps: int = option(5, "EAP-IG interpolation steps (MIB: 5)")
    top_k: int = option(100, "edges in the top-k sets the bootstrap Jaccard compares")
    n_resamples: int = option(3, "bootstrap resamples for the Jaccard overlap (0: skip)")
    store: bool = option(True, "record each circuit and curve in the results store")
    json: str | None = option(None, "write the summary JSON to this path")


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import record_of, reference_name
    from interp.methods.circuit_eval import (
        auroc,
        bootstrap_jaccard,
        faithfulness_curve,
        model_planted_edges,
    )
    from interp.methods.edges import edge_scores, prepare_edge_runs
    from interp.methods.graph import EdgeGraph
    from interp.results.base import save
    from interp.tasks.ioi import ioi_task

    methods = METHOD_NAMES if config.method == "all" else (config.method,)
    if any(m not in METHOD_NAMES for m in methods):
        raise InterpError(f"--method must be one of {METHOD_NAMES} or all; got {config.method!r}")
    if config.n_prompts < 1:
        raise InterpError(f"--n-prompts must be at least 1; got {config.n_prompts}")
    if config.n_resamples and config.n_prompts < 2:
        raise InterpError("the bootstrap needs at least 2 prompts (or --n-resamples 0)")
    name = config.model
    if config.placement_seed is not None:
        if name != "reference:ioi":
            raise InterpError("--placement-seed applies to reference:ioi only")
        name = reference_name("ioi", placement_seed=config.placement_seed)
    model = load_for(config, name)
    record = record_of(model)
    graph = EdgeGraph.of(model)
    task = ioi_task(model, n_prompts=config.n_prompts, seed=config.seed)
    truth = model_planted_edges(model)
    gpt2 = record.name in ("gpt2", "gpt2-small")
    print(f"{record.name}: {graph.n_layers} layers x {graph.n_heads} heads, "
          f"{graph.n_edges} edges; {task.n_prompts} IOI prompts (ABC corruption)")  # fmt: skip
    runs = prepare_edge_runs(model, task, config.metric, config.ablation)
    print(f"  {runs.readout.name}: clean {runs.base_value:.3f}, every edge replaced "
          f"{runs.replaced_value:.3f}")  # fmt: skip
    summary: dict[str, Any] = {"model": record.name, "n_edges": graph.n_edges,
                               "n_prompts": task.n_prompts}  # fmt: skip
    for method in methods:
        circuit = edge_scores(model, task, method, runs=runs, ig_steps=config.ig_steps)
        curve = faithfulness_curve(model, task, circuit, runs=runs)
        entry: dict[str, Any] = {
            "cpr": curve.cpr,
            "cmd": curve.cmd,
            "seconds": circuit.seconds,
            "faithfulness": curve.faithfulness.tolist(),
            "faithfulness_abs": curve.faithfulness_abs.tolist(),
            "auroc": None if truth is None else auroc(circuit.scores, truth, graph.real),
            "jaccard": None,
        }
        if config.n_resamples:
            entry["jaccard"], entry["jaccard_resamples"] = bootstrap_jaccard(
                model, task, method, k=config.top_k, n_resamples=config.n_resamples,
                seed=config.seed, metric=config.metric, ablation=config.ablation,
                reference=circuit,
            )  # fmt: skip
        summary[method] = entry
        line = f"  {method:7s} measured CPR {curve.cpr:5.2f}  CMD {curve.cmd:5.2f}"
        if entry["auroc"] is not None:
            line += f"  AUROC {entry['auroc']:.3f}"
        if entry["jaccard"] is not None:
            line += f"  Jaccard@{config.top_k} {entry['jaccard']:.2f}"
        line += f"  ({circuit.seconds:.1f} s)"
        if gpt2:
            cpr, cmd = PAPER[method]
            line += f"   | paper CPR {cpr:.2f}  CMD {cmd:.2f}"
        print(line)
        print("          f(signed) " + " ".join(f"{v:5.2f}" for v in curve.faithfulness))
        if config.store:
            cfg = {**asdict(config), "method": method}
            save(circuit, model=model, config=cfg, seed=config.seed)
            save(curve, model=model, config=cfg, seed=config.seed)
    if gpt2:
        for label in ("random", "best 2025 entry"):
            cpr, cmd = PAPER[label]
            print(f"  paper {label}: CPR {cpr:.2f}  CMD {cmd:.2f}")
        print("  paper: on IOI with logit difference EAP and EAP-IG plateau near 0.6 "
              "faithfulness, exact patching exceeds 0.8")  # fmt: skip
    return summary


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
