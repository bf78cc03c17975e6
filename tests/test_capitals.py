"""The Poland -> Warsaw pipeline (Merullo et al. 2023) recovers what reference:recall planted,
with its capital FFN at the default layer and at two others; the paper's transfer into
unrelated contexts (its protocol, beside the same-template transfer, which is labelled as not
the paper's); the answer-layer rule and what happens when no layer qualifies; prompts
without BOS; the script's JSON, store record, table rows and offline failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.core.models import record_of
from interp.studies.recall import LAYER_RULE, NO_LAYER, recall_relation
from interp.studies.transfer import (
    N_FILLER,
    REPEATS,
    filler_pool,
    o_vector_transfer,
    unrelated_contexts,
)
from interp.tasks.relations import get_relation, relation_task, usable_pairs
from interp.views.recall import (
    PAPER_GPT2_MEDIUM,
    PAPER_LABEL,
    SECTIONS,
    is_gpt2_medium,
    relation_rows,
)

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
    # the headline prompt's own layers (what the paper reports for GPT-2 medium) and the rule
    layer, mover = planted["capital_layer"], planted["mover_layer"]
    assert result.headline_subject_layers == list(range(mover, layer))
    assert result.headline_answer_layer == layer
    assert result.layer_rule == LAYER_RULE and result.prepend_bos is True
    # the paper's protocol: o_L replaces FFNs L-1..7 at every position of unrelated contexts
    u = result.unrelated_transfer
    assert u["layers"] == list(range(layer - 1, 8)) and u["source"] == ["Poland", "Warsaw"]
    assert u["n_contexts"] == len(result.held_out) and u["subjects"] == result.held_out
    assert u["transfer_accuracy"] >= 0.9 and u["headline_transfer_top"].strip() == "Beijing"
    assert u["zero_accuracy"] <= 0.05 and u["random_accuracy"] < 0.1  # o carries the answer
    # the planted FFN fires on any country the mover brings, asked or not: the unrelated
    # contexts already give the capital (unlike GPT-2), which the table notes
    assert u["clean_accuracy"] >= 0.9
    # the table: the paper's numbers only beside the quantities the paper measured
    rows = relation_rows(result.headline_summary(), paper=PAPER_GPT2_MEDIUM["capital"])
    with_paper = {r["quantity"]: r[PAPER_LABEL] for r in rows if r[PAPER_LABEL]}
    assert with_paper[f"answer top-1, FFNs {layer - 1}-7 := o"] == "21.3%"
    assert with_paper["Poland prompt: Warsaw top-1 from layer"].startswith("19")
    assert {r["section"] for r in rows if r[PAPER_LABEL]} == {SECTIONS["lens"], SECTIONS["paper"]}
    same = [r for r in rows if r["section"] == SECTIONS["same"]]
    assert same and "not the paper's protocol" in same[0]["section"]
    assert not any(r[PAPER_LABEL] for r in same)


def test_unrelated_contexts_and_transfer(recall_model):
    """The paper's contexts: 3 random tokens and the subject, twice, then the 3 again (BOS
    first here); no filler is a relation word; o of zero acts as the zero control."""
    from interp.core.tokens import single_token_id
    from interp.studies.recall import ffn_output
    from interp.tasks.relations import relation_task

    china = single_token_id(recall_model, "China")
    tokens = unrelated_contexts(recall_model, torch.tensor([china, china]), seed=1)
    assert tokens.shape == (2, 1 + N_FILLER * (REPEATS + 1) + REPEATS)
    row = tokens[0].tolist()
    assert row[0] == recall_model.tokenizer.bos_token_id
    fillers = row[1 : 1 + N_FILLER]
    assert row[1:] == (fillers + [china]) * REPEATS + fillers
    assert tokens[0].tolist() != tokens[1].tolist()  # fresh fillers per context
    assert torch.equal(tokens, unrelated_contexts(recall_model, torch.tensor([china] * 2), 1))
    pool = set(filler_pool(recall_model))
    assert china not in pool and single_token_id(recall_model, "Beijing") not in pool
    assert recall_model.tokenizer.bos_token_id not in pool
    task = relation_task(recall_model, "capital")
    o = ffn_output(recall_model, task.clean_tokens[1:2], 5)[0]  # the Poland prompt
    pairs = [("China", "Beijing"), ("Japan", "Tokyo"), ("Italy", "Rome")]
    kw = {"source": ("Poland", "Warsaw"), "source_layer": 5, "n_random": 2}
    result = o_vector_transfer(recall_model, o, pairs, **kw)
    assert result.layers == [4, 5, 6, 7] and result.transfer_accuracy == 1.0
    assert result.zero_accuracy == 0.0 and result.headline == ["China", "Beijing"]
    zero = o_vector_transfer(recall_model, torch.zeros_like(o), pairs, **kw)
    assert np.array_equal(zero.transfer_rank, result.zero_rank)
    only_5 = o_vector_transfer(recall_model, o, pairs, layers=[5], **kw)
    assert only_5.layers == [5] and only_5.transfer_accuracy == 1.0
    assert result.figure().data
    with pytest.raises(InterpError, match="within 0..7"):
        o_vector_transfer(recall_model, o, pairs, layers=[9], **kw)


def test_no_answer_layer_is_said_so(ioi_model, capsys):
    """reference:ioi has no capital mechanism: no layer has the capital top-1, the rule says
    so, the o-vector FFN is chosen by its rise in reciprocal rank and labelled that way, and
    the table prints "none" (never a bare "FFN layer 0")."""
    result = run(ioi_model)
    assert result.answer_layer is None and result.headline_answer_layer is None
    assert result.ffn_layer_rule.startswith(NO_LAYER)
    assert f"FFN {result.ffn_layer} raises the answer's mean reciprocal rank most" in (
        result.ffn_layer_rule
    )
    rows = {r["quantity"]: r["measured"] for r in relation_rows(result.headline_summary())}
    assert rows["answer top-1 from layer"] == "none"
    capitals = _script()
    capitals.print_summary(result, None, None)
    printed = capsys.readouterr().out
    assert LAYER_RULE in printed and NO_LAYER in printed


def test_without_bos(recall_model):
    """Prompts and unrelated contexts without BOS: the planted layers are still found, and
    the result says BOS was not prepended."""
    from interp.core.models import load

    model = load("reference:recall", device=str(recall_model.cfg.device), prepend_bos=False)
    result = run(model, n_random=2)
    assert result.prepend_bos is False and result.unrelated_transfer["prepend_bos"] is False
    assert result.subject_layer == 1 and result.answer_layer == 5
    assert result.transfer_accuracy >= 0.9
    assert result.unrelated_transfer["transfer_accuracy"] >= 0.9
    assert not result.unrelated_transfer["contexts"][0].startswith("<|endoftext|>")


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
    argv += ["--no-bos"]
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
    assert summary["unrelated_transfer_accuracy"] >= 0.9 and summary["prepend_bos"] is False
    printed = capsys.readouterr().out
    assert "planted" in printed and "dropped Brazil" in printed and "Beijing" in printed
    assert "Merullo et al.'s transfer" in printed and "not the paper's protocol" in printed
    assert LAYER_RULE in printed and "no BOS" in printed
    assert "already top-1" in printed  # the note on the ungated reference FFN
    stored = load_result(summary["run_id"])
    assert stored.kind == "capitals" and stored.ffn_layer == 6
    assert stored.second_relation["relation"] == "past_tense"
    assert stored.second_relation["unrelated_transfer"]["layers"] == [3, 4, 5, 6, 7]
    assert stored.unrelated_transfer["layers"] == [5, 6, 7] and stored.prepend_bos is False
    assert stored.figure().data  # builds
    from interp import views
    from interp.results.store import ResultsStore

    record = ResultsStore().get(summary["run_id"])
    assert record.model["prepend_bos"] is False and not is_gpt2_medium(record.model)
    rows = views.recall_rows(stored, record)
    assert all(PAPER_LABEL not in r for r in rows)  # not GPT-2 medium: no paper column
    planted = {r["quantity"]: r["planted"] for r in rows}
    assert planted["o-vector from FFN layer"] == "6"
    assert views.second_relation_rows(stored, record)
    pairs = views.recall_pair_rows(stored)
    moved = [r["unrelated, FFNs := o"] for r in pairs if r["subject"] != "Poland"]
    assert np.mean(np.array(moved) == 1) >= 0.9


def test_runs_stored_before_the_protocol_still_show(tmp_path):
    """A capitals run stored by interp 0.1.0 (no unrelated-context transfer, no rule) still
    gives its rows, with the old same-template transfer labelled as such."""
    import shutil

    from interp import views
    from interp.results.base import load_result
    from interp.results.store import ResultsStore

    shutil.copytree(ROOT / "tests" / "data" / "store-0.1.0", tmp_path / "store")
    store = ResultsStore(tmp_path / "store")
    record = next(r for r in store.list() if r.kind == "capitals")
    run = load_result(record.run_id, store=store)
    assert run.unrelated_transfer == {} and run.layer_rule == LAYER_RULE
    rows = views.recall_rows(run, record)
    sections = {r["section"] for r in rows}
    assert SECTIONS["paper"] not in sections and SECTIONS["same"] in sections
    assert views.recall_pair_rows(run) and views.recall_notes(run, record) == []


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
