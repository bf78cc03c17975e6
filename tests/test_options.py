"""``--device``, ``--dtype`` and ``--memory`` on every experiment script, every ``interp``
command that computes, and the dashboard: one shared definition
(:class:`interp.core.config.DeviceOptions`), listed in every ``--help``, checked before any
work (a bad value is one ``error:`` line and exit status 2), and the memory budget reaching
the sweeps."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from interp.core.config import DEVICE_FIELDS, DeviceOptions, apply_device_options, build_parser
from interp.core.device import memory_budget, memory_limit, set_memory_budget
from interp.core.errors import InterpError

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.name for p in (ROOT / "experiments").glob("*.py"))
#: the subcommands that load a model (models / runs / show only read the store or the disk)
COMMANDS = ["lens", "neuron", "mine", "train", "grid"]
FLAGS = ["--" + name for name in DEVICE_FIELDS]


def script(name: str):
    from interp.scale.grid import load_script

    return load_script(ROOT / "experiments" / name)


def subparser(command: str) -> argparse.ArgumentParser:
    from interp.cli import build_parser as cli_parser

    sub = next(a for a in cli_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.fixture(autouse=True)
def _no_budget_left_behind():
    yield
    set_memory_budget(None)


def test_the_scripts_are_all_here():
    assert {"ioi.py", "capitals.py", "ffn_memories.py", "ablate.py", "edges.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_inherits_the_options(name):
    module = script(name)
    assert issubclass(module.Config, DeviceOptions)
    text = build_parser(module.Config).format_help()
    for flag in FLAGS:
        assert flag in text, (name, flag)
    assert "memory budget" in text and "float16 (GPU only)" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_the_options(command):
    text = subparser(command).format_help()
    for flag in FLAGS:
        assert flag in text, (command, flag)


@pytest.mark.parametrize("name", [s for s in SCRIPTS if s != "run_all.py"])
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--memory", "lots"], "cannot read the memory size 'lots'"),
        (["--memory", "0"], "must be positive"),
        (["--dtype", "int8"], "unknown dtype 'int8'"),
        (["--dtype", "float16", "--device", "cpu"], "only supported on a GPU"),
    ],
)
def test_scripts_reject_bad_options_before_any_work(name, argv, message, capsys):
    from interp.experiment import run_script

    module = script(name)
    ran = []
    code = run_script(lambda config: ran.append(config) or {}, module.Config, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and not ran
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["lens", "hello", "--memory", "2XB"], "cannot read the memory size '2XB'"),
        (["neuron", "L0N1", "--dtype", "half-ish"], "unknown dtype"),
        (["mine", "--dtype", "fp16", "--device", "cpu"], "only supported on a GPU"),
        (["train", "tiny", "--dtype", "bf16"], "training runs in float32"),
        (["grid", "experiments/ablate.py", "--memory=-1GiB"], "must be positive"),
    ],
)
def test_commands_reject_bad_options(argv, message, capsys):
    from interp.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_a_real_command_line_exits_2_with_one_line():
    """As a user runs it: no traceback, one line, status 2 (script and ``interp`` command)."""
    for cmd in (
        [sys.executable, "experiments/ablate.py", "--memory", "2 potatoes"],
        [sys.executable, "-m", "interp.cli", "lens", "hi", "--dtype", "float8"],
    ):
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_the_budget_order(monkeypatch):
    monkeypatch.setenv("INTERP_MEMORY_BUDGET", "64MiB")
    assert memory_budget("cpu") == 64 * 2**20
    opts = apply_device_options(argparse.Namespace(device="cpu", dtype="bf16", memory="2GiB"))
    assert opts == {"device": "cpu", "dtype": "bf16"}
    assert memory_budget("cpu") == 2 * 2**30  # --memory beats the environment
    with memory_limit("16MiB"):  # the dashboard's per-analysis budget beats both
        assert memory_budget("cpu") == 16 * 2**20
        with memory_limit(None):
            assert memory_budget("cpu") == 16 * 2**20
    assert memory_budget("cpu") == 2 * 2**30
    set_memory_budget(None)
    assert memory_budget("cpu") == 64 * 2**20
    with pytest.raises(InterpError, match="cannot read"):
        set_memory_budget("12 parsecs")


def test_memory_option_bounds_the_sweep(ioi_model, mask_bytes):
    """``--memory`` (applied by load_for) is what a sweep without ``memory=`` sizes by."""
    import interp
    from interp.core.config import load_for

    built = mask_bytes
    model = load_for(argparse.Namespace(model="reference:ioi", device="cpu", memory="1MiB"))
    task = interp.ioi_task(model, n_prompts=4, seed=1)
    tight = interp.patch(model, task, "z", positions=["S2", "END"])
    assert built and max(built) <= 2**20
    set_memory_budget(None)
    loose = interp.patch(ioi_model, task, "z", positions=["S2", "END"], memory=2**30)
    assert abs(tight.values - loose.values).max() < 1e-5


def test_dashboard_memory_budget_input(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    box = at.text_input(key="memory")
    assert box.label == "Memory budget"
    box.input("2 lots").run()
    assert not at.exception
    assert any("cannot read the memory size" in e.value for e in at.error)
    assert at.metric[0].value == "'Mary'"  # the page still works (on the default budget)
    at.text_input(key="memory").input("64MiB").run()
    assert not at.exception and not at.error
    assert at.metric[0].value == "'Mary'"
