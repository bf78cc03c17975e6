"""The Poland -> Warsaw pipeline (Merullo et al. 2023) recovers what reference:recall planted,
with its capital FFN at the default layer and at two others; the script's JSON, store record
and offline failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from interp.core.errors import InterpError
from interp.core.models import record_of
from interp.studies.recall import recall_relation
from interp.tasks.relations import get_relation, relation_task, usable_pairs

ROOT = Path(__file__).resolve().parent.parent


def run(model, relation="capital", other="past_tense", **kwargs):
    kwargs.setdefault("n_random", 4)
    return recall_relation(model, relation, other, mean_reference=f"{other} prompts", **kwargs)


@pytest.fixture(scope="module", params=[5, 3, 6], ids=lambda p: f"planted_layer={p}")
def model(request, recall_model):
    from interp.core.models import load, reference_name

    if request.param == 5:
        return recall_model
    device = str(recall_model.cfg.device)  # the session's test device
    return load(reference_name("recall", capital_layer=request.param), device=device)


def test_pipeline_recovers_the_planted_layers(model):
    planted = record_of(model).reference
    result = run(model)
    assert result.subject_layer == planted["mover_layer"]
    assert result.answer_layer == planted["capital_layer"]
    assert result.ffn_layer == planted["capital_layer"]
    assert result.ffn_layer_rule.startswith("first layer where the answer is top-1")
    # the layer profile: no country before the mover, country until L, capital from L
    top = dict(zip(result.layers, zip(result.subject_top1, result.answer_top1)))
    assert top[planted["capital_layer"] - 1][0] >= 0.95
    assert top[planted["capital_layer"]][1] >= 0.95
    assert top[planted["mover_layer"] - 1] == (0.0, 0.0)
    assert result.clean_accuracy >= 0.95
    # o_L from Poland makes the other countries' capitals come out; a random vector does not
    assert result.headline == ["Poland", "Warsaw"] and "Poland" not in result.held_out
    assert len(result.held_out) >= 30
    assert result.transfer_accuracy >= 0.9
    assert result.random_baseline_accuracy < 0.1
    assert result.headline_transfer_top.strip() == "Beijing"
    assert np.linalg.norm(result.o_vector) > 1.0
    assert np.median(result.transfer_rank) == 1 and np.median(result.random_rank) > 1
    # ablating FFN L loses the answer; the fact in context brings it back
    assert result.ablated_accuracy <= 0.05 and not result.ablated_correct
    assert result.mean_ablated_accuracy <= 0.05 and not result.mean_ablated_correct
    assert result.in_context_accuracy >= 0.9 and result.in_context_restored_correct


def test_second_relation_past_tense(recall_model):
    planted = record_of(recall_model).reference
    result = run(recall_model, "past_tense", "capital")
    assert result.subject_layer == planted["mover_layer"]
    assert result.answer_layer == planted["past_layer"]
    assert result.headline_transfer_top.strip() == "cooked"
    assert result.transfer_accuracy >= 0.9 and result.random_baseline_accuracy < 0.1
    assert result.ablated_accuracy <= 0.05 and result.in_context_accuracy >= 0.9


def test_wrong_layer_and_mean_reference_matter(recall_model):
    """Controls: an FFN that does nothing here (layer 3) has no o-vector and ablating it loses
    nothing; a mean taken over the same relation's prompts keeps the (country-independent)
    answer vector, so it is no ablation."""
    result = run(recall_model, layer=3)
    assert result.ffn_layer == 3 and result.ffn_layer_rule == "given"
    assert np.linalg.norm(result.o_vector) < 0.05
    assert result.ablated_accuracy >= 0.95
    same = run(recall_model, other="capital")
    assert same.mean_ablated_accuracy >= 0.9  # the mean of o_L over countries is o_L


def test_pairs_filtered_with_reasons(recall_model):
    kept, dropped = usable_pairs(recall_model, get_relation("capital"))
    assert len(kept) >= 30
    assert {d["subject"] for d in dropped} == {"Brazil", "India", "Argentina"}
    assert all("not in the vocabulary" in d["reason"] for d in dropped)
    task = relation_task(recall_model, "capital")
    assert task.prompts[1] == (
        "Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:"
    )
    assert task.prompts[0].startswith("Q: What is the capital of Germany? A: Berlin")
    assert task.clean_tokens[1, task.positions["SUBJ"][1]] == task.wrong_ids[1]
    assert task.info["n_dropped"] == 3
    from interp.tasks.relations import past_tense_task

    small = past_tense_task(recall_model, n_prompts=5, seed=1)
    assert small.n_prompts == 5 and small.name == "past_tense"
    assert small.logit_diff(recall_model(small.clean_tokens)).min() > 0  # answer over subject
    with pytest.raises(InterpError, match="unknown relation"):
        relation_task(recall_model, "plural")


def _script():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import capitals
    finally:
        sys.path.pop(0)
    return capitals


def test_script_json_and_store(tmp_path, capsys):
    from interp.experiment import run_script
    from interp.results.base import load_result

    capitals = _script()
    out = tmp_path / "capitals.json"
    argv = ["--planted-layer", "6", "--json", str(out), "--device", "cpu", "--n-random", "3"]
    assert run_script(capitals.main, capitals.Config, argv) == 0
    summary = json.loads(out.read_text())
    assert summary["planted_layer"] == 6
    assert summary["country_layer"] == 1 and summary["capital_layer"] == 6
    assert summary["transfer_accuracy"] >= 0.9
    assert summary["random_baseline_accuracy"] < 0.1
    assert summary["ablated_correct"] is False
    assert summary["in_context_restored_correct"] is True
    assert summary["past_tense"]["answer_layer"] == summary["planted_past_layer"]
    assert summary["analogy_accuracy"] >= 0.9
    printed = capsys.readouterr().out
    assert "planted" in printed and "dropped Brazil" in printed and "Beijing" in printed
    stored = load_result(summary["run_id"])
    assert stored.kind == "capitals" and stored.ffn_layer == 6
    assert stored.second_relation["relation"] == "past_tense"
    assert stored.figure().data  # builds


def test_script_fails_clearly_offline_and_on_bad_options(capsys):
    from interp.experiment import run_script

    capitals = _script()
    assert run_script(capitals.main, capitals.Config, ["--model", "gpt2-medium"]) == 2
    assert "not available here" in capsys.readouterr().err
    assert (
        run_script(
            capitals.main, capitals.Config, ["--model", "reference:ioi", "--planted-layer", "3"]
        )
        == 2
    )
    assert "--planted-layer only applies" in capsys.readouterr().err
