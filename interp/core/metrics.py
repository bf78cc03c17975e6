"""Metrics on model outputs, with anchored scales.

* :func:`logit_diff` — ``logit[answer] - logit[wrong]`` at a chosen position per prompt
  (Wang et al. 2022 use IO − S at END). Works on several stacked copies of a batch, which is
  how the batched patcher runs its sweeps; :class:`LogitDiff` is the same metric as an
  object that names its positions, so a patched forward can compute only those.
* :func:`normalised` — ARENA's patching metric: 0 means "as bad as the corrupted run",
  1 "as good as the clean run" (values outside [0, 1] overshoot either way).
* :func:`kl_divergence` — KL(reference ‖ patched) of the next-token distributions at a
  position, for tasks without a natural contrast token.
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import InterpError


def _tile(x: Tensor, rows: int) -> Tensor:
    """Repeat a ``[batch]`` index to cover ``rows = k * batch`` stacked copies."""
    if rows % x.shape[0]:
        raise InterpError(f"{rows} rows are not whole copies of a batch of {x.shape[0]}")
    return x.repeat(rows // x.shape[0])


@dataclasses.dataclass(frozen=True)
class LogitDiff:
    """``logits[answer] - logits[wrong]`` (or the answer's logit alone) at one position per
    prompt, per row; rows may be ``k * batch`` (k stacked copies of the batch).

    Because it names its positions and tokens, a patched forward can stop early: compute
    the last block and the final LayerNorm at those positions only, and only the
    :meth:`columns` of the unembedding (:mod:`interp.core.resume`), then call
    :meth:`from_columns`."""

    positions: Int[Tensor, " batch"]
    answers: Int[Tensor, " batch"]
    wrong: Int[Tensor, " batch"] | None = None

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

    def __call__(self, logits: Float[Tensor, "rows pos vocab"]) -> Float[Tensor, " rows"]:
        rows = logits.shape[0]
        pos = _tile(self.positions.to(logits.device), rows)
        return self.at(logits[torch.arange(rows, device=logits.device), pos])


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
