"""Metrics on model outputs, with anchored scales, and the readouts every sweep takes.

A sweep (patching, path patching, attribution, ablation) reads one number per prompt from
the logits at one position per prompt (the task's ``END``). Which number is the ``metric=``
argument of every sweep (TransformerLens's ``patching_metric``), resolved by
:func:`readout_for` into a :class:`Readout`:

* ``"logit_diff"`` (default) -- ``logit[answer] - logit[wrong]`` (Wang et al. 2022 use IO - S
  at END): :class:`LogitDiff`. It names the two logit columns it reads, so a patched forward
  computes only those columns of the unembedding (:mod:`interp.core.resume`);
* ``"prob"`` -- the answer's probability: :class:`AnswerProb`;
* ``"kl"`` -- KL(clean || patched) of the next-token distributions: :class:`KLToClean`
  (0 at the clean run, so its normalised scale still reads 0 = corrupted, 1 = clean);
* any callable ``metric(logits, task) -> [batch]``, where ``logits`` are the logits at the
  task's readout position, ``[batch, d_vocab]``: :class:`CustomMetric`.

Every readout works on several stacked copies of a batch (``k * batch`` rows), which is how
the batched patcher runs its sweeps.

* :func:`normalised` -- ARENA's patching metric: 0 means "as bad as the corrupted run",
  1 "as good as the clean run" (values outside [0, 1] overshoot either way).
* :func:`kl_divergence` -- KL(reference || patched) over the full logits at a position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import InterpError


def _tile(x: Tensor, rows: int) -> Tensor:
    """Repeat a ``[batch]`` index to cover ``rows = k * batch`` stacked copies."""
    if rows % x.shape[0]:
        raise InterpError(f"{rows} rows are not whole copies of a batch of {x.shape[0]}")
    return x.repeat(rows // x.shape[0])


class Readout:
    """One number per row from the logits at one position per prompt.

    Subclasses implement :meth:`at` (from the logits at the readout positions,
    ``[rows, d_vocab]``); those that read only a few logit columns also implement
    :meth:`columns` and :meth:`from_columns`, which lets a patched forward skip the rest of
    the unembedding."""

    positions: Int[Tensor, " batch"]
    #: the name a result records (``"logit_diff"``, ``"prob"``, ``"kl"``, a function's name)
    name: str = "metric"

    def columns(self) -> Int[Tensor, "batch k"] | None:
        """The logit columns the metric reads per prompt, or None when it reads them all."""
        return None

    def from_columns(self, values: Float[Tensor, "rows k"]) -> Float[Tensor, " rows"]:
        raise NotImplementedError(f"{type(self).__name__} reads every logit")

    def at(self, final: Float[Tensor, "rows vocab"]) -> Float[Tensor, " rows"]:
        raise NotImplementedError

    def read(self, out: Float[Tensor, "rows 1 cols"]) -> Float[Tensor, " rows"]:
        """The metric from a patched forward's output at the readout positions: the
        :meth:`columns` when the metric names them, else the full logits."""
        return self.from_columns(out[:, 0]) if self.columns() is not None else self.at(out[:, 0])

    def __call__(self, logits: Float[Tensor, "rows pos vocab"]) -> Float[Tensor, " rows"]:
        rows = logits.shape[0]
        pos = _tile(self.positions.to(logits.device), rows)
        return self.at(logits[torch.arange(rows, device=logits.device), pos])


@dataclasses.dataclass(frozen=True)
class LogitDiff(Readout):
    """``logits[answer] - logits[wrong]`` (or the answer's logit alone) at one position per
    prompt, per row; rows may be ``k * batch`` (k stacked copies of the batch).

    Because it names its positions and tokens, a patched forward can stop early: compute
    the last block and the final LayerNorm at those positions only, and only the
    :meth:`columns` of the unembedding (:mod:`interp.core.resume`), then call
    :meth:`from_columns`.

    >>> import torch
    >>> ld = LogitDiff(torch.tensor([1]), torch.tensor([0]), torch.tensor([2]))
    >>> ld(torch.tensor([[[0.0, 0, 0], [3.0, 0, 1]]])).tolist()
    [2.0]
    """

    positions: Int[Tensor, " batch"]
    answers: Int[Tensor, " batch"]
    wrong: Int[Tensor, " batch"] | None = None
    name: str = "logit_diff"

    def columns(self) -> Int[Tensor, "batch k"]:
        """The logits the metric reads per prompt: ``[answer, wrong]`` (or ``[answer]``)."""
        ids = [self.answers] if self.wrong is None else [self.answers, self.wrong]
        return torch.stack(ids, 1)

    def from_columns(self, values: Float[Tensor, "rows k"]) -> Float[Tensor, " rows"]:
        """The metric from the logits of :meth:`columns` (tiled over the rows)."""
        return values[:, 0] - values[:, 1] if self.wrong is not None else values[:, 0]

    def at(self, final: Float[Tensor, "rows vocab"]) -> Float[Tensor, " rows"]:
        """The metric from the logits at the readout positions."""
        columns = self.columns().to(final.device)
        columns = columns[_tile(torch.arange(len(columns), device=final.device), final.shape[0])]
        return self.from_columns(final.gather(1, columns))


@dataclasses.dataclass(frozen=True)
class AnswerProb(Readout):
    """The probability of the answer token (softmax in float32 over the whole vocabulary).

    >>> import torch
    >>> p = AnswerProb(torch.tensor([0]), torch.tensor([1]))
    >>> round(p(torch.log(torch.tensor([[[0.25, 0.75]]]))).item(), 4)
    0.75
    """

    positions: Int[Tensor, " batch"]
    answers: Int[Tensor, " batch"]
    name: str = "prob"

    def at(self, final: Float[Tensor, "rows vocab"]) -> Float[Tensor, " rows"]:
        answers = _tile(self.answers.to(final.device), final.shape[0])
        return torch.softmax(final.float(), -1).gather(1, answers[:, None])[:, 0]


@dataclasses.dataclass(frozen=True)
class KLToClean(Readout):
    """KL(clean || patched) of the next-token distributions (float32): 0 at the clean run.

    >>> import torch
    >>> kl = KLToClean(torch.tensor([0]), torch.tensor([[1.0, 2.0]]))
    >>> kl(torch.tensor([[[1.0, 2.0]]])).item()
    0.0
    """

    positions: Int[Tensor, " batch"]
    clean: Float[Tensor, "batch vocab"]
    name: str = "kl"

    def at(self, final: Float[Tensor, "rows vocab"]) -> Float[Tensor, " rows"]:
        logp = torch.log_softmax(final.float(), -1)
        rows = _tile(torch.arange(self.clean.shape[0], device=final.device), final.shape[0])
        logq = torch.log_softmax(self.clean.to(final.device).float(), -1)[rows]
        return (logq.exp() * (logq - logp)).sum(-1)


@dataclasses.dataclass(frozen=True)
class CustomMetric(Readout):
    """A researcher's metric ``fn(logits, task) -> [batch]``, called once per stacked copy
    with that copy's ``[batch, d_vocab]`` logits at the readout positions."""

    positions: Int[Tensor, " batch"]
    fn: Callable[[Tensor, Any], Tensor] = dataclasses.field(compare=False)
    task: Any = dataclasses.field(compare=False)
    name: str = "custom"

    def at(self, final: Float[Tensor, "rows vocab"]) -> Float[Tensor, " rows"]:
        batch = self.positions.shape[0]
        if final.shape[0] % batch:
            raise InterpError(f"{final.shape[0]} rows are not whole copies of a batch of {batch}")
        out = []
        for copy in final.split(batch):
            value = torch.as_tensor(self.fn(copy, self.task), device=final.device)
            if value.shape != (batch,):
                raise InterpError(
                    f"the metric {self.name!r} must return one number per prompt, shape "
                    f"({batch},); it returned shape {tuple(value.shape)}"
                )
            out.append(value.float())
        return torch.cat(out)


#: the metrics a sweep accepts by name
METRIC_NAMES = ("logit_diff", "prob", "kl")
MetricLike = str | Callable[[Tensor, Any], Tensor] | Readout


def readout_for(
    metric: MetricLike, task: Any, clean: Float[Tensor, "batch vocab"] | None = None
) -> Readout:
    """The :class:`Readout` of ``metric`` for ``task`` (anything with ``end``,
    ``answer_ids`` and ``wrong_ids``): a name of :data:`METRIC_NAMES`, a callable
    ``metric(logits, task) -> [batch]`` or a ready readout. ``"kl"`` needs the clean run's
    logits at the readout positions (``clean``).

    >>> import torch
    >>> from types import SimpleNamespace
    >>> task = SimpleNamespace(end=torch.tensor([0]), answer_ids=torch.tensor([1]),
    ...                        wrong_ids=torch.tensor([0]))
    >>> readout_for("logit_diff", task)(torch.tensor([[[0.0, 2.0]]])).item()
    2.0
    """
    if isinstance(metric, Readout):
        return metric
    if callable(metric):
        name = getattr(metric, "__name__", "custom")
        return CustomMetric(task.end, metric, task, name=name)
    if metric == "logit_diff":
        return LogitDiff(task.end, task.answer_ids, task.wrong_ids)
    if metric == "prob":
        return AnswerProb(task.end, task.answer_ids)
    if metric == "kl":
        if clean is None:
            raise InterpError("the 'kl' metric needs the clean run's logits")
        return KLToClean(task.end, clean.detach())
    raise InterpError(
        f"unknown metric {metric!r}; give one of {', '.join(METRIC_NAMES)} or a function "
        "metric(logits, task) -> one value per prompt"
    )


def logit_diff(
    logits: Float[Tensor, "rows pos vocab"],
    positions: Int[Tensor, " batch"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, " rows"]:
    """``logits[answer] - logits[wrong]`` (or the answer's logit alone) at ``positions``;
    ``rows`` may be ``k * batch`` (k stacked copies of the batch)."""
    return LogitDiff(positions, answers, wrong)(logits)


def normalised(
    value: Tensor | float, clean: Tensor | float, corrupted: Tensor | float
) -> Tensor | float:
    """``(value - corrupted) / (clean - corrupted)``: 0 at the corrupted run, 1 at the clean
    run. Raises :class:`InterpError` when the two anchors coincide (nothing to normalise)."""
    span = clean - corrupted
    if abs(float(span)) < 1e-9:
        raise InterpError(
            "the clean and corrupted runs give the same metric, so a normalised metric is "
            "undefined; choose a corruption that changes the answer"
        )
    return (value - corrupted) / span


def kl_divergence(
    logits: Float[Tensor, "rows pos vocab"],
    reference: Float[Tensor, "batch pos vocab"],
    positions: Int[Tensor, " batch"],
) -> Float[Tensor, " rows"]:
    """KL(reference ‖ patched) of the next-token distributions at ``positions``."""
    rows = logits.shape[0]
    at = torch.arange(rows, device=logits.device)
    pos = _tile(positions.to(logits.device), rows)
    logp = torch.log_softmax(logits[at, pos].float(), -1)
    b = reference.shape[0]
    ref = reference[torch.arange(b, device=reference.device), positions.to(reference.device)]
    logq = torch.log_softmax(ref.float(), -1).repeat(rows // b, 1).to(logp.device)
    return (logq.exp() * (logq - logp)).sum(-1)
