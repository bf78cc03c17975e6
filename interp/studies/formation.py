"""How a circuit forms during training: class evidence of every head, checkpoint by checkpoint.

For the checkpoints of a training run (:func:`interp.training.train`), on the same IOI
prompts: the IOI metric (IO > S, mean logit difference IO − S), every head's direct logit
attribution at END on IO − S, and its attention from END to IO / S1 / S2 and from S2 to
S1 / S1+1 (the scores the pipeline uses to corroborate name movers, duplicate-token and
induction heads). Nanda et al. 2023 watched memorisation, circuit formation and clean-up on
modular addition this way; here the task is IOI and the jump is the phase change of IO > S.

A head passes the name-mover threshold at a step when its DLA is at least ``dla_threshold``
times the *final* checkpoint's logit difference: an absolute number of logits, the same at
every step (the pipeline's relative threshold, a fraction of the current logit difference,
is meaningless before the jump, where the logit difference is about 0). Where it reads from
is reported beside it, not required: in ``trained:ioi`` the head that moves the answer
attends from END to S2 (0.96), not to IO as GPT-2's name movers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from interp.core.errors import InterpError
from interp.results.base import Result

#: the attention scores kept per step (fields of interp.methods.attention.IOIAttention)
ATTENTION = ("end_to_io", "end_to_s1", "end_to_s2", "s2_to_s1", "s2_to_s1_plus_1")


@dataclass(frozen=True)
class CircuitFormation(Result):
    """Per-checkpoint IOI metric and per-head evidence (arrays ``[step, layer, head]``)."""

    kind: ClassVar[str] = "circuit_formation"
    run: str
    steps: np.ndarray  # [n]
    io_over_s: np.ndarray  # [n]
    logit_diff: np.ndarray  # [n]
    loss: np.ndarray  # [n] training loss logged at that step (nan where none)
    dla: np.ndarray  # [n, layer, head]: mean DLA at END on IO - S
    end_to_io: np.ndarray
    end_to_s1: np.ndarray
    end_to_s2: np.ndarray
    s2_to_s1: np.ndarray
    s2_to_s1_plus_1: np.ndarray
    dla_threshold: float
    #: the name-mover threshold in logits: dla_threshold x the final logit difference
    threshold_logits: float
    n_prompts: int

    def name_mover_mask(self) -> np.ndarray:
        """``[n, layer, head]``: which heads pass the name-mover DLA threshold at each step."""
        return self.dla >= self.threshold_logits

    def reads_from(self, step_index: int, layer: int, head: int) -> str:
        """Where a head attends from END at a step: the largest of IO, S1 and S2."""
        scores = {k: getattr(self, f"end_to_{k.lower()}")[step_index, layer, head]
                  for k in ("IO", "S1", "S2")}  # fmt: skip
        return max(scores, key=lambda k: scores[k])

    def name_movers(self) -> list[list[list[int]]]:
        """Per step, the ``[layer, head]`` of every head passing the name-mover test."""
        return [np.argwhere(m).tolist() for m in self.name_mover_mask()]

    def jump_step(self, level: float = 0.9) -> int | None:
        """The first checkpoint step where IO > S reaches ``level`` (None if never)."""
        hit = np.nonzero(self.io_over_s >= level)[0]
        return int(self.steps[hit[0]]) if hit.size else None

    def table(self) -> str:
        rows = [
            f"{'step':>6} {'IO>S':>6} {'LD':>6}  name movers (DLA >= "
            f"{self.threshold_logits:.2f} logits)"
        ]
        for i, step in enumerate(self.steps):
            heads = (
                ", ".join(
                    f"L{a}H{b} (DLA {self.dla[i, a, b]:.2f}, reads {self.reads_from(i, a, b)})"
                    for a, b in self.name_movers()[i]
                )
                or "-"
            )
            rows.append(
                f"{int(step):>6} {self.io_over_s[i]:>6.2f} {self.logit_diff[i]:>6.2f}  {heads}"
            )
        return "\n".join(rows)

    def figure(self):
        from interp.figures.formation import formation_figure

        return formation_figure(self)


def circuit_formation(
    checkpoints: Sequence[tuple[int, str | Path]],
    n_prompts: int = 60,
    seed: int = 0,
    device: str = "cpu",
    dla_threshold: float = 0.1,
    history: Sequence[dict[str, Any]] | None = None,
    run: str = "",
) -> CircuitFormation:
    """Measure every checkpoint ``(step, directory)`` on the same IOI prompts.

    >>> from interp.core.trained import checkpoints
    >>> f = circuit_formation(checkpoints("ioi")[:1], n_prompts=8)
    >>> f.dla.shape[1:]
    (4, 4)
    """
    from interp.core.models import load
    from interp.core.progress import progress
    from interp.methods.attention import ioi_attention
    from interp.methods.dla import cache_names, head_attribution, logit_directions
    from interp.tasks.ioi import ioi_task

    if not checkpoints:
        raise InterpError("no checkpoints given; train a run first (interp train ioi)")
    ordered = sorted((int(s), Path(d)) for s, d in checkpoints)
    losses = {int(h["step"]): float(h["loss"]) for h in history or [] if "loss" in h}
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("dla", *ATTENTION)}
    acc, ld = [], []
    for _step, directory in progress(ordered, desc="checkpoints"):
        model = load(directory, device=device)
        task = ioi_task(model, n_prompts=n_prompts, seed=seed)
        names = cache_names(model.cfg.n_layers, heads=True)
        with torch.no_grad():
            logits, cache = model.run_with_cache(task.clean_tokens, names_filter=names.__contains__)
            directions = logit_directions(model, task.answer_ids, task.wrong_ids)
            dla = head_attribution(model, cache, directions, task.end).mean(0)
            diff = task.logit_diff(logits)
            attention = ioi_attention(model, task)
        rows["dla"].append(dla.cpu().numpy())
        for key in ATTENTION:
            rows[key].append(np.asarray(getattr(attention, key)))
        acc.append(float((diff > 0).float().mean()))
        ld.append(float(diff.mean()))
        del model, cache
    final_ld = ld[-1]
    return CircuitFormation(
        run=run,
        steps=np.array([s for s, _ in ordered]),
        io_over_s=np.array(acc),
        logit_diff=np.array(ld),
        loss=np.array([losses.get(s, np.nan) for s, _ in ordered]),
        **{k: np.stack(v) for k, v in rows.items()},
        dla_threshold=dla_threshold,
        threshold_logits=dla_threshold * abs(final_ld),
        n_prompts=n_prompts,
    )
