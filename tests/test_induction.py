"""Induction heads over training (interp.studies.induction): per-checkpoint head scores are
head_scores on the same sequences, the loss curve comes from the training record, and the
shipped trained:text grows an induction head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interp.core.errors import InterpError
from interp.studies.induction import (
    InductionOverTraining,
    shipped_induction,
    shipped_points,
    spread,
)


def test_trained_ioi_checkpoints_and_loss_curve():
    from interp.core.models import load
    from interp.core.trained import locate, training_record
    from interp.methods.attention import head_scores, repeated_sequences

    result = shipped_induction("ioi", device="cpu", n_sequences=8)
    assert result.model_name == "trained:ioi"
    assert result.steps.tolist() == [500, 650, 2000]
    assert result.induction.shape == (3, 4, 4) == result.previous_token.shape
    history = training_record("ioi")["history"]
    with_loss = [h for h in history if "loss" in h]
    assert result.loss_steps.tolist() == [h["step"] for h in with_loss]
    assert np.allclose(result.loss, [h["loss"] for h in with_loss])
    assert len(result.heldout_steps) == 0  # the ioi recipe records no held-out loss

    # the final checkpoint's scores are head_scores on the same sequences
    final = load(locate("ioi"), device="cpu")
    tokens = repeated_sequences(final, None, 10, 8, 0)
    direct = head_scores(final, tokens)
    assert np.allclose(result.induction[-1], direct.induction, atol=1e-5)
    assert np.allclose(result.previous_token[-1], direct.previous_token, atol=1e-5)
    assert result.max_induction[-1] == pytest.approx(direct.induction.max(), abs=1e-5)
    # trained:ioi learned IOI, not induction: no head reaches 0.5 (measured: max 0.08)
    assert result.formation_step() is None and result.max_induction.max() < 0.5

    rows = result.rows()
    assert [r["step"] for r in rows] == [500, 650, 2000]
    assert rows[-1]["training loss"] == pytest.approx(with_loss[-1]["loss"], abs=1e-4)
    fig = result.figure()
    assert [t.name for t in fig.data] == [
        "induction (max)",
        "previous-token (max)",
        "training loss",
    ]


def test_spread_keeps_the_ends():
    points = [(s, Path(f"step-{s}")) for s in range(0, 1000, 50)]
    kept = spread(points, 5)
    assert [s for s, _ in kept] == [0, 250, 500, 700, 950]
    assert spread(points, None) == points and spread(points[:3], 5) == points[:3]
    with pytest.raises(InterpError, match="at least two"):
        spread(points, 1)


def test_trained_text_grows_an_induction_head():
    """Olsson et al. 2022's induction heads, in the 2-layer trained:text: a head scores at
    least 0.5 at the end of training and the best score rose over the checkpoints (measured,
    seq_len 10, 16 sequences: L1H2 0.07 at step 1,000, 0.62 at 16,000; it forms between
    steps 7,000 and 8,500, with the previous-token head L0 it reads from)."""
    from interp.core.trained import trained_dir

    if not (trained_dir("text") / "config.json").exists():
        pytest.skip("trained:text is not shipped in this checkout (interp/core/trained/text)")
    points = shipped_points("text")
    result = shipped_induction("text", max_checkpoints=6, device="cpu")
    assert isinstance(result, InductionOverTraining)
    assert result.steps[0] == points[0][0] and result.steps[-1] == points[-1][0]
    assert result.max_induction[-1] >= 0.5
    assert result.max_induction[-1] > result.max_induction[0] + 0.3
    assert result.formation_step() is not None
    assert len(result.heldout_steps) > 0  # a text run records held-out loss
    print("\n".join(str(r) for r in result.rows()))
