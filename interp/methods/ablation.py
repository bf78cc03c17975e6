"""Ablate any set of heads, neurons or layers on a task and measure the metric change.

Three ways to switch a component off (every one through :mod:`interp.core.interventions`):

* ``zero`` -- multiply the component's activation by 0;
* ``mean`` -- replace it by its mean over the task's corrupted distribution (for IOI:
  p_ABC), per template and per position, as Wang et al. 2022 do for faithfulness;
* ``resample`` -- replace it by its value on the corrupted prompt of another, randomly drawn
  prompt of the same template (resample ablation, Chan et al. 2022), seeded.

The metric is any sweep metric (:func:`interp.core.metrics.readout_for`): the logit
difference by default, ``"prob"``, ``"kl"`` (to the unablated run) or a callable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from interp.core.errors import InterpError
from interp.core.hooks import names_filter
from interp.core.interventions import Component, Intervention, parse_components, run_with
from interp.core.metrics import MetricLike, readout_for
from interp.results.base import Result

METHODS = ("zero", "mean", "resample")


@dataclasses.dataclass(frozen=True)
class AblationResult(Result):
    """The metric before and after ablating ``components`` (means over prompts), and the
    answer's top-1 rate before and after."""

    kind: ClassVar[str] = "ablation"
    components: list[str]
    method: str
    metric: str
    before: float
    after: float
    change: float
    relative_change: float
    top1_before: float
    top1_after: float
    n_prompts: int = 0
    #: per-prompt metric before / after (absent in runs stored before they were kept)
    values_before: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    values_after: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    model: str = ""
    task: str = ""

    def figure(self) -> Any:
        """Per-prompt metric before vs after (or the two means for runs without them)."""
        from interp.figures.ablation import ablation_figure

        return ablation_figure(self)


def ablation_values(
    model: Any, task: Any, components: Sequence[Component], method: str, seed: int = 0
) -> list[Tensor | None]:
    """The replacement value of each component (None for zero ablation), ``[batch, pos, ...]``."""
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


def ablate(
    model: Any,
    task: Any,
    components: Sequence[str | Any],
    method: str = "mean",
    *,
    metric: MetricLike = "logit_diff",
    seed: int = 0,
) -> AblationResult:
    """The metric on the clean prompts before and after ablating ``components``.

    ``components``: heads, neurons or layers in any written form (``"L6H1"``, ``"6.3"``,
    ``(6, 1)``, ``"L5N12"``, ``"L3.mlp"``); ``method``: ``zero``, ``mean`` or
    ``resample``.

    >>> import interp
    >>> model = interp.load("reference:ioi")
    >>> task = interp.ioi_task(model, n_prompts=20)
    >>> result = interp.ablate(model, task, ["L6H1", "6.3"], method="mean")
    >>> result.after < result.before
    True
    """
    if method not in METHODS:
        raise InterpError(f"unknown ablation method {method!r}; choose one of {METHODS}")
    if not components:
        raise InterpError("give the components to ablate, e.g. ['L6H1', 'L6H3', 'L3.mlp']")
    parsed = parse_components(model, components)
    values = ablation_values(model, task, parsed, method, seed)
    interventions = [
        Intervention(c) if v is None else Intervention(c, value=v) for c, v in zip(parsed, values)
    ]
    with torch.no_grad():
        before = model(task.clean_tokens)
    after = run_with(model, task.clean_tokens, interventions)
    rows = torch.arange(task.n_prompts, device=before.device)
    end = task.end.to(before.device)
    readout = readout_for(metric, task, before[rows, end])
    answers = task.answer_ids.to(before.device)

    def top1(logits: Tensor) -> float:
        return float((logits[rows, end].argmax(-1) == answers).float().mean())

    v_before = readout(before).float().cpu().numpy()
    v_after = readout(after).float().cpu().numpy()
    m_before, m_after = float(v_before.mean()), float(v_after.mean())
    return AblationResult(
        components=[str(c) for c in parsed],
        method=method,
        metric=readout.name,
        before=m_before,
        after=m_after,
        change=m_after - m_before,
        relative_change=(m_after - m_before) / abs(m_before) if m_before else float("nan"),
        top1_before=top1(before),
        top1_after=top1(after),
        n_prompts=task.n_prompts,
        values_before=v_before,
        values_after=v_after,
        task=task.name,
    )
