"""Trigger mining on reference:recall: exactly the brute-force top-k, the planted memories
found, resumable after SIGINT or a failure mid-checkpoint, key-value agreement, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.core.hooks import mlp_name
from interp.core.models import record_of
from interp.methods import mining
from interp.methods.ffn import Agreement, agreement, value_projections
from interp.methods.mining import examples, latest_job, load_job, mine
from interp.results.base import load_result, save
from interp.results.store import ResultsStore

ARGS = {"k": 4, "window": 16, "batch_size": 3, "checkpoint_every": 2, "show_progress": False}


@pytest.fixture(scope="module")
def mined(recall_model, corpus_path, tmp_path_factory):
    store = ResultsStore(tmp_path_factory.mktemp("mined"))
    return mine(recall_model, corpus_path, store=store, **ARGS), store


def brute_force(model, corpus_path, k: int, window: int, batch_size: int):
    """Every activation of every neuron on every eligible position (the same batches), then
    a global sort by (activation desc, corpus position asc)."""
    from interp.core.corpus import windows

    tw = windows(model.tokenizer, corpus_path, window=window)
    names = [mlp_name(layer, "post") for layer in range(model.cfg.n_layers)]
    acts, masks = [], []
    for lo, hi in tw.batches(batch_size):
        tokens, mask = tw.batch(lo, hi, model.cfg.device)
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
        acts.append(torch.stack([cache[n] for n in names]).flatten(1, 2).cpu())  # [L, P, d_mlp]
        masks.append(mask.flatten().cpu())
    a, m = torch.cat(acts, dim=1).numpy(), torch.cat(masks).numpy()
    gidx = np.arange(a.shape[1])[m]
    out_v = np.empty(a.shape[::2] + (k,), dtype=np.float32)  # [layer, d_mlp, k]
    out_g = np.empty(out_v.shape, dtype=np.int64)
    for layer in range(a.shape[0]):
        for n in range(a.shape[2]):
            vals = a[layer, m, n]
            order = np.lexsort((gidx, -vals))[:k]
            out_v[layer, n], out_g[layer, n] = vals[order], gidx[order]
    return out_v, out_g, tw


def test_mining_equals_brute_force(recall_model, corpus_path, mined):
    result, _ = mined
    values, gidx, tw = brute_force(recall_model, corpus_path, 4, 16, 3)
    assert result.n_tokens == tw.n_tokens > 600 and result.layers == list(range(8))
    np.testing.assert_array_equal(result.window_index * 16 + result.position, gidx)
    np.testing.assert_array_equal(result.activation, values)
    np.testing.assert_array_equal(result.token, tw.tokens[result.window_index, result.position])
    nxt = tw.next_tokens()[result.window_index, result.position]
    np.testing.assert_array_equal(result.next_token, nxt)
    # most neurons are zero everywhere: their ties go to the earliest positions
    assert (gidx[0, 0] == [1, 2, 3, 4]).all()


def test_planted_memories_are_their_triggers_top_neurons(recall_model, mined):
    result, store = mined
    vocab = recall_model.tokenizer.get_vocab()
    values = value_projections(recall_model, [2, 3], k=3, store=store)
    for m in record_of(recall_model).reference["memories"]:
        slot = result.layers.index(m["layer"])
        trigger, target = vocab[m["trigger"]], vocab[m["target"]]
        assert (result.token[slot, m["neuron"]] == trigger).all()  # all 4 examples
        assert result.activation[slot, m["neuron"], -1] > 3.0
        # over every neuron of every layer, the planted one fires most on the trigger
        fires = np.where(result.token[:, :, 0] == trigger, result.activation[:, :, 0], -np.inf)
        assert np.unravel_index(np.argmax(fires), fires.shape) == (slot, m["neuron"])
        assert values.top(m["layer"], m["neuron"], 1)[0][0].strip() == m["target"]
        found = examples(store, result.job, m["layer"], m["neuron"])
        assert [e.rank for e in found] == [0, 1, 2, 3]
        assert [e.activation for e in found] == pytest.approx(
            result.activation[slot, m["neuron"]].tolist()
        )
        for e in found:
            assert e.token == m["trigger"] and e.text.split()[-1] == m["trigger"]
            assert e.next_token == m["target"] and e.next_token_id == target
            assert e.text == (e.context + " " + e.token).strip()
            assert len(e.text.split()) == e.position  # the prefix from after BOS


def test_examples_are_one_indexed_query(mined):
    result, store = mined
    with store.connect() as con:
        plan = con.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM ffn_examples WHERE job = ? AND layer = ? "
            "AND neuron = ?",
            (result.job, 2, 14),
        ).fetchall()
        n_windows = con.execute("SELECT count(*) FROM ffn_windows").fetchone()[0]
    assert "ix_ffn_examples_job_layer_neuron" in " ".join(str(tuple(r)) for r in plan)
    assert n_windows == len(np.unique(result.window_index))  # only referenced windows kept
    assert latest_job(store, result_model_stub(result)) is None  # another model: no job


def result_model_stub(result):
    """A model-like object whose record differs from the mined model's."""
    from interp.core.models import ModelRecord, remember

    class Stub:
        pass

    stub = Stub()
    remember(stub, ModelRecord("other", "local", "/nowhere", 1, 1, 1, 1, 1, 1, 1, "cpu", "x"))
    return stub


def test_complete_job_is_not_recomputed(recall_model, corpus_path, mined):
    result, store = mined

    def fail(done, total):
        raise AssertionError("the complete job ran again")

    again = mine(recall_model, corpus_path, store=store, on_batch=fail, **ARGS)
    for name, array in result.arrays().items():
        np.testing.assert_array_equal(again.arrays()[name], array)
    assert latest_job(store, recall_model, 3) == result.job
    stored = load_result(save(result, model=recall_model, config=ARGS, store=store).run_id, store)
    np.testing.assert_array_equal(stored.window_index, result.window_index)
    assert stored.figure().data[0].type == "heatmap"


def _db_rows(store, job):
    with store.connect() as con:
        ex = con.execute(
            "SELECT * FROM ffn_examples WHERE job = ? ORDER BY layer, neuron, example_rank", (job,)
        ).fetchall()
        win = con.execute(
            "SELECT * FROM ffn_windows WHERE job = ? ORDER BY window_index", (job,)
        ).fetchall()
    return [tuple(r) for r in ex], [tuple(r) for r in win]


def test_interrupted_between_checkpoints_resumes_exactly(
    recall_model, corpus_path, mined, tmp_path
):
    result, reference_store = mined
    store = ResultsStore(tmp_path)

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mine(recall_model, corpus_path, store=store, on_batch=interrupt, **ARGS)
    assert store.checkpoint(result.job) == {"next_batch": 4, "done": False}
    seen = []
    resumed = mine(recall_model, corpus_path, store=store, on_batch=lambda d, t: seen.append(d),
                   **ARGS)  # fmt: skip
    assert seen[0] == 5  # continued after the checkpoint, not from the start
    for name, array in result.arrays().items():
        np.testing.assert_array_equal(resumed.arrays()[name], array)
    assert _db_rows(store, result.job) == _db_rows(reference_store, result.job)


def test_failure_inside_a_checkpoint_write_resumes_exactly(
    recall_model, corpus_path, mined, tmp_path, monkeypatch
):
    result, reference_store = mined
    store = ResultsStore(tmp_path)
    calls = []
    original = ResultsStore.set_checkpoint

    def crash_on_third(self, job, state, con=None):
        calls.append(state)
        if len(calls) == 3:  # rows of this checkpoint already inserted in the transaction
            raise KeyboardInterrupt
        return original(self, job, state, con)

    monkeypatch.setattr(ResultsStore, "set_checkpoint", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        mine(recall_model, corpus_path, store=store, **ARGS)
    monkeypatch.undo()
    assert store.checkpoint(result.job) == {"next_batch": 2, "done": False}  # rolled back
    resumed = mine(recall_model, corpus_path, store=store, **ARGS)
    np.testing.assert_array_equal(resumed.activation, result.activation)
    assert _db_rows(store, result.job) == _db_rows(reference_store, result.job)


CHILD = """
    import pathlib, sys, time
    from interp.methods.mining import mine
    from interp.core.models import load
    from interp.results.store import ResultsStore

    corpus, root, marker = sys.argv[1:4]
    model = load("reference:recall", device="cpu")

    def slow(done, total):
        if done == 3:
            pathlib.Path(marker).touch()
        # slow after the marker, so that a loaded machine's late SIGINT still lands mid-run
        time.sleep(0.25 if done < 3 else 2.0)

    mine(model, corpus, k=4, window=16, batch_size=3, checkpoint_every=2,
         store=ResultsStore(root), show_progress=False, on_batch=slow)
    sys.exit(3)  # never reached: interrupted first
"""


def test_sigint_then_restart_equals_uninterrupted_run(recall_model, corpus_path, mined, tmp_path):
    result, reference_store = mined
    marker, root = tmp_path / "marker", tmp_path / "store"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(corpus_path), str(root), str(marker)],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"child exited early: {child.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the child never reached batch 3"
            time.sleep(0.02)
        time.sleep(0.1)  # somewhere inside batch 4
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode not in (0, 3) and b"KeyboardInterrupt" in err
    store = ResultsStore(root)
    state = store.checkpoint(result.job)
    total = -(-result.n_windows // ARGS["batch_size"])
    assert state["done"] is False and 2 <= state["next_batch"] < total
    resumed = mine(recall_model, corpus_path, store=store, **ARGS)
    if torch.device(recall_model.cfg.device).type == "cpu":  # bit-identical on CPU
        for name, array in result.arrays().items():
            np.testing.assert_array_equal(resumed.arrays()[name], array)
        assert _db_rows(store, result.job) == _db_rows(reference_store, result.job)
    else:  # GPU kernels may differ in the last bit between processes
        for name, array in result.arrays().items():
            np.testing.assert_allclose(resumed.arrays()[name], array, rtol=1e-5, atol=1e-5)


def test_agreement_on_planted_memories(recall_model, mined):
    result, store = mined
    values = value_projections(recall_model, None, k=3, store=store)
    agree = agreement(values, result, n_shuffles=200, seed=1)
    assert agree.layers == list(range(8))
    planted = record_of(recall_model).reference
    for m in planted["memories"]:
        assert agree.agrees[m["layer"], m["neuron"]]
    # layers 2 and 3 hold two memory neurons each and nothing else: both agree; shuffled,
    # the two next tokens swap half the time
    for layer in (2, 3):
        assert agree.n_neurons[layer] == 2 and agree.rate[layer] == 1.0
        assert 0.35 < agree.baseline[layer] < 0.65
    assert agree.n_neurons[0] == 0 and agree.rate[0] == 0.0  # no live neurons
    assert agree.figure().data[0].y[2] == 100.0


def test_agreement_counts_and_shuffled_baseline():
    from interp.methods.ffn import ValueProjection
    from interp.methods.mining import MiningResult

    n, k = 8, 2
    top = np.arange(10, 10 + n)
    values = ValueProjection(
        model="m", layers=[0], k=1, top_ids=top.reshape(1, n, 1),
        top_scores=np.ones((1, n, 1), np.float32), bottom_ids=np.zeros((1, n, 1), np.int64),
        bottom_scores=np.zeros((1, n, 1), np.float32), value_norms=np.ones((1, n), np.float32),
    )  # fmt: skip
    nxt = np.stack([top, np.full(n, 99)], axis=1)  # every neuron agrees at its top example
    nxt[[1, 3], 0] = 98  # except two, which agree only at their second
    nxt[[1], 1] = top[1]
    nxt[7] = -1  # and one has no example at all
    zeros = np.zeros((1, n, k), np.int64)
    result = MiningResult(
        job="j", model="m", corpus="c", fingerprint="f", layers=[0], k=k, window=4,
        batch_size=1, n_tokens=1, n_windows=1, tokens_per_s=0.0,
        activation=np.ones((1, n, k), np.float32), window_index=zeros, position=zeros,
        token=zeros, next_token=nxt[None],
    )  # fmt: skip
    one = agreement(values, result, examples=1, n_shuffles=4000, seed=0)
    assert isinstance(one, Agreement) and one.n_neurons.tolist() == [7]
    assert one.rate[0] == pytest.approx(5 / 7)
    assert one.baseline[0] == pytest.approx(5 / 7 / 7, abs=0.01)  # E[fixed matches] / n
    two = agreement(values, result, examples=2, n_shuffles=10, seed=0)
    assert two.rate[0] == pytest.approx(6 / 7)
    with pytest.raises(InterpError, match="examples must be"):
        agreement(values, result, examples=3)


def test_bad_arguments(recall_model, corpus_path, store):
    with pytest.raises(InterpError, match="exceeds the model's context"):
        mine(recall_model, corpus_path, window=65, store=store)
    with pytest.raises(InterpError, match="do not exist"):
        mine(recall_model, corpus_path, layers=[8], store=store)
    with pytest.raises(InterpError, match="k must be"):
        mine(recall_model, corpus_path, k=0, store=store)
    with pytest.raises(InterpError, match="no mining job"):
        load_job(store, "mine-missing")
    assert mining.jobs(ResultsStore(store.root / "empty")) == []


def test_cli_mine_and_neuron(recall_model, corpus_path, monkeypatch, capsys, tmp_path):
    import interp.core.models
    from interp.cli import main

    monkeypatch.setattr(interp.core.models, "load", lambda *a, **k: recall_model)
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    assert main(["neuron", "2", "14"]) == 0
    out = capsys.readouterr().out
    assert "value promotes:   'cup'" in out and "no trigger examples mined" in out
    argv = ["mine", "--corpus", str(corpus_path), "--layers", "2", "3", "--k", "3",
            "--window", "16", "--batch-size", "4"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layers 2..3, top-3 per neuron" in out and "tokens/s" in out
    assert main(["neuron", "L2", "N14", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip().startswith(("1.", "2.", "3."))]
    assert len(lines) == 2 and all("[coffee]  -> 'cup'" in line for line in lines)
    assert main(["neuron", "2", "99"]) == 2
    assert "neurons 0..63" in capsys.readouterr().err
    assert main(["mine", "--corpus", str(tmp_path / "none.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_experiment_script_recovers_the_planted_memories(
    recall_model, corpus_path, monkeypatch, tmp_path, capsys
):
    import importlib.util
    from pathlib import Path

    import interp.core.models

    path = Path(__file__).resolve().parent.parent / "experiments" / "ffn_memories.py"
    spec = importlib.util.spec_from_file_location("ffn_memories", path)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ffn_memories", script)  # dataclasses look it up
    spec.loader.exec_module(script)
    monkeypatch.setattr(interp.core.models, "load", lambda *a, **k: recall_model)
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path))
    config = script.Config(corpus=str(corpus_path), window=16, batch_size=4, k=4, n_shuffles=10)
    summary = script.main(config)
    out = capsys.readouterr().out
    assert summary["all_recovered"] is True and "all recovered: True" in out
    assert [m["found_attribution_neuron"] for m in summary["memories"]] == [
        f"L{m['layer']}N{m['neuron']}" for m in record_of(recall_model).reference["memories"]
    ]
    assert summary["agreement"]["2"] == 1.0  # here every trigger is followed by its target
    store = ResultsStore(tmp_path)
    kinds = sorted(r.kind for r in store.list())
    assert kinds.count("ffn_memories") == 1 and kinds.count("ffn_prediction") == 4
    assert {"ffn_mining", "ffn_agreement", "ffn_intervention", "ffn_values"} <= set(kinds)
