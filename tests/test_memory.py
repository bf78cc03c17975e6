"""Sweeps stay within their memory budget: masks are built per forward from a few distinct
masks (IndexedMask), chunks follow the budget, and the results do not depend on it."""

from __future__ import annotations

import numpy as np
import pytest

import interp
from interp.core.device import memory_budget, parse_bytes
from interp.methods import patching


@pytest.fixture(scope="module")
def task(ioi_model):
    return interp.ioi_task(ioi_model, n_prompts=6, seed=1)


def test_budget_bounds_every_mask_and_changes_nothing(ioi_model, task, mask_bytes):
    built = mask_bytes
    budget = 2 * 2**20
    small = interp.patch(ioi_model, task, "z", positions=["S1", "S2", "END"], memory=budget)
    n_copies = 3 * ioi_model.cfg.n_layers * ioi_model.cfg.n_heads
    chunk = patching.rows_per_chunk(ioi_model, task.n_prompts, task.seq_len, budget)
    assert 1 <= chunk < n_copies  # the budget splits the sweep
    assert max(built) <= budget
    # a dense mask per copy would have needed copies x batch x pos x heads bytes per layer
    dense = n_copies * task.n_prompts * task.seq_len * ioi_model.cfg.n_heads
    assert max(built) < dense / 4
    built.clear()
    large = interp.patch(ioi_model, task, "z", positions=["S1", "S2", "END"], memory=2**30)
    assert np.allclose(small.values, large.values, atol=1e-5)


def test_memory_budget(monkeypatch):
    assert parse_bytes("512MiB") == 512 * 2**20 and parse_bytes("2GB") == 2 * 10**9
    assert parse_bytes("1536") == 1536
    with pytest.raises(interp.InterpError, match="memory size"):
        parse_bytes("lots")
    monkeypatch.setenv("INTERP_MEMORY_BUDGET", "64MiB")
    assert memory_budget("cpu") == 64 * 2**20
    monkeypatch.delenv("INTERP_MEMORY_BUDGET")
    assert 0 < memory_budget("cpu") <= 768 * 2**20
