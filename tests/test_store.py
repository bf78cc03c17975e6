"""The results store: round trips, crash safety, concurrent writers, the run() context manager,
comparison and the generic analysis tables."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import interp
from interp.core.errors import InterpError
from interp.results.store import ResultsStore, RunRecord, format_runs_table

REPO = Path(interp.__file__).resolve().parent.parent
MODEL = {"name": "reference:ioi", "n_layers": 2}


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _spawn(script: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@dataclasses.dataclass
class _Config:
    layers: list[int]
    lr: float
    out: Path
    scale: np.float32


def _save(store: ResultsStore, i: int, kind: str = "ioi") -> RunRecord:
    return store.save(
        kind,
        model=MODEL,
        config={"i": i},
        seed=i,
        summary={"i": i},
        arrays={"x": np.full((3, 4), i, dtype=np.float32)},
    )


# -- 1. round trip ------------------------------------------------------------------------
def test_round_trip_exact(tmp_path):
    store = ResultsStore(tmp_path / "results")
    arrays = {
        "scores": np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32).T,
        "ids": np.arange(-3, 9, dtype=np.int64).reshape(3, 4),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5),  # 0-d stays 0-d
    }
    config = _Config(layers=[0, 1], lr=1e-3, out=Path("/tmp/x"), scale=np.float32(0.5))
    summary = {"circuit": [[0, 1], [1, 3]], "score": np.float64(0.875), "n": np.int64(7)}
    rec = store.save("ioi", model=MODEL, config=config, seed=3, summary=summary, arrays=arrays)

    got = store.get(rec.run_id)
    assert got == rec
    assert got.config == {"layers": [0, 1], "lr": 1e-3, "out": "/tmp/x", "scale": 0.5}
    assert got.summary == {"circuit": [[0, 1], [1, 3]], "score": 0.875, "n": 7}
    assert got.model == MODEL and got.seed == 3 and got.status == "complete"
    assert got.kind == "ioi" and got.finished_at >= got.started_at
    assert got.code_version["interp"] == interp.__version__
    assert sorted(got.array_names) == sorted(arrays)

    loaded = store.arrays(rec.run_id)
    assert loaded.keys() == arrays.keys()
    for name, a in arrays.items():
        assert loaded[name].dtype == a.dtype and loaded[name].shape == a.shape, name
        np.testing.assert_array_equal(loaded[name], a)
    assert list(store.arrays(rec.run_id, ["ids"])) == ["ids"]
    with pytest.raises(InterpError, match="no arrays"):
        store.arrays(rec.run_id, ["nope"])


def test_list_get_delete(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.list() == []
    runs = [_save(store, i, kind="ioi" if i % 2 else "lens") for i in range(4)]
    assert [r.run_id for r in store.list()] == [r.run_id for r in reversed(runs)]
    assert [r.summary["i"] for r in store.list(kind="ioi")] == [3, 1]
    assert [r.summary["i"] for r in store.list(limit=2)] == [3, 2]
    with pytest.raises(InterpError, match="no run 'missing'"):
        store.get("missing")
    with pytest.raises(InterpError):
        store.arrays("missing")

    store.delete(runs[1].run_id)
    assert [r.summary["i"] for r in store.list()] == [3, 2, 0]
    assert not (tmp_path / "arrays" / f"{runs[1].run_id}.safetensors").exists()
    with pytest.raises(InterpError):
        store.get(runs[1].run_id)
    with pytest.raises(InterpError):
        store.delete(runs[1].run_id)


def test_run_ids_sortable_and_validated(tmp_path):
    store = ResultsStore(tmp_path)
    rec = _save(store, 0)
    date, clock, tail = rec.run_id.split("-")
    assert len(date) == 8 and len(clock) == 6 and len(tail) == 8
    assert rec.run_id[:15] == rec.started_at[:19].replace("-", "").replace(":", "").replace(
        "T", "-"
    )
    with pytest.raises(InterpError, match="already"):
        store.save("ioi", model=MODEL, config={}, seed=0, summary={}, run_id=rec.run_id)
    with pytest.raises(InterpError, match="invalid run id"):
        store.save("ioi", model=MODEL, config={}, seed=0, summary={}, run_id="../evil")
    with pytest.raises(InterpError, match="dtype"):
        store.save("ioi", model=MODEL, config={}, seed=0, summary={}, arrays={"s": np.array(["a"])})
    with pytest.raises(InterpError, match="JSON"):
        store.save("ioi", model=MODEL, config={"f": object()}, seed=0, summary={})
    assert [r.run_id for r in store.list()] == [rec.run_id]


def test_default_root_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "env-results"))
    store = ResultsStore()
    assert store.root == tmp_path / "env-results"
    assert store.list() == [] and not store.root.exists()  # reading creates nothing
    _save(store, 0)
    assert (tmp_path / "env-results" / "runs.sqlite").exists()


# -- 2. a process killed mid-write --------------------------------------------------------
CRASH_CHILD = """
    import sys, time
    from contextlib import contextmanager
    import numpy as np
    import safetensors.numpy
    from interp.results.store import ResultsStore

    root, stage, marker = sys.argv[1:4]
    store = ResultsStore(root)
    big = np.arange(2_000_000, dtype=np.float32)

    def hold(*args, **kwargs):
        open(marker, "w").close()
        time.sleep(120)

    if stage == "writing_arrays":
        def partial(tensors, path, *args, **kwargs):
            with open(path, "wb") as f:
                f.write(b"\\0" * 4096)
            hold()
        safetensors.numpy.save_file = partial
    elif stage == "before_insert":
        ResultsStore.transaction = lambda self: hold()
    elif stage == "in_transaction":
        original = ResultsStore.transaction
        @contextmanager
        def slow(self):
            with original(self) as con:
                yield con
                hold()
        ResultsStore.transaction = slow

    if stage == "in_context":
        with store.run("crash", model={"name": "m"}, config={}, seed=0) as run:
            run.arrays["big"] = big
            run.summary["done"] = True
            hold()
    else:
        store.save("crash", model={"name": "m"}, config={}, seed=0, summary={}, arrays={"big": big})
    sys.exit(3)  # never reached: the parent kills us first
"""


@pytest.mark.parametrize(
    "stage", ["writing_arrays", "before_insert", "in_transaction", "in_context"]
)
def test_killed_mid_write_leaves_no_partial_run(tmp_path, stage):
    store = ResultsStore(tmp_path)
    before = [_save(store, i) for i in range(2)]
    marker = tmp_path / "holding"
    child = _spawn(CRASH_CHILD, tmp_path, stage, marker)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"child exited early: {child.stderr.read().decode()}")
            assert time.monotonic() < deadline, "child never reached the crash point"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    fresh = ResultsStore(tmp_path)  # as a new process would open it
    assert [r.run_id for r in fresh.list()] == [r.run_id for r in reversed(before)]
    assert fresh.list(kind="crash") == []
    for r in before:
        np.testing.assert_array_equal(fresh.arrays(r.run_id)["x"], np.full((3, 4), r.seed))
    finals = {p.name.removesuffix(".safetensors") for p in (tmp_path / "arrays").iterdir()}
    finals = {name for name in finals if not name.startswith(".")}
    if stage in ("before_insert", "in_transaction"):  # arrays land first: an orphan file
        assert len(finals - {r.run_id for r in before}) == 1
    else:
        assert finals == {r.run_id for r in before}
    with sqlite3.connect(tmp_path / "runs.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    after = _save(fresh, 9)  # the lock was released and the store still takes writes
    assert fresh.list(limit=1)[0].run_id == after.run_id


# -- 3. concurrent writers ----------------------------------------------------------------
WRITER_CHILD = """
    import os, sys, time
    import numpy as np
    from interp.results.store import ResultsStore

    root, proc, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    store = ResultsStore(root)
    while not os.path.exists(go):
        time.sleep(0.002)
    for i in range(50):
        rng = np.random.default_rng(1000 * proc + i)
        arrays = {"x": rng.standard_normal((32, 8)).astype(np.float32),
                  "idx": np.arange(i, dtype=np.int64)}
        store.save("conc", model={"name": "m"}, config={"proc": proc, "i": i}, seed=i,
                   summary={"proc": proc, "i": i}, arrays=arrays)
"""


def test_two_processes_fifty_runs_each(tmp_path):
    root = tmp_path / "shared"  # does not exist yet: both writers also race to create it
    go = tmp_path / "go"
    children = [_spawn(WRITER_CHILD, root, proc, go) for proc in (0, 1)]
    time.sleep(0.3)
    go.touch()
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()

    store = ResultsStore(root)
    runs = store.list()
    assert len(runs) == 100 and len({r.run_id for r in runs}) == 100
    assert sorted((r.summary["proc"], r.summary["i"]) for r in runs) == [
        (p, i) for p in (0, 1) for i in range(50)
    ]
    for r in runs:
        proc, i = r.summary["proc"], r.summary["i"]
        assert r.config == {"proc": proc, "i": i}
        rng = np.random.default_rng(1000 * proc + i)
        got = store.arrays(r.run_id)
        np.testing.assert_array_equal(got["x"], rng.standard_normal((32, 8)).astype(np.float32))
        np.testing.assert_array_equal(got["idx"], np.arange(i, dtype=np.int64))
        assert got["idx"].dtype == np.int64


# -- 4. the run() context manager ---------------------------------------------------------
def test_run_context_saves_on_normal_exit(tmp_path):
    store = ResultsStore(tmp_path)
    config = {"layers": [0, 1]}
    with store.run("lens", model=MODEL, config=config, seed=1) as run:
        config["layers"].append(2)  # captured on entry: later changes are not recorded
        run.summary["best_layer"] = 1
        run.arrays["probs"] = np.linspace(0, 1, 5, dtype=np.float32)
        assert store.list() == []  # not visible until the block ends
    assert run.record is not None and store.get(run.run_id) == run.record
    assert run.record.config == {"layers": [0, 1]}
    assert run.record.summary == {"best_layer": 1}
    np.testing.assert_array_equal(store.arrays(run.run_id)["probs"], run.arrays["probs"])


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_run_context_stores_nothing_on_exception(tmp_path, exc):
    store = ResultsStore(tmp_path)
    kept = _save(store, 0)
    with pytest.raises(exc):
        with store.run("lens", model=MODEL, config={}, seed=1) as run:
            run.summary["partial"] = True
            run.arrays["x"] = np.ones(3)
            raise exc("stop")
    assert [r.run_id for r in store.list()] == [kept.run_id]
    assert run.record is None
    assert sorted(p.name for p in (tmp_path / "arrays").iterdir()) == [f"{kept.run_id}.safetensors"]


def test_run_context_rejects_unserialisable_config_on_entry(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(InterpError, match="JSON"):
        with store.run("lens", model=MODEL, config={"fn": print}, seed=0):
            pytest.fail("the block must not run")


# -- 5. compare ---------------------------------------------------------------------------
def test_compare_reports_differing_config_keys(tmp_path):
    store = ResultsStore(tmp_path)
    base = {"lr": 0.1, "layers": {"a": 1, "b": 2}, "task": "ioi"}
    other = {"lr": 0.2, "layers": {"a": 1, "b": 3}, "task": "ioi", "extra": True}
    r1 = store.save("ioi", model=MODEL, config=base, seed=0, summary={"score": 0.5})
    r2 = store.save("ioi", model={"name": "gpt2"}, config=other, seed=1, summary={"score": 0.7})
    cmp = store.compare([r1.run_id, r2.run_id])
    assert cmp["run_ids"] == [r1.run_id, r2.run_id]
    assert cmp["config_diff"] == {
        "extra": {r1.run_id: None, r2.run_id: True},
        "layers.b": {r1.run_id: 2, r2.run_id: 3},
        "lr": {r1.run_id: 0.1, r2.run_id: 0.2},
    }
    assert cmp["config_same"] == {"layers.a": 1, "task": "ioi"}
    assert cmp["models"] == {r1.run_id: "reference:ioi", r2.run_id: "gpt2"}
    assert cmp["summaries"][r2.run_id] == {"score": 0.7}
    with pytest.raises(InterpError):
        store.compare([r1.run_id, "missing"])


# -- generic tables, checkpoints, table formatting, import cost ------------------------------
def test_analysis_tables_and_checkpoints(tmp_path):
    store = ResultsStore(tmp_path)
    columns = "job TEXT, layer INTEGER, neuron INTEGER, rank INTEGER, activation REAL, text TEXT"
    for _ in range(2):  # idempotent
        store.ensure_table("ffn_examples", columns, indexes=["job, layer, neuron"])
    with store.connect() as con:
        names = {r["name"] for r in con.execute("SELECT name FROM sqlite_master")}
    assert {"ffn_examples", "ix_ffn_examples_job_layer_neuron"} <= names

    rows = [("j1", 0, n, k, float(n + k), f"text {n}") for n in range(3) for k in range(2)]
    with store.transaction() as con:
        con.executemany("INSERT INTO ffn_examples VALUES (?, ?, ?, ?, ?, ?)", rows)
        store.set_checkpoint("j1", {"next_layer": 1}, con)
    with pytest.raises(RuntimeError):  # a failed batch leaves neither rows nor progress
        with store.transaction() as con:
            con.execute("INSERT INTO ffn_examples VALUES ('j1', 1, 0, 0, 1.0, 'x')")
            store.set_checkpoint("j1", {"next_layer": 2}, con)
            raise RuntimeError("crash")
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM ffn_examples").fetchone()[0] == 6
    assert store.checkpoint("j1") == {"next_layer": 1}
    assert store.checkpoint("unknown") is None
    store.set_checkpoint("j1", None)
    assert store.checkpoint("j1") is None
    with pytest.raises(InterpError, match="reserved"):
        store.ensure_table("runs", "x INTEGER")
    with pytest.raises(InterpError, match="invalid"):
        store.ensure_table("x; DROP TABLE runs", "x INTEGER")


def test_format_runs_table(tmp_path):
    store = ResultsStore(tmp_path)
    assert format_runs_table([]) == "no runs recorded"
    long = {"score": 0.123456, "circuit": [[0, 1]] * 3, "note": "y" * 80}
    rec = store.save("ioi", model=MODEL, config={}, seed=0, summary=long)
    lines = format_runs_table(store.list()).splitlines()
    assert len(lines) == 2 and lines[0].split()[:3] == ["run", "id", "kind"]
    assert lines[1].startswith(rec.run_id) and "reference:ioi" in lines[1]
    assert "score=0.1235" in lines[1] and "circuit=[3]" in lines[1]
    assert lines[1].endswith("…") and rec.started_at[:10] in lines[1]


def test_import_is_cheap():
    code = (
        "import sys, interp.results.store; "
        "print(sorted({'torch', 'safetensors'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_child_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
