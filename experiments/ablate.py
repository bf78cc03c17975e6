"""Ablate any set of heads, neurons or layers on a task and report the metric change.

``--components L6H1 L6H3 L5N12 L3.mlp L2.attn L4.resid`` (see
:class:`interp.core.interventions.Component`), ``--method``:

* ``zero`` — multiply the component's activation by 0;
* ``mean`` — replace it by its mean over the task's corrupted distribution (for IOI: p_ABC),
  per template and per position, as Wang et al. 2022 do;
* ``resample`` — replace it by its value on the corrupted prompt of another, randomly drawn
  prompt of the same template (resample ablation, Chan et al. 2022), seeded.

Every ablation goes through :mod:`interp.core.interventions`. Prints the metric (mean logit
difference answer − wrong at END) and the answer's top-1 rate before and after.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from interp.core.config import option
from interp.core.errors import InterpError
from interp.experiment import run_script

METHODS = ("zero", "mean", "resample")


@dataclass
class Config:
    """Ablate components on a task and report the metric change."""

    model: str = option("reference:ioi", "model: reference:ioi, gpt2-small, a local directory")
    task: str = option("ioi", "task name (see interp.tasks.TASKS)")
    components: list[str] = option([], "components: L6H1 (head), L5N12 (neuron), L3.mlp, ...")
    method: str = option("mean", "zero, mean or resample")
    n_prompts: int = option(50, "number of prompts")
    seed: int = option(0, "seed of the prompts and of resampling")
    device: str = option("auto", "auto, cpu, cuda or mps")
    store: bool = option(False, "record the run in the results store (kind 'ablation')")
    json: str | None = option(None, "write the summary JSON to this path")


def ablation_values(model, task, components, method: str, seed: int = 0):
    """The replacement value of each component (None for zero ablation), ``[batch, pos, ...]``."""
    import numpy as np
    import torch

    from interp.core.hooks import names_filter

    if method == "zero":
        return [None] * len(components)
    hooks = sorted({c.hook for c in components})
    with torch.no_grad():
        _, cache = model.run_with_cache(task.corrupted_tokens, names_filter=names_filter(hooks))
    if method == "mean":
        return [task.mean_by_group(c.select(cache[c.hook])) for c in components]
    rng = np.random.default_rng(seed)
    groups = task.groups.cpu().numpy()
    donor = np.arange(task.n_prompts)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        donor[rows] = rng.permutation(rows) if len(rows) > 1 else rows
    donor_t = torch.as_tensor(donor, device=task.device)
    return [c.select(cache[c.hook])[donor_t] for c in components]


def ablate(model, task, texts, method: str = "mean", seed: int = 0) -> dict[str, Any]:
    """Metric before and after ablating ``texts`` (component strings) with ``method``."""
    import torch

    from interp.core.interventions import Intervention, parse_components, run_with

    if method not in METHODS:
        raise InterpError(f"unknown ablation method {method!r}; choose one of {METHODS}")
    components = parse_components(model, texts)
    values = ablation_values(model, task, components, method, seed)
    interventions = [
        Intervention(c) if v is None else Intervention(c, value=v)
        for c, v in zip(components, values)
    ]
    with torch.no_grad():
        before = model(task.clean_tokens)
    after = run_with(model, task.clean_tokens, interventions)
    end = torch.arange(task.n_prompts)

    def top1(logits) -> float:
        return float((logits[end, task.end].argmax(-1) == task.answer_ids).float().mean())

    m_before, m_after = task.metric(before).item(), task.metric(after).item()
    return {
        "components": [str(c) for c in components],
        "method": method,
        "metric": "mean logit difference (answer - wrong) at END",
        "before": m_before,
        "after": m_after,
        "change": m_after - m_before,
        "relative_change": (m_after - m_before) / abs(m_before) if m_before else float("nan"),
        "top1_before": top1(before),
        "top1_after": top1(after),
    }


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import load
    from interp.tasks import make_task

    if config.n_prompts < 1:
        raise InterpError(f"--n-prompts must be at least 1; got {config.n_prompts}")
    if not config.components:
        raise InterpError("give the components to ablate, e.g. --components L6H1 L6H3 L3.mlp")
    if config.method not in METHODS:
        raise InterpError(f"unknown ablation method {config.method!r}; choose one of {METHODS}")
    from interp.core.interventions import Component

    for text in config.components:  # syntax errors before the model is loaded
        Component.parse(text)
    model = load(config.model, device=config.device)
    task = make_task(config.task, model, n_prompts=config.n_prompts, seed=config.seed)
    result = ablate(model, task, config.components, config.method, config.seed)
    result.update(model=model.interp_record.name, task=config.task, n_prompts=task.n_prompts)
    print(
        f"{config.method}-ablating {' '.join(result['components'])} on {config.task} "
        f"({task.n_prompts} prompts, {model.interp_record.name})"
    )
    print(f"  {result['metric']}")
    print(f"  before  {result['before']:8.3f}   (answer top-1 {100 * result['top1_before']:.1f}%)")
    print(f"  after   {result['after']:8.3f}   (answer top-1 {100 * result['top1_after']:.1f}%)")
    print(f"  change  {result['change']:+8.3f}   ({100 * result['relative_change']:+.1f}%)")
    if config.store:
        from interp.results.store import ResultsStore

        run = ResultsStore().save(
            "ablation",
            model=model.interp_record.to_dict(),
            config=asdict(config),
            seed=config.seed,
            summary=result,
        )
        print(f"stored run {run.run_id} (kind 'ablation')")
    return result


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
