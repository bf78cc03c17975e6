"""Path patching: the batched three-run implementation equals a plain one-sender-at-a-time
implementation, equals activation patching where the two must agree, and finds the planted
sender -> receiver paths (and nothing else)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.core.hooks import head_name, names_filter
from interp.core.models import record_of
from interp.methods.patching import patch_heads
from interp.methods.path_patching import path_patch
from interp.tasks.ioi import ioi_task


@pytest.fixture(scope="module")
def task(ioi_model):
    return ioi_task(ioi_model, 8, seed=4)


@pytest.fixture(scope="module")
def placement(ioi_model):
    return {
        r: [tuple(h) for h in hs] for r, hs in record_of(ioi_model).reference["placement"].items()
    }


def naive_path_patch(model, task, sender, receivers, what, position, clean, corrupt):
    """The ARENA recipe, one sender, plain hooks: freeze every head to the clean run except the
    sender (corrupted), cache the receivers' ``what``; rerun clean with those patched in."""
    z = [head_name(layer, "z") for layer in range(model.cfg.n_layers)]

    def freeze(act, hook):
        out = clean[hook.name].clone()
        if hook.name == head_name(sender[0], "z"):
            out[:, :, sender[1]] = corrupt[hook.name][:, :, sender[1]]
        return out

    names = sorted({head_name(layer, what) for layer, _ in receivers})
    with torch.no_grad(), model.hooks(fwd_hooks=[(n, freeze) for n in z]):
        _, cache = model.run_with_cache(task.clean_tokens, names_filter=names_filter(names))
    rows = torch.arange(task.n_prompts)
    at = task.positions[position]

    def patch(act, hook):
        act = act.clone()
        for layer, head in receivers:
            if hook.name == head_name(layer, what):
                act[rows, at, head] = cache[hook.name][rows, at, head]
        return act

    with torch.no_grad():
        logits = model.run_with_hooks(task.clean_tokens, fwd_hooks=[(n, patch) for n in names])
    return task.metric(logits).item()


def test_batched_equals_one_sender_at_a_time(ioi_model, task, placement):
    receivers = placement["name_mover"]
    result = path_patch(ioi_model, task, receivers, "q", "END", desc=None)
    senders = placement["s_inhibition"] + [placement["induction"][0], (5, 3)]
    z = names_filter([head_name(layer, "z") for layer in range(8)])
    with torch.no_grad():
        _, clean = ioi_model.run_with_cache(task.clean_tokens, names_filter=z)
        _, corrupt = ioi_model.run_with_cache(task.corrupted_tokens, names_filter=z)
    for sender in senders:
        expected = naive_path_patch(ioi_model, task, sender, receivers, "q", "END", clean, corrupt)
        assert result.values[sender] == pytest.approx(expected, abs=1e-4), sender


def test_into_logits_equals_activation_patching_in_the_last_layer(ioi_model, task):
    result = path_patch(ioi_model, task, desc=None)
    noising = patch_heads(ioi_model, task, "z", direction="noising")
    # a last-layer head reaches the logits only directly: the two interventions coincide
    assert np.abs(result.values[-1] - noising.values[-1]).max() < 1e-4
    assert result.target == "logits" and result.receiver_input == "logits"
    assert result.clean_value == pytest.approx(noising.clean_value, abs=1e-5)


def test_finds_the_planted_paths_and_nothing_else(ioi_model, task, placement):
    steps = [
        (placement["name_mover"], "q", "END", placement["s_inhibition"]),
        (
            placement["s_inhibition"],
            "v",
            None,
            placement["induction"] + placement["duplicate_token"],
        ),
        (placement["induction"], "k", None, placement["previous_token"]),
    ]
    for receivers, what, position, senders in steps:
        result = path_patch(ioi_model, task, receivers, what, position, desc=None)
        for (layer, head), effect in np.ndenumerate(result.effect):
            if (layer, head) in senders:
                assert effect < -0.1, (what, layer, head)
            else:
                assert abs(effect) < 0.01, (what, layer, head)
        # a sender in or after the receivers' last layer cannot reach them: exactly 0
        last = max(lyr for lyr, _ in receivers)
        assert (result.effect[last:] == 0).all()
    assert result.figure().data[0].z.shape == (8, 4)


def test_subset_of_senders_and_bad_input(ioi_model, task, placement):
    some = path_patch(ioi_model, task, placement["name_mover"], "q", "END",
                      senders=placement["s_inhibition"], desc=None)  # fmt: skip
    assert np.isfinite(some.values).sum() == 2  # the others are not computed (nan)
    with pytest.raises(InterpError, match="outside"):
        path_patch(ioi_model, task, [(9, 0)], "q")
    with pytest.raises(InterpError, match="combine q, k, v"):
        path_patch(ioi_model, task, [(6, 1)], "x")
    with pytest.raises(InterpError, match="unknown position"):
        path_patch(ioi_model, task, [(6, 1)], "q", "S3")
