"""Attribution patching: a first-order (gradient) approximation of activation patching for
every head at once (Nanda 2023, "Attribution patching: activation patching at industrial
scale"; Syed et al. 2023; Kramár et al. 2024, AtP*).

Patching head h changes the metric by about ``(z_source - z_base)[h] . dM/dz[h]``, the
gradient taken on the base run. Two forwards (base with gradients, source cached) and one
backward give the estimate for every head (and every position) at once, instead of one
forward per patch. The approximation is exact for linear paths and fails where the patch
moves attention a lot or where backups compensate; :func:`attribution_vs_exact` reports it
beside exact patching (:func:`interp.methods.patching.patch_heads`) with their correlation.
On ``reference:ioi`` denoising (ARENA's direction: clean activations into the corrupted run)
correlates ~1.0 with exact patching, noising only ~0.5-0.8: noising an upstream head moves
saturated attention patterns, which a gradient cannot see (Kramár et al. 2024).

Gradients are taken with ``torch.autograd.grad`` with respect to a zero tensor added at each
``hook_z``, so parameter ``.grad`` s are never touched, and it works whether or not the
model's parameters require gradients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError
from interp.core.hooks import head_name
from interp.core.metrics import MetricLike, readout_for
from interp.methods.patching import DIRECTIONS, PatchingResult, patch_heads
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


def head_gradients(
    model: Model, tokens: Tensor, metric
) -> tuple[float, list[Float[Tensor, "batch pos head d_head"]], list[Tensor]]:
    """The metric on ``tokens``, each layer's ``z`` and the metric's gradient w.r.t. it."""
    n_layers = model.cfg.n_layers
    zs: list[Tensor | None] = [None] * n_layers
    deltas: list[Tensor | None] = [None] * n_layers

    def make(layer: int):
        def hook(act: Tensor, hook) -> Tensor:
            delta = torch.zeros_like(act, requires_grad=True)
            zs[layer], deltas[layer] = act.detach(), delta
            return act + delta

        return hook

    hooks: list[tuple[str | Callable, Callable]] = [
        (head_name(layer, "z"), make(layer)) for layer in range(n_layers)
    ]
    with torch.enable_grad():
        value = metric(model.run_with_hooks(tokens, fwd_hooks=hooks))
        taken = [d for d in deltas if d is not None]
        if len(taken) != n_layers:
            raise InterpError("a z hook did not run: the gradient is incomplete")
        grads = torch.autograd.grad(value, taken)
    return float(value.detach()), [z for z in zs if z is not None], [g.detach() for g in grads]


@dataclasses.dataclass(frozen=True)
class AttributionResult(Result):
    """Attribution-patching estimates of each head's patching effect, beside exact patching."""

    kind: ClassVar[str] = "attribution"
    attribution: np.ndarray  # [layer, head] estimated change of the metric
    attribution_by_position: np.ndarray  # [layer, pos, head]
    exact: np.ndarray  # [layer, head] exact change (nan when not computed)
    correlation: float  # Pearson correlation of attribution and exact (nan if not computed)
    direction: str
    base_value: float
    n_prompts: int

    def figure(self):
        from interp.figures.ioi import attribution_figure

        return attribution_figure(self)


def attribution_patch_heads(
    model: Model, task, direction: str = "denoising", metric: MetricLike = "logit_diff"
) -> AttributionResult:
    """The estimate for every head (all positions, and per position) in two forwards and one
    backward (Nanda 2023, "Attribution patching"). Denoising (the default, as in ARENA):
    base = corrupted, source = clean, i.e. ``(z_clean - z_corrupted) . grad`` at the
    corrupted run; noising the reverse. ``metric``: ``"logit_diff"``, ``"prob"``, ``"kl"``
    or a differentiable callable ``metric(logits, task) -> [batch]``; its mean over prompts
    is differentiated.

    >>> import interp
    >>> model = interp.load("reference:ioi")
    >>> task = interp.ioi_task(model, n_prompts=8)
    >>> interp.attribution_patch(model, task).attribution.shape
    (8, 4)
    """
    if direction not in DIRECTIONS:
        raise InterpError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    base, source = task.clean_tokens, task.corrupted_tokens
    if direction == "denoising":
        base, source = source, base
    names = [head_name(layer, "z") for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        source_logits, cache = model.run_with_cache(source, names_filter=lambda n: n in names)
    clean_logits = source_logits if direction == "denoising" else None
    if clean_logits is None:
        with torch.no_grad():
            clean_logits = model(task.clean_tokens)
    at = torch.arange(task.n_prompts, device=clean_logits.device)
    readout = readout_for(metric, task, clean_logits[at, task.end.to(clean_logits.device)])
    value, zs, grads = head_gradients(model, base, lambda logits: readout(logits).mean())
    per_pos = torch.stack(
        [((cache[n] - z) * g).sum((0, 3)) for n, z, g in zip(names, zs, grads)]
    )  # [layer, pos, head]
    per_pos = per_pos.cpu()
    nan = np.full(per_pos.shape[::2], np.nan)
    return AttributionResult(
        attribution=to_numpy(per_pos.sum(1)),
        attribution_by_position=to_numpy(per_pos),
        exact=nan,
        correlation=float("nan"),
        direction=direction,
        base_value=value,
        n_prompts=task.n_prompts,
    )


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def attribution_vs_exact(
    model: Model,
    task,
    direction: str = "denoising",
    exact: PatchingResult | None = None,
    metric: MetricLike = "logit_diff",
) -> AttributionResult:
    """Attribution patching of every head beside exact all-position head patching (same
    direction), with the Pearson correlation of the two over heads."""
    approx = attribution_patch_heads(model, task, direction, metric)
    exact = exact or patch_heads(model, task, "z", direction=direction, metric=metric)
    if (
        exact.direction != direction
        or exact.activation != "head_z"
        or exact.axes
        != [
            "layer",
            "head",
        ]
    ):
        raise InterpError(
            "exact patching must be all-position head-output patching, same direction"
        )
    return dataclasses.replace(
        approx, exact=exact.effect, correlation=correlation(approx.attribution, exact.effect)
    )
