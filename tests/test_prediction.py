"""Prediction attribution (neurons and heads) and neuron switches, on the planted models."""

from __future__ import annotations

import numpy as np
import pytest

from interp.core.errors import InterpError, TokenizationError
from interp.core.interventions import Component, Intervention
from interp.core.models import record_of
from interp.methods.prediction import (
    attribute_prediction,
    attribute_predictions,
    generate,
    switch_components,
)
from interp.results.base import load_result, save


@pytest.fixture(scope="module")
def memories(recall_model):
    return record_of(recall_model).reference["memories"]


def prompt_of(memory) -> str:
    return f"I like the {memory['trigger']}"


def test_planted_neurons_rank_first_for_their_targets(recall_model, memories):
    prompts = [prompt_of(m) for m in memories] + ["the coffee"]  # two prompt lengths
    targets = [m["target"] for m in memories] + ["cup"]
    results = attribute_predictions(recall_model, prompts, targets, top=5)
    for m, res in zip(memories + memories[:1], results):
        planted = f"L{m['layer']}N{m['neuron']}"
        assert res.predicted.strip() == m["target"] and res.rank == 0 and res.prob > 0.9
        assert res.top_neurons(1)[0][:2] == (m["layer"], m["neuron"])
        assert res.table[0]["component"] == planted and res.table[0]["kind"] == "neuron"
        second = res.top_neurons(2)[1][2]
        assert res.table[0]["score"] > 0.9 * res.logit and second < 0.05 * res.logit
        assert res.mlp_layers.argmax() == m["layer"]
        # every direct term together is the logit, less its unembedding bias
        assert res.total() == pytest.approx(res.logit - res.bias_u, abs=1e-3)
        assert res.table[0]["activation"] > 4 and res.table[0]["magnitude"] > 4
    # no neuron pushes "cup" after an unrelated word
    other = attribute_prediction(recall_model, "I like the rain", "cup")
    assert other.rank > 0 and max(s for _, _, s in other.top_neurons(1)) < 0.5
    assert other.total() == pytest.approx(other.logit - other.bias_u, abs=1e-3)


def test_heads_in_the_same_table_on_ioi(ioi_model):
    planted = record_of(ioi_model).reference["placement"]
    name_movers = {f"L{layer}H{head}" for layer, head in planted["name_mover"]}
    prompt = "When Mary and John went to the store, John gave a drink to"
    res = attribute_prediction(ioi_model, prompt, "Mary", other="John")
    assert res.logit > 2 and res.other.strip() == "John"
    assert res.table[0]["kind"] == "head" and res.table[0]["component"] in name_movers
    assert {r["component"] for r in res.table[:2]} == name_movers
    assert res.total() == pytest.approx(res.logit - res.bias_u, abs=1e-3)
    layer, head = planted["negative_name_mover"][0]
    assert res.head_scores[layer, head] < 0  # it writes against the answer
    scores = [r["score"] for r in res.table]
    assert scores == sorted(scores, reverse=True) and 3 <= len(scores) <= 20  # zeros left out
    fig = res.figure()
    assert [t.type for t in fig.data] == ["bar", "bar", "bar"]


def test_switching_the_memory_neuron_off_removes_the_prediction(recall_model, memories, store):
    m = memories[0]
    neuron = f"L{m['layer']}N{m['neuron']}"
    off = switch_components(recall_model, prompt_of(m), [neuron], 0.0, target=m["target"],
                            n_generate=2)  # fmt: skip
    assert off.top_before[0][0].strip() == m["target"] and off.target_rank_before == 0
    assert off.top_after[0][0].strip() != m["target"] and off.target_rank_after > 10
    assert off.target_prob_after < off.target_prob_before / 100
    assert off.generated_before.split()[0] == m["target"]
    assert m["target"] not in off.generated_after.split()
    np.testing.assert_allclose(off.probs_before.sum(), 1, atol=1e-4)
    # control: another memory's neuron is silent here, switching it changes nothing
    other = memories[1]
    silent = f"L{other['layer']}N{other['neuron']}"
    control = switch_components(recall_model, prompt_of(m), [silent], 0.0, target=m["target"])
    np.testing.assert_allclose(control.probs_after, control.probs_before, atol=1e-6)
    # doubling the neuron makes the target surer
    double = switch_components(recall_model, prompt_of(m), [neuron], 2.0, target=m["target"])
    assert double.target_prob_after > double.target_prob_before
    stored = load_result(save(off, model=recall_model, config={}, store=store).run_id, store)
    assert stored.components == [neuron] and stored.top_after == off.top_after
    assert len(stored.figure().data) == 2


def test_generation_with_interventions(recall_model, memories):
    m = memories[2]
    switch = [Intervention(Component(m["layer"], "neuron", m["neuron"]), scale=0.0)]
    assert generate(recall_model, prompt_of(m), 3).split() == [m["target"]] * 3
    assert m["target"] not in generate(recall_model, prompt_of(m), 3, switch).split()


def test_bad_input(recall_model):
    with pytest.raises(InterpError, match="layers 0..7"):
        switch_components(recall_model, "I like the coffee", ["L9N1"])
    with pytest.raises(InterpError, match="cannot read component"):
        switch_components(recall_model, "I like the coffee", ["neuron 5"])
    with pytest.raises(TokenizationError, match="not in the vocabulary"):
        attribute_prediction(recall_model, "I like the coffee", "espresso")
    with pytest.raises(InterpError, match="2 prompts but 1 targets"):
        attribute_predictions(recall_model, ["a", "b"], ["cup"])
    res = attribute_prediction(recall_model, "I like the coffee")  # the model's own top-1
    assert res.target.strip() == "cup"
