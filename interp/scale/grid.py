"""Grids of experiment runs (models x seeds x placements) as Ray tasks.

An experiment script is ``main(config) -> dict`` with a ``Config`` dataclass
(:mod:`interp.experiment`). :func:`run_grid` runs ``main`` once per config of a grid, each
as a Ray task on a worker of its own (a local cluster of ``workers`` slots, or the cluster at
``address``), or one after the other in this process when ``workers`` is 1 (no Ray needed).
Each task runs the script exactly as ``python script.py --...`` would, into a scratch results
store of its own; the runs it stored (records and arrays, run ids and start times included)
are then saved into the driver's store as they arrive, so every grid point is stored as the
script run alone stores it, whole or not at all. A worker that dies is retried by Ray. Configs
that already have a stored run with the very same config are skipped (``rerun=True`` runs
them again).

Example: the IOI experiment of a source checkout on two placements of reference:ioi's planted
circuit, on a local Ray cluster of 2 slots; each run is stored and finds its own placement's
name movers. Run again, the grid finds both runs stored and skips them::

    >>> from pathlib import Path
    >>> import interp
    >>> script = Path(interp.__file__).parent.parent / "experiments" / "ioi.py"
    >>> configs = expand_grid(load_script(script).Config,
    ...                       vary={"placement_seed": "0:2"}, fixed={"n_prompts": "4"})
    >>> runs = run_grid(script, configs, workers=2)
    >>> [(run.config["placement_seed"], len(run.run_ids)) for run in runs]
    [(0, 1), (1, 1)]
    >>> [run.summary["circuit"]["name_mover"] for run in runs]
    [[[5, 1], [5, 3]], [[5, 0], [6, 2]]]
    >>> [run.skipped for run in run_grid(script, configs, workers=2)]
    [True, True]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import itertools
import json
import os
import re
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from interp.core.errors import InterpError


@dataclasses.dataclass(frozen=True)
class GridRun:
    """One grid point: its config, the script's summary, the run ids stored for it."""

    config: dict[str, Any]
    summary: dict[str, Any] | None
    run_ids: list[str]
    seconds: float
    worker: str  # "host:pid" that ran it ("" when skipped)
    error: str | None = None
    skipped: bool = False
    log: str = ""  # what the script printed


def load_script(path: str | os.PathLike) -> ModuleType:
    """Import an experiment script by path (it must define ``main`` and ``Config``)."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise InterpError(f"experiment script {str(path)!r} does not exist.")
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:8]
    name = "interp_grid_" + re.sub(r"\W", "_", p.stem) + "_" + digest
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise InterpError(f"cannot import {p} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if not callable(getattr(module, "main", None)) or not dataclasses.is_dataclass(
        getattr(module, "Config", None)
    ):
        raise InterpError(f"{p} defines no `main(config)` and `Config` dataclass to run.")
    return module


def _values(text: str) -> list[str]:
    """``"0:4"`` -> 0, 1, 2, 3; ``"a,b"`` -> a, b."""
    span = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*", text)
    if span:
        return [str(i) for i in range(int(span[1]), int(span[2]))]
    return [v.strip() for v in text.split(",") if v.strip()]


def expand_grid(
    config_cls: type, vary: dict[str, str] | None = None, fixed: dict[str, str] | None = None
) -> list[Any]:
    """Every combination of ``vary`` (field -> ``"v1,v2,..."`` or ``"start:stop"``) with
    ``fixed`` (field -> value), parsed by the script's own command-line parser."""
    from interp.core.config import build_parser

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    vary, fixed = dict(vary or {}), dict(fixed or {})
    unknown = [n for n in list(vary) + list(fixed) if n not in fields]
    if unknown:
        raise InterpError(
            f"{config_cls.__module__}.Config has no fields {unknown}; it has {sorted(fields)}."
        )
    axes = {name: _values(text) for name, text in vary.items()}
    empty = [name for name, values in axes.items() if not values]
    if empty:
        raise InterpError(f"no values to vary for {empty}.")
    parser = build_parser(config_cls)
    bools = {n for n, f in fields.items() if f.type in (bool, "bool")}

    def argv(name: str, value: str) -> list[str]:
        flag = "--" + name.replace("_", "-")
        if name in bools:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise InterpError(f"{name} is true or false; got {value!r}.")
            return [flag] if value.lower() in ("true", "1", "yes") else ["--no-" + flag[2:]]
        return [flag, *value.split()] if "list" in str(fields[name].type) else [flag, value]

    out = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        args = [a for n, v in fixed.items() for a in argv(n, v)]
        args += [a for n, v in zip(axes, combo) for a in argv(n, v)]
        try:
            namespace = parser.parse_args(args)
        except SystemExit as err:
            raise InterpError(f"invalid grid values {args}") from err
        out.append(config_cls(**vars(namespace)))
    return out


def config_dict(config: Any) -> dict[str, Any]:
    """A config as its stored runs record it (through JSON)."""
    from interp.results.store import to_json

    return json.loads(to_json(dataclasses.asdict(config)))


def run_one(script: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run ``main(Config(**config))`` of ``script`` here, into a scratch results store, and
    return what it stored (records and arrays), its summary and its output. What a grid
    task runs, on a Ray worker or in the driver."""
    from interp.results.store import ResultsStore, to_json

    module = load_script(script)
    start, log = time.perf_counter(), io.StringIO()
    previous = os.environ.get("INTERP_RESULTS_DIR")
    out: dict[str, Any] = {"worker": f"{socket.gethostname()}:{os.getpid()}", "error": None}
    with tempfile.TemporaryDirectory(prefix="interp-grid-") as tmp:
        os.environ["INTERP_RESULTS_DIR"] = tmp
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                summary = module.main(module.Config(**config))
            out["summary"] = json.loads(to_json(summary))
        except InterpError as err:
            out["error"] = str(err)
        except Exception:  # noqa: BLE001 - reported with the grid point, the others go on
            out["error"] = traceback.format_exc(limit=8)
        finally:
            if previous is None:
                os.environ.pop("INTERP_RESULTS_DIR", None)
            else:
                os.environ["INTERP_RESULTS_DIR"] = previous
        scratch = ResultsStore(tmp)
        records = list(reversed(scratch.list())) if out["error"] is None else []
        out["runs"] = [(dataclasses.asdict(r), scratch.arrays(r.run_id)) for r in records]
    out["seconds"] = time.perf_counter() - start
    out["log"] = log.getvalue()
    return out


def _store_runs(store, runs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    ids = []
    for record, arrays in runs:
        try:
            store.get(record["run_id"])  # stored already (a retried task): keep the first
        except InterpError:
            store.save(
                record["kind"], model=record["model"], config=record["config"],
                seed=record["seed"], summary=record["summary"], arrays=arrays,
                started_at=record["started_at"], run_id=record["run_id"],
            )  # fmt: skip
        ids.append(record["run_id"])
    return ids


def run_grid(
    script: str | os.PathLike,
    configs: list[Any],
    *,
    workers: int = 1,
    address: str | None = None,
    store=None,
    rerun: bool = False,
    show_progress: bool = True,
    cpus_per_worker: int | None = None,
) -> list[GridRun]:
    """Run ``script``'s ``main`` on every config (Config objects or dicts), in order of the
    list in the answer; ``workers`` > 1 or an ``address`` runs them as Ray tasks, else here.
    Runs are stored in ``store`` (the default results store) as each grid point finishes."""
    from interp.core.progress import progress
    from interp.results.store import ResultsStore

    path = str(Path(script).expanduser().resolve())
    module = load_script(path)
    dicts = [config_dict(c if not isinstance(c, dict) else module.Config(**c)) for c in configs]
    store = store if store is not None else ResultsStore()
    done: dict[str, list[str]] = {}
    if not rerun:
        for r in store.list():
            done.setdefault(json.dumps(r.config, sort_keys=True), []).append(r.run_id)
    results: list[GridRun | None] = [None] * len(dicts)
    todo = []
    for i, cfg in enumerate(dicts):
        ids = done.get(json.dumps(cfg, sort_keys=True))
        if ids:
            results[i] = GridRun(cfg, None, ids, 0.0, "", skipped=True)
        else:
            todo.append(i)
    bar = progress(total=len(dicts), initial=len(dicts) - len(todo), unit="run", desc="grid",
                   disable=None if show_progress else True)  # fmt: skip

    def finish(i: int, out: dict[str, Any]) -> None:
        ids = _store_runs(store, out.get("runs", []))
        results[i] = GridRun(dicts[i], out.get("summary"), ids, out["seconds"], out["worker"],
                             out["error"], log=out["log"])  # fmt: skip
        bar.update(1)

    try:
        if todo and (workers > 1 or address is not None):
            _on_ray(path, dicts, todo, workers, address, cpus_per_worker, finish)
        else:
            for i in todo:
                finish(i, run_one(path, dicts[i]))
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _on_ray(path, dicts, todo, workers, address, cpus_per_worker, finish) -> None:
    from interp.scale.cluster import Cluster

    with Cluster(workers if address is None else None, address=address,
                 cpus_per_worker=cpus_per_worker) as cluster:  # fmt: skip
        ray = cluster.ray
        task = ray.remote(max_retries=3)(run_one).options(**cluster.options())
        refs = {task.remote(path, dicts[i]): i for i in todo}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                i = refs.pop(ready[0])
                finish(i, ray.get(ready[0]))
        finally:
            for ref in refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
