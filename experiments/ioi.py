"""Indirect-object identification: trace the circuit end to end (Wang et al. 2022).

On IOI prompts ("When Mary and John went to the store, John gave a drink to" -> " Mary"),
in the paper's order: direct logit attribution finds the (negative) name movers; path
patching into their queries finds the S-inhibition heads; into those heads' values, the
induction and duplicate-token heads; into the induction heads' keys, the previous-token
heads; mean-ablating the name movers reveals the backup name movers (a head that rises when
the others are knocked out is a backup even if it also writes directly). Every head's
evidence is printed with its margin from its bar and the attention score that corroborates
its class, and a threshold-sensitivity table shows the circuit with every causal bar scaled
x0.5 ... x2 (scores reused, no new forward pass). 100 prompts by default, as in the paper;
the names are the 100 of ``interp.tasks.ioi.IOI_NAMES`` that are single tokens of the
model (the reference models: their 40). The circuit is then
mean-ablated around (ABC means per template and position) to measure faithfulness F(C)/F(M),
completeness and minimality. Activation-patching heatmaps (residual stream, attention and MLP
outputs, every head), path patching into the logits and attribution patching (beside exact
patching) are stored with the run for the dashboard.

``--model reference:ioi`` (default; ``--placement-seed N`` draws a random placement of the
planted circuit) prints planted vs found heads and per-class precision/recall; with
``--model gpt2-small`` the published circuit is printed beside the measured one.

The pipeline is :func:`interp.studies.ioi_run.run_ioi`; this script parses the config, loads
the model, builds the task, prints the run's report and stores it (kind ``ioi``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interp.core.config import DeviceOptions, load_for, option
from interp.core.errors import InterpError
from interp.core.ioi_roles import PAPER_MODELS
from interp.experiment import run_script


@dataclass
class Config(DeviceOptions):
    """Trace the IOI circuit (Wang et al. 2022)."""

    model: str = option("reference:ioi", "model: reference:ioi, gpt2-small, a local directory")
    n_prompts: int = option(
        100, "number of IOI prompts (ABBA and BABA over the paper's templates; the paper: 100+)"
    )
    seed: int = option(0, "seed of the prompt sampler")
    placement_seed: int | None = option(
        None, "for reference:ioi: plant the circuit at a random placement drawn with this seed"
    )
    dla_threshold: float = option(0.1, "|DLA| of a (negative) name mover, fraction of clean LD")
    path_threshold: float = option(0.05, "path-patching effect, fraction of clean-corrupted gap")
    backup_threshold: float = option(0.05, "DLA rise of a backup name mover, fraction of LD")
    force: bool = option(
        False,
        "run discovery even when the model shows no IOI behaviour (IO > S in < 90% of prompts "
        "or mean logit difference < 1); the stored run is marked forced",
    )
    store: bool = option(True, "record the run in the results store (kind 'ioi')")
    json: str | None = option(None, "write the summary JSON to this path")


def model_name(config: Config) -> str:
    from interp.core.models import REFERENCE_PREFIX, parse_reference_name, reference_name

    if config.placement_seed is None:
        return config.model
    if not config.model.startswith(REFERENCE_PREFIX + "ioi"):
        raise InterpError("--placement-seed only applies to --model reference:ioi")
    kind, params = parse_reference_name(config.model)
    return reference_name(kind, **{**params, "placement_seed": config.placement_seed})


def print_paper_comparison(summary: dict[str, Any]) -> None:
    """The published GPT-2 small circuit and numbers (PAPERS.md) beside the measured ones."""
    from interp.studies.ioi_run import IOIRun

    print("\n" + IOIRun.from_parts(summary, {}).paper_comparison())


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import record_of
    from interp.studies.ioi_circuit import Thresholds
    from interp.studies.ioi_run import run_ioi
    from interp.tasks.ioi import check_has_heads, ioi_task

    start = time.perf_counter()
    name = model_name(config)
    print(f"loading {name} ...", flush=True)
    model = load_for(config, name)
    record = record_of(model)
    check_has_heads(model)
    task = ioi_task(model, config.n_prompts, seed=config.seed)
    print(f"{task.n_prompts} prompts, e.g. {task.prompts[0]!r} -> {task.info['io'][0]!r}")
    print(f"  corrupted (ABC): {task.corrupted_prompts[0]!r}", flush=True)

    thresholds = Thresholds(
        dla=config.dla_threshold, path=config.path_threshold, backup=config.backup_threshold
    )
    run = run_ioi(
        model, task, thresholds, log=lambda line: print(line, flush=True), force=config.force
    )
    print("\n" + run.report())
    if {record.name, Path(record.location).name} & set(PAPER_MODELS):
        print("\n" + run.paper_comparison())
    # seconds: the whole script, loading included (as stored before)
    run = dataclasses.replace(run, seconds=round(time.perf_counter() - start, 1))
    if config.store:
        from interp.results.base import save

        stored = save(run, model=record, config=asdict(config), seed=config.seed)
        forced = ", marked forced" if run.forced else ""
        print(f"\nstored run {stored.run_id} (kind 'ioi'{forced})")
    print(f"done in {run.seconds:.0f} s")
    return run.summary()


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
