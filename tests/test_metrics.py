"""Metrics: logit difference on hand-made and real logits, the normalised patching metric at
its anchors (0 = corrupted, 1/2, 1 = clean), KL divergence."""

from __future__ import annotations

import pytest
import torch

from interp.core.errors import InterpError
from interp.core.metrics import kl_divergence, logit_diff, normalised
from interp.tasks.ioi import ioi_task


def test_logit_diff_by_hand():
    logits = torch.zeros(2, 3, 5)
    logits[0, 2, 1], logits[0, 2, 4] = 3.0, 1.0  # prompt 0 reads position 2
    logits[1, 1, 0], logits[1, 1, 2] = -1.0, 0.5  # prompt 1 reads position 1
    positions, answers, wrong = torch.tensor([2, 1]), torch.tensor([1, 0]), torch.tensor([4, 2])
    assert logit_diff(logits, positions, answers, wrong).tolist() == [2.0, -1.5]
    assert logit_diff(logits, positions, answers).tolist() == [3.0, -1.0]
    # three stacked copies of the batch (how the batched patcher runs sweeps)
    stacked = torch.cat([logits, 2 * logits, 0 * logits])
    assert logit_diff(stacked, positions, answers, wrong).tolist() == [2, -1.5, 4, -3, 0, 0]
    with pytest.raises(InterpError, match="whole copies"):
        logit_diff(logits[:1].repeat(3, 1, 1), positions, answers, wrong)


def test_normalised_anchors(ioi_model):
    task = ioi_task(ioi_model, 8, seed=0)
    with torch.no_grad():
        clean = task.metric(ioi_model(task.clean_tokens)).item()
        corrupted = task.metric(ioi_model(task.corrupted_tokens)).item()
    assert clean == pytest.approx(5.18, abs=0.1)
    assert normalised(clean, clean, corrupted) == pytest.approx(1.0)
    assert normalised(corrupted, clean, corrupted) == pytest.approx(0.0)
    assert normalised((clean + corrupted) / 2, clean, corrupted) == pytest.approx(0.5)
    assert normalised(torch.tensor([corrupted, clean]), clean, corrupted).tolist() == pytest.approx(
        [0.0, 1.0]
    )
    with pytest.raises(InterpError, match="undefined"):
        normalised(1.0, 2.0, 2.0)


def test_kl_divergence(ioi_model):
    task = ioi_task(ioi_model, 4, seed=0)
    with torch.no_grad():
        clean = ioi_model(task.clean_tokens)
        corrupted = ioi_model(task.corrupted_tokens)
    assert kl_divergence(clean, clean, task.end).abs().max() < 1e-5
    kl = kl_divergence(corrupted, clean, task.end)
    assert (kl > 0.1).all()  # losing the IO preference costs information
    assert kl_divergence(torch.cat([clean, corrupted]), clean, task.end).shape == (8,)
