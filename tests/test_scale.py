"""Scale-out: sharded mining equals the single-process miner (in process, and on a local Ray
cluster of 2 workers, also with a worker killed mid-run and with the driver interrupted and
restarted), and a grid of IOI runs on Ray stores the runs the script stores run by run.

The Ray tests are skipped when Ray is not installed (``pip install -e ".[scale]"``); the
cluster is small (2 CPU slots) and shut down at the end of each group.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from interp.methods.mining import load_job, mine, mine_sharded
from interp.results import mining_tables
from interp.results.store import ResultsStore
from interp.scale.cluster import INSTALL_HINT, ray_available

ARGS = {"k": 4, "window": 16, "batch_size": 3, "checkpoint_every": 2, "show_progress": False}
needs_ray = pytest.mark.skipif(
    not ray_available(), reason="Ray is not installed: pip install -e '.[scale]'"
)


@pytest.fixture(scope="module")
def reference(recall_model, corpus_path, tmp_path_factory):
    """The single-process miner's result and store."""
    store = ResultsStore(tmp_path_factory.mktemp("single"))
    return mine(recall_model, corpus_path, store=store, **ARGS), store


def _rows(store, job):
    with store.connect() as con:
        ex = con.execute(
            "SELECT * FROM ffn_examples WHERE job = ? ORDER BY layer, neuron, example_rank", (job,)
        ).fetchall()
        win = con.execute(
            "SELECT * FROM ffn_windows WHERE job = ? ORDER BY window_index", (job,)
        ).fetchall()
    return [tuple(r) for r in ex], [tuple(r) for r in win]


def assert_same(result, store, reference) -> None:
    expected, expected_store = reference
    assert result.job == expected.job
    for name, array in expected.arrays().items():
        np.testing.assert_array_equal(result.arrays()[name], array, err_msg=name)
    assert _rows(store, result.job) == _rows(expected_store, expected.job)
    assert mining_tables.job_row(store, result.job)["status"] == "complete"


# -- the sharded mechanism, in this process (no Ray) ------------------------------------------
def test_sharded_in_process_equals_single_process(recall_model, corpus_path, reference, tmp_path):
    expected, _ = reference
    assert np.isfinite(expected.activation).sum() > 1000  # a real top-k, not an empty one
    store = ResultsStore(tmp_path)
    seen = []
    result = mine_sharded(recall_model, corpus_path, store=store, shard_batches=3,
                          on_shard=lambda d, t, r: seen.append(r.shard), **ARGS)  # fmt: skip
    assert_same(result, store, reference)
    n_batches = -(-expected.n_windows // ARGS["batch_size"])
    assert sorted(seen) == list(range(-(-n_batches // 3)))
    shards = mining_tables.finished_shards(store, result.job)
    assert sorted(shards) == sorted(seen)
    assert sum(s["stop_batch"] - s["first_batch"] for s in shards.values()) == n_batches
    # tokens through the model: every stream token once, plus each window's BOS
    assert sum(s["n_tokens"] for s in shards.values()) == expected.n_tokens + expected.n_windows


def test_single_and_sharded_runs_continue_each_other(recall_model, corpus_path, reference,
                                                     tmp_path):  # fmt: skip
    store = ResultsStore(tmp_path / "a")

    def stop_at(n):
        def hook(done, total, *rest):
            if done == n:
                raise KeyboardInterrupt

        return hook

    # a single-process job stopped after 4 batches, finished sharded
    with pytest.raises(KeyboardInterrupt):
        mine(recall_model, corpus_path, store=store, on_batch=stop_at(5), **ARGS)
    seen = []
    done = mine_sharded(recall_model, corpus_path, store=store, shard_batches=2,
                        on_shard=lambda d, t, r: seen.append(r.shard), **ARGS)  # fmt: skip
    assert_same(done, store, reference)
    assert store.checkpoint(done.job)["next_batch"] == 4  # the shards start after the prefix
    assert len(seen) == len(mining_tables.finished_shards(store, done.job))
    # a sharded job stopped after 3 shards (2 recorded), finished by the single-process miner
    store = ResultsStore(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        mine_sharded(recall_model, corpus_path, store=store, shard_batches=1,
                     on_shard=stop_at(3), **ARGS)  # fmt: skip
    job = reference[0].job
    assert sorted(mining_tables.finished_shards(store, job)) == [0, 1]
    assert_same(mine(recall_model, corpus_path, store=store, **ARGS), store, reference)


def test_without_ray_a_clear_message(recall_model, corpus_path, monkeypatch, capsys, tmp_path):
    import interp.scale.cluster
    from interp.cli import main

    monkeypatch.setattr(interp.scale.cluster, "ray_available", lambda: False)
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path))
    argv = ["mine", "--corpus", str(corpus_path), "--workers", "2"]
    assert main(argv) == 2
    assert INSTALL_HINT in capsys.readouterr().err
    assert 'pip install -e ".[scale]"' in INSTALL_HINT


# -- on a local Ray cluster of 2 workers ------------------------------------------------------
@needs_ray
class TestRayMining:
    @pytest.fixture(scope="class")
    def pool(self):
        import ray

        from interp.scale.mining import MinerPool

        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)  # fmt: skip
        try:
            with MinerPool("reference:recall", workers=2, device="cpu") as pool:
                yield pool
        finally:
            ray.shutdown()

    def test_two_workers_equal_single_process(self, pool, corpus_path, reference, tmp_path):
        from interp.scale.mining import mine_on_ray

        store = ResultsStore(tmp_path)
        result = mine_on_ray("reference:recall", corpus_path, pool=pool, store=store,
                             shard_batches=2, **ARGS)  # fmt: skip
        assert_same(result, store, reference)
        workers = {s["worker"] for s in mining_tables.finished_shards(store, result.job).values()}
        pids = {int(w.rsplit(":", 1)[1]) for w in workers}
        assert pids == set(pool.pids()) and len(pids) == 2  # both workers mined, not the driver
        assert os.getpid() not in pids

    def test_killed_worker_is_restarted_and_the_result_unchanged(
        self, pool, corpus_path, reference, tmp_path
    ):
        from interp.scale.mining import mine_on_ray

        before = pool.pids()
        killed = []

        def kill_one(done, total, result):
            if not killed:  # the other worker still holds queued shards: kill it mid-run
                pid = next(p for p in before if f":{p}" not in result.worker)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        store = ResultsStore(tmp_path)
        result = mine_on_ray("reference:recall", corpus_path, pool=pool, store=store,
                             shard_batches=1, on_shard=kill_one, **ARGS)  # fmt: skip
        assert_same(result, store, reference)
        after = pool.pids()
        assert killed and killed[0] not in after and len(set(after) - set(before)) == 1
        workers = {s["worker"] for s in mining_tables.finished_shards(store, result.job).values()}
        restarted = (set(after) - set(before)).pop()
        assert any(w.endswith(f":{restarted}") for w in workers)  # the new process mined too

    def test_interrupted_driver_skips_finished_shards(self, pool, corpus_path, reference,
                                                      tmp_path):  # fmt: skip
        from interp.scale.mining import mine_on_ray

        store = ResultsStore(tmp_path)

        def interrupt(done, total, result):
            if done == 5:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            mine_on_ray("reference:recall", corpus_path, pool=pool, store=store,
                        shard_batches=1, on_shard=interrupt, **ARGS)  # fmt: skip
        job = reference[0].job
        finished = set(mining_tables.finished_shards(store, job))
        assert len(finished) == 4  # checkpoints every 2 batches: the 5th shard was not written
        assert store.checkpoint(job)["done"] is False
        again = []
        result = mine_on_ray("reference:recall", corpus_path, pool=pool, store=store,
                             on_shard=lambda d, t, r: again.append(r.shard), **ARGS)  # fmt: skip
        assert_same(result, store, reference)
        total = -(-reference[0].n_windows // ARGS["batch_size"])
        assert not finished & set(again) and len(again) == total - 4
        assert load_job(store, job).tokens_per_s > 0

    def test_cli_mine_with_workers(self, pool, corpus_path, reference, monkeypatch, capsys,
                                   tmp_path):  # fmt: skip
        import interp.scale.mining
        from interp.cli import main

        calls = []
        original = interp.scale.mining.mine_on_ray

        def on_pool(*args, **kwargs):
            calls.append(kwargs)
            return original(*args, pool=pool, **kwargs)

        monkeypatch.setattr(interp.scale.mining, "mine_on_ray", on_pool)
        monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path))
        argv = ["mine", "--corpus", str(corpus_path), "--k", "4", "--window", "16",
                "--batch-size", "3", "--workers", "2", "--shard-batches", "4"]  # fmt: skip
        assert main(argv) == 0
        assert calls[0]["workers"] == 2 and calls[0]["shard_batches"] == 4
        assert f"job {reference[0].job}" in capsys.readouterr().out
        stored = load_job(ResultsStore(tmp_path), reference[0].job)
        np.testing.assert_array_equal(stored.activation, reference[0].activation)


def assert_close(a, b, path="summary") -> None:
    """Nested JSON values equal, floats to 1e-5 relative (1e-6 absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), path
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6, nan_ok=True), path
    else:
        assert a == b, path


# -- a grid of experiment runs ----------------------------------------------------------------
@needs_ray
@pytest.mark.slow
def test_grid_of_ioi_runs_on_ray_equals_runs_one_by_one(tmp_path, monkeypatch):
    from pathlib import Path

    from interp.scale.grid import expand_grid, load_script, run_grid

    script = Path(__file__).resolve().parent.parent / "experiments" / "ioi.py"
    module = load_script(script)
    configs = expand_grid(module.Config, vary={"placement_seed": "0:4"},
                          fixed={"n_prompts": "2", "device": "cpu"})  # fmt: skip
    assert [c.placement_seed for c in configs] == [0, 1, 2, 3]
    grid_store = ResultsStore(tmp_path / "grid")
    runs = run_grid(script, configs, workers=2, store=grid_store, show_progress=False)
    assert [r.error for r in runs] == [None] * 4
    assert len({r.worker for r in runs}) >= 2 and all(len(r.run_ids) == 1 for r in runs)
    records = {r.config["placement_seed"]: r for r in grid_store.list(kind="ioi")}
    assert sorted(records) == [0, 1, 2, 3]
    # the same configs run one by one, the plain way: main(Config) into another store
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "one-by-one"))
    for config in configs:
        module.main(config)
    alone = {r.config["placement_seed"]: r for r in ResultsStore(tmp_path / "one-by-one").list()}
    assert sorted(alone) == [0, 1, 2, 3]
    # Equal up to float32 rounding: a Ray worker runs torch with its 1 CPU's thread, this
    # process with 2, and the patching sums may round differently in the last bit (1.8e-7
    # was seen); the found circuit, the planted placement and every score must agree.
    for seed, record in records.items():
        other = alone[seed]
        assert record.model == other.model and record.config == other.config
        strip = {k: v for k, v in record.summary.items() if k != "seconds"}
        assert_close(strip, {k: v for k, v in other.summary.items() if k != "seconds"})
        assert record.summary["circuit"] == other.summary["circuit"]
        arrays = grid_store.arrays(record.run_id)
        expected = ResultsStore(tmp_path / "one-by-one").arrays(other.run_id)
        assert sorted(arrays) == sorted(expected) and len(arrays) > 10
        for name in expected:
            np.testing.assert_allclose(arrays[name], expected[name], rtol=1e-5, atol=1e-6,
                                       err_msg=name)  # fmt: skip
    planted = {json.dumps(r.summary["planted"], sort_keys=True) for r in records.values()}
    assert len(planted) == 4  # four different placements of the circuit
    # a second run of the grid finds every point stored
    again = run_grid(script, configs, workers=2, store=grid_store, show_progress=False)
    assert all(r.skipped for r in again) and len(grid_store.list()) == 4


TINY_SCRIPT = '''
"""A tiny experiment: a seeded random walk, stored as a run."""
from dataclasses import asdict, dataclass

from interp.core.config import option
from interp.core.errors import InterpError


@dataclass
class Config:
    seed: int = option(0, "seed")
    steps: int = option(5, "steps")
    fail: bool = option(False, "raise an InterpError")


def main(config: Config) -> dict:
    import numpy as np

    from interp.results.store import ResultsStore

    if config.fail:
        raise InterpError("asked to fail")
    walk = np.random.default_rng(config.seed).normal(size=config.steps).cumsum()
    print("walked", config.steps)
    with ResultsStore().run("tiny", model={"name": "none"}, config=asdict(config),
                            seed=config.seed) as run:
        run.summary["end"] = float(walk[-1])
        run.arrays["walk"] = walk
    return {"end": float(walk[-1])}
'''


def test_grid_in_process_without_ray(tmp_path, capsys, monkeypatch):
    from interp.scale.cli import main as grid_main
    from interp.scale.grid import expand_grid, load_script, run_grid

    script = tmp_path / "tiny.py"
    script.write_text(TINY_SCRIPT)
    module = load_script(script)
    configs = expand_grid(module.Config, vary={"seed": "0:3", "fail": "false,true"},
                          fixed={"steps": "7"})  # fmt: skip
    assert [(c.seed, c.fail, c.steps) for c in configs][:2] == [(0, False, 7), (0, True, 7)]
    store = ResultsStore(tmp_path / "store")
    runs = run_grid(script, configs, store=store, show_progress=False)
    assert [r.error for r in runs] == [None, "asked to fail"] * 3
    assert all("walked 7" in r.log for r in runs[::2])
    stored = {r.seed: r for r in store.list(kind="tiny")}
    assert sorted(stored) == [0, 1, 2]
    for r in runs[::2]:
        (run_id,) = r.run_ids
        expected = np.random.default_rng(r.config["seed"]).normal(size=7).cumsum()
        np.testing.assert_array_equal(store.arrays(run_id)["walk"], expected)
        assert store.get(run_id).summary == {"end": float(expected[-1])} == r.summary
    again = run_grid(script, configs, store=store, show_progress=False)
    assert [r.skipped for r in again] == [True, False] * 3 and len(store.list()) == 3
    with pytest.raises(Exception, match="no fields"):
        expand_grid(module.Config, vary={"nope": "1,2"})
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "cli"))
    assert grid_main(["grid", str(script), "--vary", "seed=4,5", "--set", "steps=3"]) == 0
    out = capsys.readouterr().out
    assert "2 runs of" in out and "2 of 2 stored" in out
    assert len(ResultsStore(tmp_path / "cli").list(kind="tiny")) == 2


@needs_ray
def test_grid_on_ray_equals_in_process(tmp_path):
    from interp.scale.grid import expand_grid, load_script, run_grid

    script = tmp_path / "tiny.py"
    script.write_text(TINY_SCRIPT)
    configs = expand_grid(load_script(script).Config, vary={"seed": "0:4"})
    here, there = ResultsStore(tmp_path / "here"), ResultsStore(tmp_path / "ray")
    alone = run_grid(script, configs, store=here, show_progress=False)
    on_ray = run_grid(script, configs, workers=2, store=there, show_progress=False)
    assert [r.error for r in on_ray] == [None] * 4
    pids = {int(r.worker.rsplit(":", 1)[1]) for r in on_ray}
    assert os.getpid() not in pids  # Ray worker processes ran them, not this one
    for a, b in zip(alone, on_ray):
        assert a.config == b.config and a.summary == b.summary
        ra, rb = here.get(a.run_ids[0]), there.get(b.run_ids[0])
        assert (ra.kind, ra.config, ra.summary) == (rb.kind, rb.config, rb.summary)
        np.testing.assert_array_equal(
            here.arrays(ra.run_id)["walk"], there.arrays(rb.run_id)["walk"]
        )
