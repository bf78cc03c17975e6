"""Is a found circuit causally real? Knock-out checks for trained models (issue: trained IOI).

Faithfulness (F(C)/F(M), :mod:`interp.studies.ioi_circuit`) asks whether the circuit alone
keeps the behaviour. The knock-out check asks the converse: ABC-mean-ablating the circuit's
heads (each head's output replaced, at every position, by its mean over the corrupted ABC
prompts of the same template, as Wang et al. 2022 ablate) should remove most of the logit
difference, while ablating as many heads drawn at random from *outside* the circuit should
remove little. :func:`knockout_check` measures both, the random control over many draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from interp.core.components import Component, Head
from interp.core.errors import InterpError
from interp.core.hooks import head_name
from interp.core.interventions import Intervention, run_with
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


def abc_head_means(model: Model, task) -> dict[int, torch.Tensor]:
    """Per-template, per-position ABC means of every head's ``z``: ``{layer: [batch, pos,
    head, d_head]}`` (one row per prompt, ready to patch in)."""
    names = {head_name(layer, "z") for layer in range(model.cfg.n_layers)}
    with torch.no_grad():
        _, cache = model.run_with_cache(task.corrupted_tokens, names_filter=lambda n: n in names)
    return {
        layer: task.mean_by_group(cache[head_name(layer, "z")])
        for layer in range(model.cfg.n_layers)
    }


def ablated_logit_diff(
    model: Model, task, heads: Iterable[Head], means: dict[int, torch.Tensor]
) -> float:
    """Mean logit difference with ``heads`` set to their ABC means at every position."""
    interventions = [
        Intervention(Component.of(hd), value=means[hd.layer][:, :, hd.head]) for hd in heads
    ]
    return float(task.metric(run_with(model, task.clean_tokens, interventions)))


@dataclass(frozen=True)
class KnockoutCheck(Result):
    """Logit difference removed by knocking out the circuit vs random non-circuit heads."""

    kind: ClassVar[str] = "knockout_check"
    circuit: list[list[int]]
    clean_logit_diff: float
    circuit_logit_diff: float
    #: 1 - LD(circuit knocked out) / LD(clean)
    circuit_removed: float
    #: fraction removed by each random same-sized set of non-circuit heads
    random_removed: np.ndarray
    random_sets: list[list[list[int]]]
    #: heads outside the circuit (a random set can only be as large as this)
    n_outside: int
    n_prompts: int
    notes: list[str] = field(default_factory=list)

    @property
    def random_mean(self) -> float:
        return float(np.mean(self.random_removed)) if self.random_removed.size else float("nan")

    @property
    def random_max(self) -> float:
        return float(np.max(self.random_removed)) if self.random_removed.size else float("nan")

    def report(self) -> str:
        lines = [
            f"knock-out (ABC mean ablation, {self.n_prompts} prompts): clean LD "
            f"{self.clean_logit_diff:.2f}",
            f"  circuit ({len(self.circuit)} heads) knocked out: LD {self.circuit_logit_diff:.2f}"
            f", removes {self.circuit_removed:.1%}",
        ]
        if self.random_removed.size:
            lines.append(
                f"  {self.random_removed.size} random sets of {len(self.random_sets[0])} "
                f"non-circuit heads: remove {self.random_mean:.1%} on average "
                f"(max {self.random_max:.1%})"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def knockout_check(
    model: Model,
    task,
    circuit: Sequence[Head | Sequence[int] | str],
    n_random: int = 20,
    seed: int = 0,
) -> KnockoutCheck:
    """Knock out ``circuit``'s heads and ``n_random`` random same-sized sets of other heads.

    >>> from interp.core.models import load
    >>> from interp.tasks.ioi import ioi_task
    >>> model = load("reference:ioi", device="cpu")
    >>> task = ioi_task(model, n_prompts=8)
    >>> check = knockout_check(model, task, ["L6H1", "L6H3"], n_random=2)
    >>> 0.0 <= check.random_mean <= 1.0
    True
    """
    from interp.core.components import parse_heads

    heads = sorted(set(parse_heads(circuit)))
    if not heads:
        raise InterpError("the circuit is empty; nothing to knock out")
    cfg = model.cfg
    everything = [Head(lyr, h) for lyr in range(cfg.n_layers) for h in range(cfg.n_heads)]
    bad = [hd for hd in heads if hd not in everything]
    if bad:
        raise InterpError(f"heads {bad} are outside the model's {cfg.n_layers}x{cfg.n_heads}")
    means = abc_head_means(model, task)
    with torch.no_grad():
        clean = float(task.metric(model(task.clean_tokens)))
    if abs(clean) < 1e-9:
        raise InterpError("the clean logit difference is 0; the fraction removed is undefined")
    ko = ablated_logit_diff(model, task, heads, means)
    outside = [hd for hd in everything if hd not in heads]
    notes: list[str] = []
    size = len(heads)
    if len(outside) < size:
        notes.append(
            f"only {len(outside)} heads lie outside the {size}-head circuit: the random "
            f"control knocks out all {len(outside)} of them"
        )
        size = len(outside)
    rng = np.random.default_rng(seed)
    sets: list[list[Head]] = []
    if size > 0:
        seen: set[tuple[Head, ...]] = set()
        for _ in range(n_random * 5):
            pick = tuple(sorted(outside[int(i)] for i in rng.choice(len(outside), size, False)))
            if pick not in seen:
                seen.add(pick)
                sets.append(list(pick))
            if len(sets) == n_random:
                break
    removed = np.array([1 - ablated_logit_diff(model, task, s, means) / clean for s in sets])
    return KnockoutCheck(
        circuit=[list(h) for h in heads],
        clean_logit_diff=clean,
        circuit_logit_diff=ko,
        circuit_removed=1 - ko / clean,
        random_removed=removed,
        random_sets=[[list(h) for h in s] for s in sets],
        n_outside=len(outside),
        n_prompts=task.n_prompts,
        notes=notes,
    )


def summary_line(check: KnockoutCheck) -> dict[str, Any]:
    """The numbers the issue's checks name, for printing and JSON."""
    return {
        "circuit_heads": len(check.circuit),
        "circuit_removed": check.circuit_removed,
        "random_removed_mean": check.random_mean,
        "random_removed_max": check.random_max,
        "n_random": int(check.random_removed.size),
    }
