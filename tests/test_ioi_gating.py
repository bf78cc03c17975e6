"""Honest gating of the IOI pipeline on a model without IOI behaviour: a small random GPT-2
with GPT-2's real byte-level BPE tokenizer. ``experiments/ioi.py`` must stop with a clear
message (exit 2) and, with ``--force``, finish, store the run marked forced, and find no name
movers (the absolute floors). Also: ``ioi_from_prompt`` under GPT-2's BPE with a
sentence-initial name, where 8 of the 40 names are several tokens."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def random_gpt2(tmp_path_factory, gpt2_tokenizer_dir):
    """A random 2-layer, 64-wide GPT-2 saved with GPT-2's tokenizer (no IOI behaviour)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(str(gpt2_tokenizer_dir))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=64, n_layer=2, n_head=4, n_inner=128
    )
    path = tmp_path_factory.mktemp("random-gpt2") / "random-gpt2"
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _script():
    spec = importlib.util.spec_from_file_location("ioi_script", ROOT / "experiments" / "ioi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_ioi_script_stops_without_ioi_behaviour_and_forces_on_request(
    random_gpt2, tmp_path, capsys, monkeypatch
):
    from interp.experiment import run_script
    from interp.results.base import load_result
    from interp.results.store import ResultsStore

    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    script = _script()
    argv = ["--model", str(random_gpt2), "--n-prompts", "6", "--device", "cpu"]
    assert run_script(script.main, script.Config, argv) == 2
    err = capsys.readouterr().err
    assert "no IOI behaviour" in err and "--force" in err
    assert "IO > S in" in err and "needs >= 90.0%" in err  # the measured rate beside its bar
    assert "needs >= 1.00 logits" in err
    assert not (tmp_path / "results").exists() or not ResultsStore().list(kind="ioi")

    assert run_script(script.main, script.Config, [*argv, "--force"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: forced past the IOI-behaviour gate" in out and "marked forced" in out
    (record,) = ResultsStore().list(kind="ioi")
    run = load_result(record.run_id)
    assert run.forced and run.warnings[0].startswith("forced past the IOI-behaviour gate")
    # no head's direct effect reaches the 0.25-logit floor (nor 0.1 x |LD|)
    assert abs(run.dla).max() < min(0.25, 0.1 * abs(run.logit_diff))
    assert run.circuit["name_mover"] == [] and run.circuit["negative_name_mover"] == []
    assert run.patch_resid_pre is not None  # the heatmaps, which need no behaviour, are there
    # no name mover at any scale of the bars either; the summary is printed and stored
    assert "threshold sensitivity" in out and [r["scale"] for r in run.sensitivity] == [
        0.5, 0.75, 1.0, 1.5, 2.0,
    ]  # fmt: skip
    assert not any("name_mover" in r["added"] for r in run.sensitivity)
    from interp.views.circuit import ioi_run

    (warning,) = ioi_run(record.run_id).warnings()  # what the dashboard page shows
    assert "forced past the IOI-behaviour gate" in warning and "IO > S in" in warning


def test_ioi_from_prompt_sentence_initial_names_every_seed(random_gpt2):
    from interp.core.models import load
    from interp.tasks.ioi import _bare_single_token, ioi_from_prompt

    model = load(str(random_gpt2), device="cpu")
    prompt = "Mary and John went to the store. John gave a drink to"
    seen = set()
    for seed in range(20):
        task = ioi_from_prompt(model, prompt, seed=seed)
        first = task.corrupted_prompts[0].split()[0]
        assert _bare_single_token(model, first), (seed, first)
        assert task.corrupted_tokens.shape == task.clean_tokens.shape
        seen.add(first)
    # several names are several tokens at the start of a sentence, and none was drawn there
    from interp.core.tokens import is_single_token
    from interp.tasks.ioi import default_words

    split = [
        n
        for n in default_words("names")
        if is_single_token(model, n) and not _bare_single_token(model, n)
    ]
    assert len(split) >= 1 and not seen & set(split) and len(seen) > 5


def test_100_names_are_single_gpt2_tokens_both_ways(random_gpt2):
    """Every name of IOI_NAMES is one GPT-2 BPE token after a space and at the start of a
    text; under GPT-2's tokenizer the task builder keeps exactly those 100 (8 of the
    reference names split sentence-initially: Emma -> Em, ma) and draws from them."""
    from transformers import AutoTokenizer

    from interp.core.models import load
    from interp.tasks.ioi import IOI_NAMES, ioi_task, usable_names

    tok = AutoTokenizer.from_pretrained(str(random_gpt2))
    for name in IOI_NAMES:
        assert len(tok(" " + name)["input_ids"]) == 1, name
        assert len(tok(name)["input_ids"]) == 1, name
    assert len(tok("Emma")["input_ids"]) == 2 and len(tok(" Emma")["input_ids"]) == 1
    model = load(str(random_gpt2), device="cpu")
    assert usable_names(model) == list(IOI_NAMES)
    task = ioi_task(model, 40, seed=0)
    used = set(task.info["io"]) | set(task.info["s"])
    assert used <= set(IOI_NAMES) and len(used) > 30
    assert used - set(IOI_NAMES[:32])  # names beyond the reference vocabulary's are drawn


def test_implausibly_large_circuits_are_flagged():
    from interp.studies.ioi_circuit import Thresholds
    from interp.studies.ioi_run import behaviour_failures, implausible_circuit

    # the random GPT-2 small of the issue: 62 + 57 movers of 144 heads
    assert "119 of 144 heads" in implausible_circuit(119, 144, Thresholds())
    assert implausible_circuit(26, 144, Thresholds()) is None  # the paper's own circuit
    assert implausible_circuit(13, 32, Thresholds()) is None  # reference:ioi's planted one
    assert implausible_circuit(40, 48, Thresholds()) is not None
    assert behaviour_failures(3.55, 0.99, Thresholds()) == []  # GPT-2 small (paper) passes
    (only,) = behaviour_failures(3.55, 0.85, Thresholds())
    assert only == "IO > S in 85.0% of prompts (needs >= 90.0%)"
