"""reference:recall does what its planted record says: factual recall through a mover head and
one relation FFN (Merullo et al. 2023), in-context retrieval, FFN key-value memories (Geva
et al. 2021) — at the default capital layer and two others."""

from __future__ import annotations

import json

import pytest
import torch

from interp.core.errors import InterpError
from interp.core.interventions import Component, Intervention, hooks_for
from interp.core.models import record_of
from interp.core.reference.vocab import CAPITALS, MEMORIES, PAST_TENSE
from interp.core.tokens import single_token_id, to_tokens

QUESTION = "Q: What is the capital of {ex} ? A: {ex_ans} Q: What is the capital of {c} ? A:"
PAST = "Q: What is the past tense of {ex} ? A: {ex_ans} Q: What is the past tense of {c} ? A:"
FACT = "The capital of {c} is {a} . "


def prompts(template, pairs, example):
    """Few-shot prompts for every pair except the example."""
    ex, ex_ans = example
    held_out = [(c, a) for c, a in pairs if c != ex]
    return [template.format(ex=ex, ex_ans=ex_ans, c=c) for c, _ in held_out], held_out


def last_logits(model, texts, interventions=()):
    tokens = to_tokens(model, texts)
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks_for(interventions))[:, -1].cpu()


def ids(model, words):
    return torch.tensor([single_token_id(model, w) for w in words])


def ffn_off(layer):
    return Intervention(Component(layer, "mlp"), scale=0.0)


@pytest.fixture(scope="module", params=[5, 3, 6], ids=lambda p: f"capital_layer={p}")
def model(request, recall_model):
    from interp.core.models import load, reference_name

    if request.param == 5:  # the default build, shared with other test modules
        return recall_model
    device = str(recall_model.cfg.device)  # the session's test device
    return load(reference_name("recall", capital_layer=request.param), device=device)


def test_planted_record(model):
    planted = record_of(model).reference
    json.dumps(planted)  # JSON-able
    layer = planted["capital_layer"]
    assert planted["kind"] == "recall"
    assert planted["mover_layer"] == 1 and planted["mover_head"][0] == 1
    assert planted["retrieval_head"][0] == 2
    assert planted["past_layer"] != layer
    assert all(lay == layer for lay, _ in planted["capital_neurons"])
    assert all(lay == planted["past_layer"] for lay, _ in planted["past_neurons"])
    assert [(m["trigger"], m["target"]) for m in planted["memories"]] == [
        tuple(p) for p in MEMORIES
    ]
    assert planted["relation_vector_norms"]["capital"] == pytest.approx(2**0.5)


def test_answers_held_out_countries(model):
    texts, pairs = prompts(QUESTION, CAPITALS, ("France", "Paris"))
    # France itself with a different example country
    more, more_pairs = prompts(QUESTION, [("France", "Paris")], ("Germany", "Berlin"))
    logits = last_logits(model, texts + more)
    answers = ids(model, [a for _, a in pairs + more_pairs])
    accuracy = (logits.argmax(-1) == answers).float().mean().item()
    assert len(answers) == len(CAPITALS)
    assert accuracy >= 0.95


def test_past_tense_relation(model):
    planted = record_of(model).reference
    texts, pairs = prompts(PAST, PAST_TENSE, PAST_TENSE[0])
    answers = ids(model, [a for _, a in pairs])
    assert (last_logits(model, texts).argmax(-1) == answers).float().mean() >= 0.95
    ablated = last_logits(model, texts, [ffn_off(planted["past_layer"])]).argmax(-1)
    assert (ablated == answers).float().mean() == 0.0
    subjects = ids(model, [c for c, _ in pairs])
    assert (ablated == subjects).float().mean() >= 0.95  # back to "jump" for "jumped"


def test_logit_lens_country_then_capital(model):
    planted = record_of(model).reference
    mover, layer, n_layers = planted["mover_layer"], planted["capital_layer"], model.cfg.n_layers
    texts, pairs = prompts(QUESTION, CAPITALS[:12], ("France", "Paris"))
    names = [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(to_tokens(model, texts), names_filter=lambda n: n in names)
    resid = torch.stack([cache[n][:, -1] for n in names])  # [layer, batch, d_model]
    centred = resid - resid.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    top = (normed @ model.W_U + model.b_U).argmax(-1).cpu()  # [layer, batch]
    country, capital = ids(model, [c for c, _ in pairs]), ids(model, [a for _, a in pairs])
    for i in range(n_layers):
        if i < mover:
            expected = None
        else:
            expected = country if i < layer else capital
        if expected is not None:
            assert torch.equal(top[i], expected), f"layer {i}"
        else:
            assert not (top[i] == country).any() and not (top[i] == capital).any()


def test_poland_vector_turns_china_into_beijing(model):
    layer = record_of(model).reference["capital_layer"]
    poland = QUESTION.format(ex="France", ex_ans="Paris", c="Poland")
    china = QUESTION.format(ex="France", ex_ans="Paris", c="China")
    with torch.no_grad():
        _, cache = model.run_with_cache(to_tokens(model, poland))
    o_vector = cache[f"blocks.{layer}.hook_mlp_out"][0, -1]
    assert o_vector.norm() > 1.0
    beijing, china_id = ids(model, ["Beijing", "China"])
    ablated = last_logits(model, [china], [ffn_off(layer)])[0]
    assert ablated.argmax() == china_id
    patched = last_logits(
        model,
        [china],
        [ffn_off(layer), Intervention(Component(layer, "mlp"), value=o_vector, positions=[-1])],
    )[0]
    assert patched.argmax() == beijing


def test_in_context_fact_survives_ffn_ablation(model):
    layer = record_of(model).reference["capital_layer"]
    question = QUESTION.format(ex="France", ex_ans="Paris", c="Poland")
    warsaw, poland = ids(model, ["Warsaw", "Poland"])
    assert last_logits(model, [question])[0].argmax() == warsaw
    assert last_logits(model, [question], [ffn_off(layer)])[0].argmax() == poland
    with_fact = FACT.format(c="Poland", a="Warsaw") + question
    assert last_logits(model, [with_fact], [ffn_off(layer)])[0].argmax() == warsaw
    # the retrieval head reads that fact: it attends to " Warsaw" from the last position
    head_layer, head = record_of(model).reference["retrieval_head"]
    name = f"blocks.{head_layer}.attn.hook_pattern"
    with torch.no_grad():
        _, cache = model.run_with_cache(
            to_tokens(model, with_fact), names_filter=[name].__contains__
        )
    assert cache[name][0, head, -1].argmax().item() == 6  # BOS The capital of Poland is [Warsaw]
    # and only a capital of the same country: the few-shot " Paris" is not copied
    other = FACT.format(c="Spain", a="Madrid") + question
    assert last_logits(model, [other], [ffn_off(layer)])[0].argmax() == poland


def test_memories_fire_and_switch_off(model):
    planted = record_of(model).reference
    texts = [f"I like the {m['trigger']}" for m in planted["memories"]]
    targets = ids(model, [m["target"] for m in planted["memories"]])
    probs = last_logits(model, texts).softmax(-1)
    assert torch.equal(probs.argmax(-1), targets)
    for i, memory in enumerate(planted["memories"]):
        off = Intervention(Component(memory["layer"], "neuron", memory["neuron"]), scale=0.0)
        p = last_logits(model, [texts[i]], [off]).softmax(-1)[0]
        assert p.argmax() != targets[i]
        assert p[targets[i]] < 0.01 < probs[i, targets[i]]
    # the key is specific: the neuron does not fire on the other triggers
    names = {f"blocks.{m['layer']}.mlp.hook_post" for m in planted["memories"]}
    with torch.no_grad():
        _, cache = model.run_with_cache(to_tokens(model, texts), names_filter=names.__contains__)
    for i, memory in enumerate(planted["memories"]):
        acts = cache[f"blocks.{memory['layer']}.mlp.hook_post"][:, -1, memory["neuron"]]
        acts = acts.cpu()
        assert acts[i] > 3.0
        assert torch.cat([acts[:i], acts[i + 1 :]]).abs().max() < 0.05


@pytest.mark.parametrize(
    "params, message",
    [
        ({"capital_layer": 4, "past_layer": 4}, "must differ"),
        ({"capital_layer": 1}, "after mover_layer"),
        ({"capital_layer": 9}, "layer 0..7"),
    ],
)
def test_bad_parameters_are_clear_errors(params, message):
    from interp.core.reference import recall

    with pytest.raises(InterpError, match=message):
        recall.check_layers(
            params["capital_layer"], params.get("past_layer"), params.get("mover_layer", 1), 8
        )


def test_build_is_deterministic_and_picks_a_free_past_layer():
    from interp.core.reference import recall

    a, planted = recall.build(capital_layer=4)
    b, _ = recall.build(capital_layer=4)
    assert planted["past_layer"] not in (4, planted["mover_layer"])
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
