"""``interp grid SCRIPT --vary NAME=VALUES ... [--workers N | --ray-address ADDRESS]``: a grid
of an experiment script's runs, on Ray or (one worker) in this process.

Also runnable without the ``interp`` command's registration: ``python -m interp.scale grid``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from interp.core.config import DEVICE_DEFAULTS, DEVICE_FIELDS, add_device_arguments
from interp.core.errors import InterpError, exit_code


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InterpError(f"{flag} takes NAME=VALUE; got {item!r}.")
        out[name.strip().replace("-", "_")] = value
    return out


def register(sub) -> None:
    p = sub.add_parser(
        "grid",
        help="run an experiment script over a grid of configs (Ray tasks, or here)",
        description="Run SCRIPT's main(Config) once per combination of the --vary values "
        "(with the --set values), each stored as a run as the script alone stores it. "
        "Configs already stored are skipped (--rerun runs them again). With --workers N "
        "(N > 1) the runs are Ray tasks on a local cluster of N workers; with --ray-address "
        "on an existing cluster (the script's path must exist on its nodes).",
    )
    p.add_argument("script", help="an experiment script, e.g. experiments/ioi.py")
    p.add_argument(
        "--vary", action="append", metavar="NAME=V1,V2|START:STOP",
        help="a config field and its values, e.g. placement_seed=0:20 (repeatable)",
    )  # fmt: skip
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a config field fixed for every run (repeatable)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="Ray workers (1: no Ray, in order)")
    p.add_argument("--ray-address", help="an existing Ray cluster (e.g. auto, HOST:6379)")
    p.add_argument("--rerun", action="store_true", help="run configs already stored again")
    add_device_arguments(p)  # shorthand for --set device=... (and dtype, memory) on every run
    p.set_defaults(func=cmd_grid)


def cmd_grid(args) -> int:
    from interp.core.device import DTYPES, as_bytes
    from interp.scale.grid import expand_grid, load_script, run_grid

    module = load_script(args.script)
    fixed = _pairs(args.set, "--set")
    as_bytes(args.memory)  # a bad size fails here, not in every run; the device is the workers'
    if str(args.dtype).lower() not in DTYPES:
        raise InterpError(
            f"unknown dtype {args.dtype!r}; choose one of: float32, bfloat16, float16"
        )
    for name in DEVICE_FIELDS:
        value = getattr(args, name, None)
        if value is not None and value != DEVICE_DEFAULTS[name]:
            fixed.setdefault(name, value)
    configs = expand_grid(module.Config, _pairs(args.vary, "--vary"), fixed)
    print(f"{len(configs)} runs of {args.script}", flush=True)
    runs = run_grid(args.script, configs, workers=args.workers, address=args.ray_address,
                    rerun=args.rerun)  # fmt: skip
    failed = 0
    for run in runs:
        varied = {k: run.config[k] for k in _pairs(args.vary, "--vary")}
        what = ", ".join(f"{k}={v}" for k, v in varied.items()) or "run"
        if run.error:
            failed += 1
            print(f"  {what}: FAILED: {run.error.strip().splitlines()[-1]}")
        elif run.skipped:
            print(f"  {what}: stored already ({', '.join(run.run_ids)})")
        else:
            print(f"  {what}: {', '.join(run.run_ids) or 'no run stored'} "
                  f"({run.seconds:.0f} s on {run.worker})")  # fmt: skip
    print(f"{len(runs) - failed} of {len(runs)} stored; see them with: interp runs")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp.scale")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)

    return exit_code(lambda: args.func(args), "interrupted: the runs finished so far are stored")
