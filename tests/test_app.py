"""The dashboard under Streamlit's ``AppTest``: every page renders on the reference models
without an exception and shows its elements; bad input gives a message in the page, never
a traceback, and the app keeps working afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import array, plotly_figures, texts

from interp.core.models import record_of

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # seconds per script run: the first one builds and loads the reference model
IOI_PROMPT = "When Mary and John went to the store, John gave a drink to"
#: reference:ioi's default placement of the planted circuit
PLACEMENT = {
    "previous_token": [(1, 2), (2, 1)],
    "duplicate_token": [(0, 1), (2, 3)],
    "induction": [(3, 1), (3, 3)],
    "s_inhibition": [(4, 2), (5, 0)],
    "name_mover": [(6, 1), (6, 3)],
    "negative_name_mover": [(7, 2)],
    "backup_name_mover": [(7, 0), (7, 3)],
}


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """An empty results store for the app (AppTest runs the app in this process)."""
    from interp.results.store import ResultsStore

    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    return ResultsStore()


def open_app(page: str | None = None, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(f"dashboard/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_model_page_shows_record_tokens_and_prediction(results):
    at = open_app()
    assert at.title[0].value == "Model and prompt"
    assert not at.error
    assert at.selectbox(key="model_choice").value == "reference:ioi"
    tables = [df.value for df in at.dataframe]
    record = dict(zip(tables[0]["property"], tables[0]["value"]))
    assert record["layers x heads"] == "8 x 4" and record["context window"] == "64 tokens"
    roles = dict(zip(tables[1]["head"], tables[1]["role"]))
    assert roles["6.1"] == "name_mover" and roles["4.2"] == "s_inhibition"
    tokens = list(tables[2]["token"])
    assert tokens[:3] == ["<|endoftext|>", "When", "Mary"] and len(tokens) == 15
    # the planted IOI circuit answers the indirect object
    assert at.metric[0].value == "'Mary'"
    assert plotly_figures(at)[0]["data"][0]["type"] == "bar"


def test_attention_page_grid_click_and_scores(results):
    at = open_app("attention")
    assert at.title[0].value == "Attention heads"
    assert not at.error
    # one heatmap and one selector, not one widget per head (XL has 1,200 heads)
    assert not at.get("image")
    assert not [b for b in at.button if b.key and b.key.startswith("head-")]
    assert len(at.selectbox(key="head-select").options) == 32  # 8 layers x 4 heads
    # the first view opens on a planted name mover, which attends from the end to IO (Mary)
    assert any(s.value == "Head 6.1" for s in at.subheader)
    assert "Opened on 6.1: planted name_mover" in texts(at)
    first = array(plotly_figures(at)[0]["data"][0]["z"])
    assert first[-1].argmax() == 2 and first[-1, 2] > 0.5  # END -> "Mary" (position 2)
    at.selectbox(key="head-select").select("1.2").run()
    assert not at.exception
    assert any(s.value == "Head 1.2" for s in at.subheader)
    fig = plotly_figures(at)[0]
    heat = fig["data"][0]
    assert heat["type"] == "heatmap"
    z = array(heat["z"])
    assert z.shape == (15, 15)
    # the planted previous-token head 1.2 attends from every position to the one before
    assert np.allclose(np.diagonal(z, offset=-1), 1.0, atol=0.05)
    assert fig["layout"]["xaxis"]["ticktext"][2] == "Mary"
    assert "attention" in heat["hovertemplate"]
    # the sortable score table: the scores find the planted heads, shown beside their roles
    table = at.dataframe[0].value
    assert len(table) == 32
    assert {"previous_token", "duplicate_token", "induction", "planted role"} <= set(table.columns)
    for score, role in [
        ("previous_token", "previous_token"),
        ("duplicate_token", "duplicate_token"),
        ("induction", "induction"),
    ]:
        top = table.sort_values(score, ascending=False).head(2)
        assert set(top["planted role"]) == {role}, (score, top)
        assert top[score].min() > 0.9
        assert table[table["planted role"] != role][score].max() < 0.3
    # the layer x head heatmap of the chosen score
    at.selectbox(key="score-metric").select("induction").run()
    heat = next(f for f in plotly_figures(at) if f["layout"]["title"]["text"] == "induction")
    z = array(heat["data"][0]["z"])
    assert z.shape == (8, 4) and z[3, 1] > 0.9 and z[3, 3] > 0.9
    marker = next(t for t in heat["data"] if t.get("name") == "selected")  # outlined
    assert (marker["y"], marker["x"]) == ([1], [2])
    # a click on the heatmap (Streamlit's selection event) picks that head
    at.session_state["head-grid"] = {"selection": {"points": [{"x": 1, "y": 3}]}}
    at.run()
    assert any(s.value == "Head 3.1" for s in at.subheader)
    assert at.selectbox(key="head-select").value == "3.1"


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("", "empty"),
        (" ".join(["the"] * 80), "context window"),
        ("Mary xylophone John", "xylophone"),
    ],
    ids=["empty", "too-long", "unknown-word"],
)
@pytest.mark.parametrize("page", [None, "attention", "lens", "ffn"])
def test_bad_prompt_is_a_message_and_the_app_recovers(results, page, prompt, expected):
    at = open_app(page)
    at.text_area(key="prompt").input(prompt).run()
    assert not at.exception
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key="prompt").input(IOI_PROMPT).run()
    assert not at.exception and not at.error
    assert at.get("plotly_chart")


def test_missing_model_directory_offers_reference_models(results, tmp_path):
    at = open_app()
    choice = at.selectbox(key="model_choice")
    choice.select(choice.options[-1]).run()  # "other (local directory or name)…"
    at.text_input(key="model_custom").input(str(tmp_path / "no-such-model")).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    at.button(key="use-reference:ioi").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model_choice").value == "reference:ioi"
    assert at.metric[0].value == "'Mary'"


def test_offline_gpt2_says_weights_are_missing(results, monkeypatch):
    import huggingface_hub

    def not_cached(*args, **kwargs):
        raise FileNotFoundError("not in the local cache")

    # as on a machine without GPT-2: nothing cached, no models dir, the hub unreachable
    monkeypatch.setattr(huggingface_hub, "snapshot_download", not_cached)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("INTERP_MODELS_DIR", raising=False)
    at = open_app()
    at.selectbox(key="model_choice").select("gpt2-small").run()
    assert not at.exception
    assert any("not available here" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="use-reference:ioi")
    assert at.button(key="use-reference:recall")


def test_runs_page_lists_and_compares(results, ioi_model):
    from interp import views
    from interp.results.base import save

    empty = open_app("runs")
    assert "No runs are stored yet" in texts(empty)
    assert "python experiments/ioi.py --model reference:ioi" in texts(empty)  # how to make one
    patterns = views.attention_patterns(ioi_model, IOI_PROMPT)
    first = save(patterns, model=ioi_model, config={"prompt": IOI_PROMPT, "k": 1}, seed=0)
    second = save(patterns, model=ioi_model, config={"prompt": IOI_PROMPT, "k": 2}, seed=1)
    at = open_app("runs")
    assert at.title[0].value == "Runs"
    listed = at.dataframe[0].value
    assert list(listed["run id"]) == [second.run_id, first.run_id]
    assert set(listed["kind"]) == {"attention_patterns"}
    diff = at.dataframe[1].value
    row = diff[diff[""] == "config.k"].iloc[0]
    assert (row[first.run_id], row[second.run_id]) == ("1", "2")
    assert len(at.json) == 4  # config and summary of each run


RECALL = {"model_choice": "reference:recall", "prompt": "Q: What is the capital of Poland? A:"}


def test_lens_page_heatmap_trajectories_and_missing_run(results):
    at = open_app("lens", **RECALL)
    assert at.title[0].value == "Logit lens"
    assert not at.error
    heat, traj = plotly_figures(at)[:2]
    assert heat["data"][0]["type"] == "heatmap"
    streams = heat["data"][0]["y"]
    text = np.array(heat["data"][0]["text"])  # the top token written in each cell
    assert text.shape == (len(streams), 12)  # 12 tokens with BOS
    final = text[streams.index("L7.resid_post"), -1]
    mid = text[streams.index("L2.resid_post"), -1]
    assert (mid.strip(), final.strip()) == ("Poland", "Warsaw")  # planted mover, then FFN
    names = [trace["name"] for trace in traj["data"]]
    assert names == ["'Poland'", "'Warsaw'"]
    warsaw = array(traj["data"][1]["y"])
    assert warsaw[-1] > 0.5 > warsaw[streams.index("L2.resid_post")]
    # no stored capitals run: the page says which command creates one
    assert "python experiments/capitals.py --model reference:recall" in texts(at)
    # an unknown target word is a message, and the heatmap stays
    at.text_input(key="lens-targets-reference:recall").input("Poland, Atlantis").run()
    assert not at.exception
    assert any("Atlantis" in e.value for e in at.error)


def test_lens_page_shows_a_stored_capitals_run(results, recall_model):
    import dataclasses

    from interp.results.base import save
    from interp.studies.recall import CapitalsResult, relation_recall
    from interp.tasks.relations import fact_tokens, relation_task

    task = relation_task(recall_model, "capital", n_prompts=6)
    found = relation_recall(
        recall_model,
        task,
        fact_tokens(recall_model, task, "capital"),
        headline=("Poland", "Warsaw"),
        headline_target=("China", "Beijing"),
        mean_tokens=task.corrupted_tokens,
        mean_reference="corrupted prompts",
        n_random=2,
    )
    fields = {f.name: getattr(found, f.name) for f in dataclasses.fields(found)}
    planted = record_of(recall_model).reference["capital_layer"]
    run = save(
        CapitalsResult(**fields),
        model=recall_model,
        config={"n_prompts": 6},
        seed=0,
        extra_summary={"planted_layer": planted},
    )
    at = open_app("lens", **RECALL)
    assert not at.exception and not at.error
    assert at.selectbox(key="run-capitals").value == run.run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"{found.headline[1]} top-1 from layer"] == str(planted)
    unrelated = found.unrelated_transfer
    paper = metrics["transfer, unrelated contexts (paper's protocol)"]
    assert paper == f"{unrelated['transfer_accuracy']:.1%}"
    china = unrelated["headline"]
    top = metrics[f"{china[0]} context, FFNs := o →"]
    assert top == repr(unrelated["headline_transfer_top"].strip()) == repr(china[1])
    table = at.dataframe[0].value
    row = table[table["quantity"] == "answer top-1 from layer"].iloc[0]
    assert (row["measured"], row["planted"]) == (str(planted), str(planted))
    pairs = at.dataframe[1].value
    assert len(pairs) == 6 and set(pairs["clean"]) == {1}


def test_ffn_page_neuron_browser_attribution_and_switch(results, recall_model, tmp_path):
    from interp.methods.mining import mine

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "I had a cup of coffee with milk .\n\nThe stock exchange was open .\n\n"
        "She drank coffee in the morning .\n\nThe ice was cold .\n"
    )
    mine(recall_model, corpus, layers=[2, 3], k=3, window=16, batch_size=4, show_progress=False)
    memory = next(
        m for m in record_of(recall_model).reference["memories"] if m["trigger"] == "coffee"
    )
    at = open_app("ffn", model_choice="reference:recall", prompt="I had a cup of coffee")
    assert at.title[0].value == "FFN memories"
    assert not at.exception and not at.error
    # the neuron browser opens on the first planted memory: coffee -> cup
    assert (at.number_input(key="ffn-layer").value, at.number_input(key="ffn-neuron").value) == (
        memory["layer"],
        memory["neuron"],
    )
    values = at.dataframe[0].value
    assert values["promotes"].iloc[0].strip() == "cup"
    examples = [h.proto.body for h in at.get("html")]
    assert len(examples) == 2 and all("<mark>coffee</mark>" in e for e in examples)
    # the prediction and the components that built it
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction"] == "'cup'"
    top = at.dataframe[1].value.iloc[0]
    assert top["component"] == f"L{memory['layer']}N{memory['neuron']}"
    # switch the memory neuron off: the prediction changes
    at.multiselect(key="ffn-off").set_value([top["component"]]).run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction before"] == "'cup'"
    assert metrics["Prediction with them off"] != "'cup'"
    # a bad component is a message
    at.multiselect(key="ffn-off").set_value(["L99N0"]).run()
    assert not at.exception
    assert any("L99N0" in e.value for e in at.error)


def test_ffn_page_on_a_model_without_mlps_says_so_and_points_to_the_memories(results):
    """reference:ioi's MLPs are all zero: the page says so instead of browsing L0N0 (value
    norm 0) and offers reference:recall, whose planted memory neurons it names."""
    at = open_app("ffn")
    assert not at.exception and not at.error
    assert any("Every MLP of reference:ioi is zero" in w.value for w in at.warning)
    assert "L2N14 (coffee → cup)" in texts(at) and "reference:recall" in texts(at)
    assert not at.number_input  # no neuron browser on zero MLPs
    assert {m.label: m.value for m in at.metric}["Prediction"] == "'Mary'"  # heads built it
    at.button(key="ffn-use-memory-model").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model_choice").value == "reference:recall"
    assert (at.number_input(key="ffn-layer").value, at.number_input(key="ffn-neuron").value) == (
        2,
        14,
    )
    assert at.dataframe[0].value["promotes"].iloc[0].strip() == "cup"
    norm = next(m.value for m in at.markdown if m.value.startswith("**L2N14**"))
    assert float(norm.rsplit(" ", 1)[1]) > 0.5


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A random 2-layer GPT-2 directory (no planted memories), with a tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.reference.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=48
    )
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_ffn_page_on_a_model_without_planted_memories_opens_on_the_longest_value(results, tiny_dir):
    from interp import views
    from interp.core.models import load

    model = load(str(tiny_dir), device="cpu")
    start = views.neuron_start(model)
    norms = model.W_out.detach().norm(dim=-1)
    assert not start.empty and "largest value norm of all 96 neurons" in start.why
    assert (start.layer, start.neuron) == divmod(int(norms.argmax()), norms.shape[1])
    assert start.value_norm == pytest.approx(float(norms.max())) and start.value_norm > 0
    at = open_app(
        "ffn", model_choice="other (local directory or name)…", model_custom=str(tiny_dir)
    )
    assert not at.exception and not at.error
    assert (at.number_input(key="ffn-layer").value, at.number_input(key="ffn-neuron").value) == (
        start.layer,
        start.neuron,
    )
    assert f"Opened on L{start.layer}N{start.neuron}: largest value norm" in texts(at)
    assert f"value norm {start.value_norm:.2f}" in texts(at)


def test_recall_model_pages_open_on_planted_heads(results):
    at = open_app(**RECALL)
    roles = dict(zip(at.dataframe[1].value["head"], at.dataframe[1].value["role"]))
    assert roles == {"1.2": "subject_mover", "2.1": "retrieval"}
    at.switch_page("dashboard/pages/attention.py").run()
    assert not at.exception and not at.error
    assert any(s.value == "Head 1.2" for s in at.subheader)
    # the subject mover copies the subject: from the last position it attends to "Poland"
    first = array(plotly_figures(at)[0]["data"][0]["z"])
    tokens = plotly_figures(at)[0]["layout"]["xaxis"]["ticktext"]
    assert tokens[first[-1].argmax()].strip() == "Poland"
    at.switch_page("dashboard/pages/ioi.py").run()
    assert not at.exception and not at.error
    assert "has no planted IOI circuit" in texts(at)
    at.button(key="ioi-use-reference").click().run()
    assert at.selectbox(key="model_choice").value == "reference:ioi"
    assert plotly_figures(at), "the planted circuit of reference:ioi"


def test_model_loaded_once_and_results_cached_by_inputs(results, monkeypatch):
    import sys

    import streamlit as st

    from interp import views

    st.cache_data.clear()
    calls = []
    compute = views.prompt_view

    def counted(model, prompt, k=10):
        calls.append(prompt)
        return compute(model, prompt, k)

    monkeypatch.setattr(views, "prompt_view", counted)
    at = open_app()
    common = sys.modules["dashboard.common"]  # imported by the app
    model = common.load_model("reference:ioi", "auto", "float32")
    assert record_of(model).name == "reference:ioi"  # the cached resource keeps its record
    assert not [k for k in vars(model) if k.startswith(("interp", "_interp"))]  # unmutated
    at.run()  # same inputs: served from the cache
    assert calls == [IOI_PROMPT]
    other = "When Alice and Bob went to the park, Bob gave a book to"
    at.text_area(key="prompt").input(other).run()
    at.text_area(key="prompt").input(IOI_PROMPT).run()
    assert calls == [IOI_PROMPT, other]
    # one model object per (name, device, dtype), whatever the page
    at.switch_page("dashboard/pages/attention.py").run()
    assert common.load_model("reference:ioi", "auto", "float32") is model


def test_ffn_page_starts_the_experiment_and_shows_its_stored_run(results, tmp_path, monkeypatch):
    """'Run it now' runs experiments/ffn_memories.py in a subprocess, stored like a script
    run; the page then shows it (here on a small corpus so that it takes seconds)."""
    from interp import views
    from interp.core.reference.vocab import MEMORIES

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "\n\n".join(f"I like the {trigger} in the city ." for trigger, _ in MEMORIES * 8)
    )
    script, reference, _ = views.EXPERIMENTS["ffn_memories"]
    extra = ["--corpus", str(corpus), "--n-shuffles", "5", "--k", "3"]
    monkeypatch.setitem(views.EXPERIMENTS, "ffn_memories", (script, reference, extra))
    at = open_app("ffn", **RECALL)
    command = f"python {script} --model reference:recall --corpus {corpus}"
    assert command in texts(at)
    at.button(key="start-ffn_memories").click().run()
    assert not at.exception and not at.error
    stored = results.list("ffn_memories")
    assert len(stored) == 1 and stored[0].config["corpus"] == str(corpus)
    assert at.selectbox(key="run-ffn_memories").value == stored[0].run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Planted memories recovered"] == "all"
    memories = next(df.value for df in at.dataframe if "found_trigger_neuron" in df.value)
    assert list(memories["planted"]) == list(memories["found_trigger_neuron"])
    agreement = [f for f in plotly_figures(at) if "agreement" in f["layout"]["title"]["text"]]
    assert agreement, "the stored agreement figure"


POSITIONS = ["IO", "S1", "S1+1", "S2", "END"]


@pytest.fixture(scope="module")
def ioi_parts(ioi_model):
    """Summary and arrays of an ``ioi`` run as experiments/ioi.py stores them, from real
    (cheap) analyses on 4 prompts: DLA, residual-stream and head patching. The circuit is the
    planted one, standing in for the discovery step (a minute; the slow test below runs
    it)."""
    from interp.methods.patching import patch_heads, patch_resid
    from interp.studies.ioi_circuit import direct_logit_attribution
    from interp.tasks.ioi import ioi_task

    task = ioi_task(ioi_model, 4, seed=0)
    dla, logit_diff = direct_logit_attribution(ioi_model, task)
    resid = patch_resid(ioi_model, task, positions=POSITIONS)
    heads = patch_heads(ioi_model, task, "z")
    planted = record_of(ioi_model).reference["placement"]
    summary = {
        "model": record_of(ioi_model).name,
        "n_prompts": task.n_prompts,
        "seed": 0,
        "circuit": planted,
        "logit_diff": logit_diff,
        "io_over_s": 1.0,
        "io_prob": 0.2,
        "faithfulness": None,
        "planted": planted,
        "precision_recall": {c: {"precision": 1.0, "recall": 1.0} for c in planted},
        "example_prompt": task.prompts[0],
        "position_labels": POSITIONS,
    }
    arrays = {"dla": dla, "patch_resid_pre": resid.normalised, "patch_head_out": heads.normalised}
    return summary, {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


@pytest.fixture()
def ioi_run(results, ioi_model, ioi_parts):
    summary, arrays = ioi_parts
    run = results.save(
        "ioi",
        model=record_of(ioi_model).to_dict(),
        config={"n_prompts": summary["n_prompts"]},
        seed=0,
        summary=summary,
        arrays=arrays,
    )
    return run, arrays


def test_ioi_page_without_a_run_offers_the_experiment_and_shows_the_planted_circuit(results):
    at = open_app("ioi")
    assert at.title[0].value == "IOI circuit"
    assert not at.error
    assert "python experiments/ioi.py --model reference:ioi" in texts(at)
    assert at.button(key="start-ioi")
    diagram = plotly_figures(at)[0]
    labels = {t for trace in diagram["data"] for t in trace.get("text", []) if "." in t}
    planted = {f"{a}.{b}" for heads in PLACEMENT.values() for a, b in heads}
    assert labels == planted


def test_ioi_page_shows_a_stored_run(ioi_run):
    run, arrays = ioi_run
    at = open_app("ioi")
    assert not at.exception and not at.error
    assert at.selectbox(key="run-ioi").value == run.run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["logit difference IO − S"] == f"{run.summary['logit_diff']:.2f}"
    figures = plotly_figures(at)
    diagram = figures[0]
    arrows = diagram["layout"]["annotations"]
    # the paper's paths, head to head: PT->IND, IND->SI, DT->SI, SI->(NM, backup, negative),
    # then every mover to the logits
    assert len(arrows) == 2 * 2 + 2 * 2 + 2 * 2 + 2 * (2 + 2 + 1) + 5
    classes = at.dataframe[0].value
    nm = classes[classes["class"] == "name mover"].iloc[0]
    assert nm["found"] == nm["planted"] == "6.1, 6.3"
    titles = [f["layout"]["title"]["text"] for f in figures]
    assert "residual stream (resid_pre): layer x position" in titles
    dla = next(f for f in figures if f["layout"]["title"]["text"].startswith("direct logit"))
    z = array(dla["data"][0]["z"])
    assert np.allclose(z, arrays["dla"], atol=1e-4)
    # the planted name movers push IO - S most
    top2 = {divmod(int(i), 4) for i in np.argsort(z, axis=None)[-2:]}
    assert top2 == {(6, 1), (6, 3)}
    resid = next(f for f in figures if f["layout"]["title"]["text"].startswith("residual"))
    assert resid["data"][0]["x"] == POSITIONS


def test_attention_page_shows_the_ioi_class_of_each_head(ioi_run):
    at = open_app("attention")
    table = at.dataframe[0].value
    classes = dict(zip(table["head"], table["IOI class"]))
    assert classes["6.1"] == "name_mover" and classes["4.2"] == "s_inhibition"
    assert classes["0.0"] == ""


@pytest.mark.slow
def test_ioi_page_runs_the_experiment_and_shows_the_circuit_it_found(results, monkeypatch):
    """'Run it now' on the IOI page: experiments/ioi.py (4 prompts) in a subprocess, stored
    like a script run; the page then shows the circuit it found (the planted one)."""
    from interp import views

    script, reference, _ = views.EXPERIMENTS["ioi"]
    monkeypatch.setitem(views.EXPERIMENTS, "ioi", (script, reference, ["--n-prompts", "4"]))
    at = open_app("ioi")
    at.button(key="start-ioi").click().run(timeout=900)
    assert not at.exception and not at.error
    stored = results.list("ioi")
    assert len(stored) == 1 and stored[0].config["n_prompts"] == 4
    classes = at.dataframe[0].value
    assert list(classes["found"]) == list(classes["planted"])
    assert set(classes["precision"]) == set(classes["recall"]) == {"1.00"}
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["faithfulness F(C)/F(M)"].rstrip("%")) > 90
