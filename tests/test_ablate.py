"""interp.ablate (interp.methods.ablation) and experiments/ablate.py: zero-, mean- and
resample-ablation of heads, neurons and layers on a task, with the metric before and after,
and clear errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from interp.core.errors import InterpError
from interp.methods.ablation import ablate
from interp.tasks.ioi import ioi_task

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "experiment_ablate", ROOT / "experiments/ablate.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task(ioi_model):
    return ioi_task(ioi_model, 20, seed=0)


def test_methods_on_the_name_movers(ioi_model, task):
    zero = ablate(ioi_model, task, ["L6H1", "L6H3"], "zero")
    assert zero.before == pytest.approx(5.18, abs=0.05)
    assert zero.after == pytest.approx(1.69, abs=0.05)  # the backups take over
    assert zero.change == pytest.approx(zero.after - zero.before)
    mean = ablate(ioi_model, task, ["L6H1", "L6H3"], "mean")
    # ABC means remove the name movers' IO preference; the backups make up part of it
    assert 0.5 < mean.after < 0.5 * mean.before
    assert mean.after == pytest.approx(zero.after, abs=0.2)
    resample = ablate(ioi_model, task, ["L6H1", "L6H3"], "resample", seed=1)
    assert resample.after < 0.5 * resample.before
    again = ablate(ioi_model, task, ["L6H1", "L6H3"], "resample", seed=1)
    assert again.after == resample.after
    # an inert head, an MLP, a neuron and the embedding-level residual of layer 0
    inert = ablate(ioi_model, task, ["L5H3", "L2.mlp", "L4N3"], "mean")
    assert abs(inert.change) < 1e-3
    assert ablate(ioi_model, task, ["L0.resid"], "zero").after == pytest.approx(0, abs=0.1)
    attn = ablate(ioi_model, task, ["L6.attn"], "zero")
    assert attn.after == pytest.approx(zero.after, abs=1e-3)  # layer 6 = its two movers


def test_script_end_to_end(script, tmp_path, capsys):
    from interp.experiment import run_script

    out = tmp_path / "ablate.json"
    argv = ["--components", "L6H1", "L6H3", "--method", "zero", "--n-prompts", "10"]
    argv += ["--device", "cpu", "--json", str(out)]
    assert run_script(script.main, script.Config, argv) == 0
    summary = json.loads(out.read_text())
    assert summary["components"] == ["L6H1", "L6H3"] and summary["after"] < summary["before"]
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "change" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--components", "L6H1", "--method", "shuffle"], "unknown ablation method"),
        (["--method", "zero"], "give the components"),
        (["--components", "L6X1"], "cannot read component"),
        (["--components", "L9H1"], "layers 0..7"),
        (["--components", "L6H1", "--n-prompts", "0"], "at least 1"),
        (["--components", "L6H1", "--task", "nope"], "unknown task"),
    ],
)
def test_bad_input(script, capsys, argv, message):
    from interp.experiment import run_script

    assert run_script(script.main, script.Config, [*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_ablate_validates(ioi_model, task):
    with pytest.raises(InterpError, match="give the components"):
        ablate(ioi_model, task, [], "zero")
    with pytest.raises(InterpError, match="unknown metric"):
        ablate(ioi_model, task, ["L6H1"], "zero", metric="accuracy")


def test_metrics_and_component_forms(ioi_model, task):
    """Any head notation, and the metric names: prob falls with the movers; KL to the
    unablated run is 0 before and positive after."""
    a = ablate(ioi_model, task, ["L6H1", "L6H3"], "zero")
    b = ablate(ioi_model, task, [(6, 1), "6.3"], "zero")
    assert b.after == pytest.approx(a.after, abs=1e-6) and b.components == ["L6H1", "L6H3"]
    prob = ablate(ioi_model, task, ["L6H1", "L6H3"], "zero", metric="prob")
    assert 0 < prob.after < prob.before <= 1
    kl = ablate(ioi_model, task, ["L6H1", "L6H3"], "zero", metric="kl")
    assert kl.before == pytest.approx(0, abs=1e-5) and kl.after > 0.05
    assert a.values_before.shape == (task.n_prompts,)
    assert a.figure().data
