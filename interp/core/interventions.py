"""Switch components off, scale them or overwrite them during a forward pass.

One mechanism for every ablation in the workbench (zero-, mean- and resample-ablation of
heads, neurons and whole layers; LM-Debugger-style neuron switches; circuit evaluation):
a :class:`Component` names *what* (a head's ``hook_z`` slice, an MLP neuron's
``hook_post`` slice, a layer's ``hook_attn_out`` / ``hook_mlp_out``, the residual stream),
an :class:`Intervention` says *how* (multiply by ``scale``, or replace by ``value``), and
:func:`hooks_for` turns a list of interventions into ``fwd_hooks`` for ``run_with_hooks``
(grouped so each hook point gets one function).

Component strings: ``L6H1`` (head 1 of layer 6), ``L5N123`` (neuron 123 of layer 5's MLP),
``L3.attn`` / ``L3.mlp`` (a whole sublayer's output), ``L2.resid`` (resid_pre of layer 2) —
the one vocabulary of :mod:`interp.core.components`, where :class:`Component` lives (it is
re-exported here). :meth:`Component.of` makes one from a
:class:`~interp.core.components.Head` / ``Neuron`` / ``Layer`` or any written form:

>>> from interp.core.interventions import Component, Head, Intervention
>>> Intervention(Component.of(Head(6, 1)), scale=0.5).component.hook
'blocks.6.attn.hook_z'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from interp.core.components import Component, Head, Layer, Neuron, parse_component
from interp.core.errors import InterpError

if TYPE_CHECKING:
    from interp.core.models import Model


__all__ = [
    "Component",
    "Head",
    "Intervention",
    "Layer",
    "Neuron",
    "hooks_for",
    "parse_component",
    "parse_components",
    "run_with",
]


@dataclass(frozen=True)
class Intervention:
    """Set ``component`` to ``scale * activation`` or, if ``value`` is given, to ``value``
    (broadcast against the component's slice), at ``positions`` (the same for every prompt;
    all when None) or at ``at`` (one position per prompt, e.g. a task's END: ``[batch]``)."""

    component: Component
    scale: float = 0.0
    value: Tensor | None = None
    positions: Sequence[int] | Tensor | None = None
    at: Tensor | None = None

    def apply(self, activation: Tensor) -> None:
        part = self.component.select(activation)
        if self.at is not None:
            rows = torch.arange(part.shape[0], device=part.device)
            where: tuple[Any, ...] = (rows, self.at.to(part.device))
        elif self.positions is None:
            where = (slice(None),)
        else:
            where = (slice(None), self.positions)
        if self.value is None:
            part[where] = part[where] * self.scale
        else:
            value = self.value.to(part.device, part.dtype)
            part[where] = value[where] if value.shape == part.shape else value


def hooks_for(interventions: Iterable[Intervention]) -> list[tuple[str, Callable]]:
    """``fwd_hooks`` applying every intervention (one hook function per hook point)."""
    by_hook: dict[str, list[Intervention]] = defaultdict(list)
    for item in interventions:
        by_hook[item.component.hook].append(item)

    def make(items: list[Intervention]) -> Callable:
        def hook(activation: Tensor, hook) -> Tensor:
            activation = activation.clone()
            for item in items:
                item.apply(activation)
            return activation

        return hook

    return [(name, make(items)) for name, items in by_hook.items()]


def parse_components(model: Model, texts: Iterable[object]) -> list[Component]:
    """Components from their written forms (``"L6H1"``, ``"6.1"``, ``(6, 1)``, a
    :class:`~interp.core.components.Head`, ``"L5N3"``, ``"L3.mlp"``...), checked against
    ``model``'s sizes."""
    components = [Component.parse(t) for t in texts]
    if not components:
        raise InterpError("no component given")
    for c in components:
        c.validate(model)
    return components


@torch.no_grad()
def run_with(model: Model, tokens: Tensor, interventions: Iterable[Intervention]) -> Tensor:
    """Logits of ``model`` on ``tokens`` with the interventions applied."""
    hooks: list[tuple[str | Callable, Callable]] = list(hooks_for(interventions))
    return model.run_with_hooks(tokens, fwd_hooks=hooks)
