"""Switch components off, scale them or overwrite them during a forward pass.

One mechanism for every ablation in the workbench (zero-, mean- and resample-ablation of
heads, neurons and whole layers; LM-Debugger-style neuron switches; circuit evaluation):
a :class:`Component` names *what* (a head's ``hook_z`` slice, an MLP neuron's
``hook_post`` slice, a layer's ``hook_attn_out`` / ``hook_mlp_out``, the residual stream),
an :class:`Intervention` says *how* (multiply by ``scale``, or replace by ``value``), and
:func:`hooks_for` turns a list of interventions into ``fwd_hooks`` for ``run_with_hooks``
(grouped so each hook point gets one function).

Component strings: ``L6H1`` (head 1 of layer 6), ``L5N123`` (neuron 123 of layer 5's MLP),
``L3.attn`` / ``L3.mlp`` (a whole sublayer's output), ``L2.resid`` (resid_pre of layer 2).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from interp.core.errors import InterpError
from interp.core.hooks import block_out_name, head_name, mlp_name, resid_name

_PATTERN = re.compile(r"^L(\d+)(?:H(\d+)|N(\d+)|\.(attn|mlp|resid))$")


@dataclass(frozen=True)
class Component:
    layer: int
    kind: str  # "head" | "neuron" | "attn" | "mlp" | "resid"
    index: int | None = None

    @classmethod
    def parse(cls, text: str) -> Component:
        match = _PATTERN.match(text.strip())
        if not match:
            raise InterpError(
                f"cannot read component {text!r}; write L6H1 (head), L5N123 (neuron), "
                "L3.attn, L3.mlp or L2.resid"
            )
        layer, head, neuron, part = match.groups()
        if head is not None:
            return cls(int(layer), "head", int(head))
        if neuron is not None:
            return cls(int(layer), "neuron", int(neuron))
        return cls(int(layer), part)

    def __str__(self) -> str:
        if self.kind == "head":
            return f"L{self.layer}H{self.index}"
        if self.kind == "neuron":
            return f"L{self.layer}N{self.index}"
        return f"L{self.layer}.{self.kind}"

    @property
    def hook(self) -> str:
        return {
            "head": head_name(self.layer, "z"),
            "neuron": mlp_name(self.layer, "post"),
            "attn": block_out_name(self.layer, "attn_out"),
            "mlp": block_out_name(self.layer, "mlp_out"),
            "resid": resid_name(self.layer, "pre"),
        }[self.kind]

    def select(self, activation: Tensor) -> Tensor:
        """The component's slice of its hook's activation (a view)."""
        if self.kind == "head":
            return activation[:, :, self.index]  # [batch, pos, d_head]
        if self.kind == "neuron":
            return activation[..., self.index]  # [batch, pos]
        return activation  # [batch, pos, d_model]

    def validate(self, model) -> None:
        cfg = model.cfg
        if not 0 <= self.layer < cfg.n_layers:
            raise InterpError(f"{self}: the model has layers 0..{cfg.n_layers - 1}")
        if self.kind == "head" and not 0 <= self.index < cfg.n_heads:
            raise InterpError(f"{self}: the model has heads 0..{cfg.n_heads - 1} per layer")
        if self.kind == "neuron" and not 0 <= self.index < cfg.d_mlp:
            raise InterpError(f"{self}: the model has neurons 0..{cfg.d_mlp - 1} per layer")


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
            where = (rows, self.at.to(part.device))
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


def parse_components(model, texts: Iterable[str]) -> list[Component]:
    components = [Component.parse(t) for t in texts]
    if not components:
        raise InterpError("no component given")
    for c in components:
        c.validate(model)
    return components


@torch.no_grad()
def run_with(model, tokens: Tensor, interventions: Iterable[Intervention]) -> Tensor:
    """Logits of ``model`` on ``tokens`` with the interventions applied."""
    return model.run_with_hooks(tokens, fwd_hooks=hooks_for(interventions))
