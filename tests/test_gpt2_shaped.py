"""Every experiment script, every ``interp`` command that computes and every dashboard page,
run end to end on a GPT-2-shaped model: GPT-2's real byte-level BPE tokenizer and
50,257-token vocabulary, GPT-2's architecture with perturbed LayerNorms, 2 blocks of
d_model 64 (so the file takes a couple of minutes). The model has no behaviour: every entry
point must finish, or stop with a one-line message saying why, never crash.

``experiments/train.py`` trains the project's own recipes (their word-level vocabulary), not
a given model, so it is not run here; ``experiments/run_all.py`` runs the three scripts below
and then opens the dashboard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import interp

ROOT = Path(__file__).resolve().parents[1]
IOI_PROMPT = "When Mary and John went to the store, John gave a drink to"
TEXT = (
    "The cat sat on the mat. A cup of coffee in the morning is good. Ice cream melts in "
    "the sun. The stock exchange opened at nine. Rain fell all day, so she wore a coat. "
) * 12


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory, gpt2_tokenizer_dir):
    """A 2-block, 64-wide GPT-2 with GPT-2's tokenizer and perturbed LayerNorms, saved."""
    from interp.core.synthetic import build_gpt2_shaped

    path = tmp_path_factory.mktemp("gpt2-shaped") / "gpt2-2x64"
    build_gpt2_shaped(path, n_layers=2, d_model=64, n_heads=4, n_ctx=256,
                      tokenizer_dir=gpt2_tokenizer_dir)  # fmt: skip
    return str(path)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One results store and a tiny corpus for the whole file."""
    root = tmp_path_factory.mktemp("gpt2-shaped-run")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERP_RESULTS_DIR", str(root / "results"))
        yield {"corpus": str(corpus), "root": root}


def test_the_fixture_is_gpt2_shaped(gpt2):
    model = interp.load(gpt2, device="cpu")
    assert model.cfg.d_vocab == 50257
    assert model.to_tokens("Hello world", prepend_bos=False)[0].tolist() == [15496, 995]


def _run(name: str, argv: list[str], capsys) -> tuple[int, str, str]:
    from interp.experiment import run_script
    from interp.scale.grid import load_script

    module = load_script(ROOT / "experiments" / name)
    code = run_script(module.main, module.Config, argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def test_ioi_stops_then_runs_forced(gpt2, env, capsys):
    argv = ["--model", gpt2, "--n-prompts", "6", "--device", "cpu", "--memory", "64MiB"]
    code, _, err = _run("ioi.py", argv, capsys)
    assert code == 2 and "no IOI behaviour" in err
    code, out, _ = _run("ioi.py", [*argv, "--force"], capsys)
    assert code == 0 and "forced" in out


def test_capitals(gpt2, env, capsys):
    code, out, err = _run("capitals.py", ["--model", gpt2, "--n-random", "1"], capsys)
    assert code == 0, err
    assert out.strip()


def test_ffn_memories(gpt2, env, capsys):
    argv = ["--model", gpt2, "--corpus", env["corpus"], "--no-fetch", "--max-tokens", "400",
            "--window", "16", "--n-shuffles", "5", "--switch-off", "1"]  # fmt: skip
    code, out, err = _run("ffn_memories.py", argv, capsys)
    assert code == 0, err
    assert out.strip()


def test_ablate(gpt2, env, capsys):
    argv = ["--model", gpt2, "--components", "L1H0", "L0.mlp", "--n-prompts", "6"]
    code, out, err = _run("ablate.py", argv, capsys)
    assert code == 0, err
    assert "->" in out or "after" in out.lower()


def test_edges(gpt2, env, capsys):
    argv = ["--model", gpt2, "--n-prompts", "4", "--ig-steps", "2", "--top-k", "10",
            "--n-resamples", "0"]  # fmt: skip
    code, out, err = _run("edges.py", argv, capsys)
    assert code == 0, err
    assert out.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ["lens", "Q: What is the capital of Poland? A:", "--targets", " Warsaw", "--grid"],
        ["lens", IOI_PROMPT, "--targets", " Mary", " John", "--dtype", "bfloat16"],
        ["mine", "--corpus", "CORPUS", "--max-tokens", "300", "--window", "16"],
        ["neuron", "L1N7"],
        [
            "grid",
            "experiments/ablate.py",
            "--vary",
            "method=zero,mean",
            "--set",
            "components=L1H0",
            "--set",
            "n_prompts=4",
        ],
    ],  # fmt: skip
    ids=["lens-grid", "lens-bf16", "mine", "neuron", "grid"],
)
def test_commands(gpt2, env, argv, capsys):
    from interp.cli import main

    argv = [env["corpus"] if a == "CORPUS" else a for a in argv]
    argv += ["--set", f"model={gpt2}"] if argv[0] == "grid" else ["--model", gpt2]
    assert main([*argv, "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "Traceback" not in err


def test_store_commands(env, capsys):
    from interp.cli import main

    assert main(["runs"]) == 0
    listed = capsys.readouterr().out
    assert "ioi" in listed and "gpt2-2x64" in listed
    run_id = listed.splitlines()[1].split()[0]
    assert main(["show", run_id]) == 0
    assert run_id in capsys.readouterr().out


PAGES = ["model", "attention", "ioi", "formation", "edges", "lens", "ffn", "words", "runs"]


def test_every_dashboard_page(gpt2, env):
    from streamlit.testing.v1 import AppTest

    from dashboard.common import OTHER

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["model_choice"] = OTHER
    at.session_state["model_custom"] = gpt2
    at.session_state["prompt"] = IOI_PROMPT
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for page in PAGES:
        at.switch_page(f"dashboard/pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title, page
    # the head browser: 8 heads in one selector, one pattern, the selected head outlined
    at.switch_page("dashboard/pages/attention.py").run()
    assert len(at.selectbox(key="head-select").options) == 8
    at.selectbox(key="head-select").select("1.3").run()
    assert not at.exception and any(s.value == "Head 1.3" for s in at.subheader)
