"""Ablate any set of heads, neurons or layers on a task and report the metric change.

``--components L6H1 L6H3 L5N12 L3.mlp L2.attn L4.resid`` (see
:class:`interp.core.interventions.Component`), ``--method``:

* ``zero`` — multiply the component's activation by 0;
* ``mean`` — replace it by its mean over the task's corrupted distribution (for IOI: p_ABC),
  per template and per position, as Wang et al. 2022 do;
* ``resample`` — replace it by its value on the corrupted prompt of another, randomly drawn
  prompt of the same template (resample ablation, Chan et al. 2022), seeded.

The library function is :func:`interp.ablate` (:mod:`interp.methods.ablation`). Prints the
metric (``--metric``: mean logit difference answer − wrong at END by default) and the
answer's top-1 rate before and after.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass
from typing import Any

from interp.core.config import DeviceOptions, load_for, option
from interp.core.errors import InterpError
from interp.experiment import run_script


@dataclass
class Config(DeviceOptions):
    """Ablate components on a task and report the metric change."""

    model: str = option("reference:ioi", "model: reference:ioi, gpt2-small, a local directory")
    task: str = option("ioi", "task name (see interp.tasks.TASKS)")
    components: list[str] = option([], "components: L6H1 (head), L5N12 (neuron), L3.mlp, ...")
    method: str = option("mean", "zero, mean or resample")
    metric: str = option("logit_diff", "logit_diff, prob or kl (to the unablated run)")
    n_prompts: int = option(50, "number of prompts")
    seed: int = option(0, "seed of the prompts and of resampling")
    store: bool = option(False, "record the run in the results store (kind 'ablation')")
    json: str | None = option(None, "write the summary JSON to this path")


def main(config: Config) -> dict[str, Any]:
    from interp.core.interventions import Component
    from interp.core.models import record_of
    from interp.methods.ablation import METHODS, ablate
    from interp.results.base import save
    from interp.tasks import make_task

    if config.n_prompts < 1:
        raise InterpError(f"--n-prompts must be at least 1; got {config.n_prompts}")
    if not config.components:
        raise InterpError("give the components to ablate, e.g. --components L6H1 L6H3 L3.mlp")
    if config.method not in METHODS:
        raise InterpError(f"unknown ablation method {config.method!r}; choose one of {METHODS}")
    for text in config.components:  # syntax errors before the model is loaded
        Component.parse(text)
    model = load_for(config)
    record = record_of(model)
    task = make_task(config.task, model, n_prompts=config.n_prompts, seed=config.seed)
    result = ablate(
        model, task, config.components, config.method, metric=config.metric, seed=config.seed
    )
    result = dataclasses.replace(result, model=record.name, task=config.task)
    print(
        f"{config.method}-ablating {' '.join(result.components)} on {config.task} "
        f"({task.n_prompts} prompts, {record.name})"
    )
    print(f"  metric: {result.metric} (mean over prompts)")
    print(f"  before  {result.before:8.3f}   (answer top-1 {100 * result.top1_before:.1f}%)")
    print(f"  after   {result.after:8.3f}   (answer top-1 {100 * result.top1_after:.1f}%)")
    print(f"  change  {result.change:+8.3f}   ({100 * result.relative_change:+.1f}%)")
    if config.store:
        run = save(result, model=model, config=asdict(config), seed=config.seed)
        print(f"stored run {run.run_id} (kind 'ablation')")
    return result.summary()


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
