"""Induction heads forming during training, beside the loss curve (Olsson et al. 2022).

Olsson et al. 2022 (*In-context learning and induction heads*) find that small transformers
acquire **induction heads** (attend from a token to the token *after* its previous
occurrence, and copy it: ``[A][B] ... [A] -> [B]``) in a narrow window of training, a
*phase change* visible as a bump in the training loss, and that in-context learning appears
at the same moment. Here every checkpoint of a training run is scored on the **same**
repeated random sequences ``[BOS, t1 .. tk, t1 .. tk]`` with
:func:`interp.methods.attention.head_scores`: per head the induction score (mean attention
from the second copy of ``t_i`` to ``t_{i+1}`` of the first copy), the previous-token score
(attention to ``p - 1``, the other half of the two-head induction circuit) and the
duplicate-token score; the training loss (and held-out loss, when the run recorded one)
comes from the run's history (:func:`interp.core.trained.training_record`).

>>> r = shipped_induction("text")
>>> bool(r.max_induction[-1] >= 0.5), r.formation_step()
(True, 8500)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interp.core.errors import InterpError
from interp.results.base import Result

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: what :func:`shipped_induction` can score the heads on, and the label results carry
PROBES = {"random": "random tokens", "text": "held-out text"}
#: an induction score at or above this is a clear induction head (attention mostly on t_{i+1})
INDUCTION_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class InductionOverTraining(Result):
    """Head scores per checkpoint (``[step, layer, head]``) and the run's loss curves."""

    kind: ClassVar[str] = "induction_over_training"
    model_name: str
    steps: np.ndarray  # [step] training steps of the checkpoints
    induction: np.ndarray  # [step, layer, head]
    previous_token: np.ndarray  # [step, layer, head]
    duplicate_token: np.ndarray  # [step, layer, head]
    loss_steps: np.ndarray  # [n] steps of the recorded training loss
    loss: np.ndarray  # [n] training loss (mean over the steps since the last record)
    heldout_steps: np.ndarray  # [m] steps of the held-out loss ([] when not recorded)
    heldout_loss: np.ndarray  # [m]
    seq_len: int
    n_sequences: int
    #: what the heads were scored on: "random tokens" (Olsson et al.'s repeated random
    #: sequences) or "held-out text" (spans of the model's held-out text, repeated once)
    probe: str = "random tokens"

    @property
    def max_induction(self) -> np.ndarray:
        """The best head's induction score at each checkpoint."""
        return self.induction.reshape(len(self.steps), -1).max(1)

    @property
    def max_previous_token(self) -> np.ndarray:
        return self.previous_token.reshape(len(self.steps), -1).max(1)

    def best_heads(self) -> list[str]:
        """The head with the highest induction score at each checkpoint (``L1H3``)."""
        n_heads = self.induction.shape[2]
        flat = self.induction.reshape(len(self.steps), -1).argmax(1)
        return [f"L{int(i) // n_heads}H{int(i) % n_heads}" for i in flat]

    def formation_step(self, threshold: float = INDUCTION_THRESHOLD) -> int | None:
        """The first checkpoint step where some head's induction score reaches
        ``threshold`` (None if none does)."""
        reached = np.nonzero(self.max_induction >= threshold)[0]
        return int(self.steps[reached[0]]) if len(reached) else None

    def rows(self) -> list[dict[str, Any]]:
        """One row per checkpoint: the best induction head, its score, the best
        previous-token score and the training loss recorded nearest before it."""
        rows = []
        for i, step in enumerate(self.steps):
            before = np.nonzero(self.loss_steps <= step)[0]
            loss = float(self.loss[before[-1]]) if len(before) else None
            rows.append(
                {
                    "step": int(step),
                    "best induction head": self.best_heads()[i],
                    "induction": round(float(self.max_induction[i]), 4),
                    "previous-token (max)": round(float(self.max_previous_token[i]), 4),
                    "training loss": None if loss is None else round(loss, 4),
                }
            )
        return rows

    def figure(self) -> go.Figure:
        from interp.figures.induction import induction_figure

        return induction_figure(self)


def _curve(history: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(int(h["step"]), float(h[key])) for h in history if h.get(key) is not None]
    if not points:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    steps, values = zip(*points)
    return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)


def induction_over_training(
    points: Sequence[tuple[int, str | Path]],
    history: Sequence[dict[str, Any]] | None = None,
    pool: Sequence[int] | None = None,
    seq_len: int = 10,
    n_sequences: int = 16,
    seed: int = 0,
    device: str = "auto",
    model_name: str = "",
    text: Sequence[str] | None = None,
) -> InductionOverTraining:
    """Score every checkpoint ``(step, directory)`` on the same repeated random sequences
    (drawn once from ``pool``, the whole vocabulary but BOS when None), or with ``text``
    (documents) on spans of that text repeated once (:func:`repeated_text`); ``history`` is
    the run's training record (entries with ``step`` and ``loss``, optionally
    ``heldout_loss``).

    >>> from interp.core.trained import checkpoints, training_record
    >>> r = induction_over_training(checkpoints("ioi"), training_record("ioi")["history"])
    >>> r.steps.tolist()
    [500, 650]
    """
    import torch

    from interp.core.models import load
    from interp.core.progress import progress
    from interp.methods.attention import head_scores, repeated_sequences, repeated_text

    if not points:
        raise InterpError("no checkpoints given; train a run with checkpoints first")
    ordered = sorted((int(s), Path(d)) for s, d in points)
    tokens = None
    scores = []
    for _step, directory in progress(ordered, desc="checkpoints"):
        model = load(directory, device=device)
        if tokens is None and text is not None:
            tokens = repeated_text(model, text, seq_len, n_sequences, seed)
        elif tokens is None:
            tokens = repeated_sequences(model, pool, seq_len, n_sequences, seed)
        with torch.no_grad():
            scores.append(head_scores(model, tokens.to(model.cfg.device)))
        del model
    loss_steps, loss = _curve(history or [], "loss")
    heldout_steps, heldout = _curve(history or [], "heldout_loss")
    return InductionOverTraining(
        model_name=model_name or str(ordered[-1][1]),
        steps=np.asarray([s for s, _ in ordered], dtype=np.int64),
        induction=np.stack([s.induction for s in scores]),
        previous_token=np.stack([s.previous_token for s in scores]),
        duplicate_token=np.stack([s.duplicate_token for s in scores]),
        loss_steps=loss_steps,
        loss=loss,
        heldout_steps=heldout_steps,
        heldout_loss=heldout,
        seq_len=seq_len,
        n_sequences=n_sequences,
        probe=PROBES["random" if text is None else "text"],
    )


def spread(points: Sequence[tuple[int, Path]], n: int | None) -> list[tuple[int, Path]]:
    """At most ``n`` of the checkpoints, evenly spread, always with the first and the last."""
    ordered = sorted(points)
    if n is None or len(ordered) <= n:
        return ordered
    if n < 2:
        raise InterpError("keep at least two checkpoints (the first and the last)")
    idx = sorted(set(np.linspace(0, len(ordered) - 1, n).round().astype(int).tolist()))
    return [ordered[i] for i in idx]


def shipped_points(kind: str) -> list[tuple[int, Path]]:
    """The checkpoints shipped with ``trained:KIND`` and its final model, by step."""
    from interp.core.trained import TRAINED_PREFIX, checkpoints, locate, training_record

    final = locate(kind)  # a clear error when the weights are not shipped
    shipped = checkpoints(kind)
    if not shipped:
        raise InterpError(f"{TRAINED_PREFIX}{kind} ships no training checkpoints")
    final_step = int(training_record(kind)["step"])
    return [(s, d) for s, d in shipped if s != final_step] + [(final_step, final)]


def shipped_induction(
    kind: str,
    max_checkpoints: int | None = None,
    seq_len: int = 10,
    n_sequences: int = 16,
    device: str = "auto",
    probe: str = "random",
) -> InductionOverTraining:
    """:func:`induction_over_training` on the checkpoints shipped with ``trained:KIND`` and
    its final model (``max_checkpoints`` of them, evenly spread, when given), with the loss
    curve of its training record. ``probe="text"`` scores them on the model's shipped
    held-out text (text models) instead of random tokens.

    >>> shipped_induction("ioi").steps.tolist()
    [500, 650, 2000]
    """
    from interp.core.corpus import documents
    from interp.core.trained import TRAINED_PREFIX, locate, training_record

    if probe not in PROBES:
        raise InterpError(f"probe must be one of {', '.join(PROBES)}; got {probe!r}")
    text = None
    if probe == "text":
        sample = locate(kind) / "heldout.txt"
        if not sample.exists():
            raise InterpError(f"{TRAINED_PREFIX}{kind} ships no held-out text to probe with")
        text = documents(sample)
    points = spread(shipped_points(kind), max_checkpoints)
    return induction_over_training(
        points,
        history=training_record(kind).get("history"),
        seq_len=seq_len,
        n_sequences=n_sequences,
        device=device,
        model_name=TRAINED_PREFIX + kind,
        text=text,
    )
