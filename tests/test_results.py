"""The result registry and runs stored by earlier versions.

``KINDS`` is the one table from a stored kind to the class that rebuilds it: every entry
must import and name a class of that kind, and every Result class in the package must be in
it. ``tests/data/store-0.1.0`` is a results store written by interp 0.1.0 (commit a156de5:
``experiments/ioi.py``, ``experiments/ablate.py --store``, ``experiments/capitals.py``, and
head / residual / path patching and a logit lens saved with ``interp.results.save``); its
runs must still list, load and draw.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import shutil
from pathlib import Path

import numpy as np
import pytest

import interp
from interp.results.base import KINDS, Result, load_result, result_class

OLD_STORE = Path(__file__).parent / "data" / "store-0.1.0"


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_registry_both_ways():
    for kind, path in KINDS.items():
        cls = result_class(kind)
        assert f"{cls.__module__}.{cls.__qualname__}" == path
        assert cls.kind == kind, f"{path} says kind {cls.kind!r}, the registry {kind!r}"
    for module in pkgutil.walk_packages(interp.__path__, "interp."):
        importlib.import_module(module.name)
    unregistered = {
        f"{c.__module__}.{c.__qualname__}"
        for c in _all_subclasses(Result)
        if c.__module__.startswith("interp.")
        and KINDS.get(c.kind) != f"{c.__module__}.{c.__qualname__}"
    }
    assert not unregistered, f"add these to KINDS: {sorted(unregistered)}"
    with pytest.raises(interp.InterpError, match="no result class"):
        result_class("no_such_kind")


@pytest.fixture()
def old_store(tmp_path):
    root = tmp_path / "store"
    shutil.copytree(OLD_STORE, root)
    return interp.Store(root)


def test_old_runs_list_load_and_draw(old_store):
    records = old_store.list()
    kinds = sorted(r.kind for r in records)
    assert kinds == sorted(
        ["ioi", "ablation", "patching", "patching", "path_patching", "logit_lens", "capitals"]
    )
    for record in records:
        result = load_result(record.run_id, store=old_store)
        assert isinstance(result, result_class(record.kind))
        figure = result.figure()
        assert figure.data, f"{record.kind} drew an empty figure"
    by_kind = {r.kind: r for r in records}
    heads = load_result(
        next(r.run_id for r in records if r.kind == "patching" and "head" in r.summary["axes"]),
        store=old_store,
    )
    assert heads.metric == "logit_diff" and heads.values.shape == (8, 4)
    ablation = load_result(by_kind["ablation"].run_id, store=old_store)
    assert ablation.components == ["L6H1", "L6H3"]
    assert ablation.after == pytest.approx(1.675, abs=0.01)
    ioi = load_result(by_kind["ioi"].run_id, store=old_store)
    assert sorted(ioi.circuit["name_mover"]) == [[6, 1], [6, 3]]


def test_new_runs_round_trip(ioi_model, store):
    task = interp.ioi_task(ioi_model, n_prompts=6)
    result = interp.patch(ioi_model, task, "z", metric="prob")
    run = interp.save(result, model=ioi_model, config={"activation": "z"}, store=store)
    back = load_result(run.run_id, store=store)
    assert back.metric == "prob"
    for field in dataclasses.fields(result):
        a, b = getattr(result, field.name), getattr(back, field.name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
