"""Edge-level circuits: the graph, EAP / EAP-IG / exact edge scores, MIB's scoring."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.methods.circuit_eval import (
    MIB_FRACTIONS,
    auroc,
    bootstrap_jaccard,
    faithfulness_curve,
    jaccard,
    model_planted_edges,
    trapezoid,
)
from interp.methods.edge_forward import GraphForward
from interp.methods.edges import (
    eap_effects,
    edge_scores,
    prepare_edge_runs,
    transformer_lens_eap,
)
from interp.methods.graph import Circuit, EdgeGraph, count_edges
from interp.tasks.base import Task
from interp.tasks.ioi import ioi_task

CLEAN = ["When Mary and John went to the store, John gave a drink to",
         "When Tom and Anna went to the park, Anna gave a ball to"]  # fmt: skip
CORRUPT = ["When Alice and Bob went to the store, Kate gave a drink to",
           "When Lisa and Mark went to the park, Paul gave a ball to"]  # fmt: skip


def _tiny(tmp_path_factory, n_layer: int, n_head: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.models import load
    from interp.core.reference.tokenizer import build_tokenizer, vocabulary

    torch.manual_seed(n_layer * 10 + n_head)
    config = GPT2Config(vocab_size=len(vocabulary()), n_positions=32, n_embd=16,
                        n_layer=n_layer, n_head=n_head, n_inner=32, initializer_range=0.4,
                        bos_token_id=0, eos_token_id=0)  # fmt: skip
    hf = GPT2LMHeadModel(config).eval()
    path = tmp_path_factory.mktemp(f"tiny-{n_layer}x{n_head}")
    hf.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    model = load(str(path), device="cpu")
    task = Task.from_prompts(model, CLEAN, CORRUPT, answers=["Mary", "Tom"], wrong=["John", "Anna"])
    return hf, model, task


@pytest.fixture(scope="module")
def one_head(tmp_path_factory):
    return _tiny(tmp_path_factory, 1, 1)


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory):
    return _tiny(tmp_path_factory, 2, 2)


# -- the graph ------------------------------------------------------------------------------
def test_edge_counts_from_the_shape_alone():
    assert count_edges(12, 12) == 32491  # GPT-2 small, as MIB / EAP-IG count it
    assert count_edges(8, 4) == 1997  # reference:ioi
    for n_layers, n_heads in [(1, 1), (2, 3), (12, 12), (24, 16)]:
        g = EdgeGraph(n_layers, n_heads)
        assert int(g.real.sum()) == g.n_edges == count_edges(n_layers, n_heads)
        assert len(set(g.edge_names())) == g.n_edges
    g = EdgeGraph(1, 1)
    assert g.edge_names() == ["input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>",
                              "input->m0", "input->logits", "a0.h0->m0", "a0.h0->logits",
                              "m0->logits"]  # fmt: skip
    assert g.parse_edge("a0.h0->m0") == (1, g.mlp_destination(0))
    with pytest.raises(InterpError, match="upstream"):
        EdgeGraph(2, 1).parse_edge("a1.h0->a0.h0<q>")


def test_a_model_without_heads_is_refused():
    with pytest.raises(InterpError, match="no attention heads"):
        EdgeGraph.of(SimpleNamespace(cfg=SimpleNamespace(n_layers=2, n_heads=0, d_model=8)))
    with pytest.raises(InterpError):
        EdgeGraph(2, 0)


def test_the_graph_forward_is_the_model_and_circuits_span_clean_to_corrupted(ioi_model):
    task = ioi_task(ioi_model, n_prompts=3)
    forward = GraphForward.of(ioi_model)
    logits, _ = forward.run(forward.embed(task.clean_tokens), task.end)
    with torch.no_grad():
        ref = ioi_model(task.clean_tokens)[torch.arange(3), task.end]
    assert torch.allclose(logits, ref, atol=1e-4)
    runs = prepare_edge_runs(ioi_model, task)
    real = torch.as_tensor(forward.graph.real)
    both = forward.circuit_metric(runs.x_base, task.end, runs.replacement,
                                  torch.stack([real, ~real]), runs.readout.at)  # fmt: skip
    with torch.no_grad():
        corrupted = runs.readout.at(ioi_model(task.corrupted_tokens)[torch.arange(3), task.end])
    assert torch.allclose(both[0], runs.readout.at(ref), atol=1e-4)
    assert torch.allclose(both[1], corrupted, atol=1e-4)
    assert runs.base_value > 4 and abs(runs.replaced_value) < 0.5


# -- a model small enough to check by hand --------------------------------------------------
def _hand_metric(hf, task, keep: np.ndarray) -> float:
    """The 1-layer 1-head GPT-2's logit difference with only the edges in ``keep`` (MIB's
    order: sources input, a0.h0, m0) carrying clean values, straight from its HF weights."""
    t = hf.transformer
    block = t.h[0]
    d = hf.config.n_embd

    def embed(tokens):
        return t.wte(tokens) + t.wpe(torch.arange(tokens.shape[1]))

    def head(q_in, k_in, v_in):
        w, b = block.attn.c_attn.weight, block.attn.c_attn.bias
        q, k, v = (block.ln_1(x) @ w[:, i * d : (i + 1) * d] + b[i * d : (i + 1) * d]
                   for i, x in enumerate((q_in, k_in, v_in)))  # fmt: skip
        scores = q @ k.transpose(1, 2) / d**0.5
        mask = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).triu(1)
        z = torch.softmax(scores.masked_fill(mask, -torch.inf), -1) @ v
        return z @ block.attn.c_proj.weight  # without the output bias, as the graph's node

    def mlp(x):
        return block.mlp.c_proj(block.mlp.act(block.mlp.c_fc(block.ln_2(x))))

    b_o = block.attn.c_proj.bias
    with torch.no_grad():
        runs = {}
        for name, tokens in (("clean", task.clean_tokens), ("corrupt", task.corrupted_tokens)):
            x = embed(tokens)
            a = head(x, x, x)
            m = mlp(x + a + b_o)
            runs[name] = (x, a, m)
        xc, _, _ = runs["clean"]
        xr, ar, mr = runs["corrupt"]
        pick = lambda kept, clean, corrupt: clean if kept else corrupt  # noqa: E731
        a = head(*(pick(keep[0, j], xc, xr) for j in range(3)))
        m = mlp(pick(keep[0, 3], xc, xr) + pick(keep[1, 3], a, ar) + b_o)
        final = pick(keep[0, 4], xc, xr) + pick(keep[1, 4], a, ar) + pick(keep[2, 4], m, mr)
        final = final + b_o
        logits = hf.lm_head(t.ln_f(final))[torch.arange(task.n_prompts), task.end]
        diff = (
            logits[torch.arange(task.n_prompts), task.answer_ids]
            - logits[torch.arange(task.n_prompts), task.wrong_ids]
        )
    return float(diff.mean())


def test_curve_cpr_and_cmd_equal_a_hand_computation(one_head):
    hf, model, task = one_head
    g = EdgeGraph.of(model)
    assert g.n_edges == 8
    full, empty = _hand_metric(hf, task, g.real), _hand_metric(hf, task, ~g.real)
    exact = edge_scores(model, task, "exact")
    # exact scores: the metric's drop when one edge alone is corrupted, by hand
    for s, d in zip(*g.edges()):
        keep = g.real.copy()
        keep[s, d] = False
        assert exact.scores[s, d] == pytest.approx(full - _hand_metric(hf, task, keep), abs=1e-4)
    eap = edge_scores(model, task, "eap")
    curve = faithfulness_curve(model, task, eap)
    # int(p * 8) edges at MIB's fractions: 0 (seven times), 1, 4, 8
    assert curve.n_kept.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 4, 8]
    expected = {}
    for absolute in (False, True):
        values = np.abs(eap.scores) if absolute else eap.scores
        order = np.argsort(-np.where(g.real, values, -np.inf).ravel(), kind="stable")
        f = []
        for n in curve.n_kept:
            keep = np.zeros(g.real.size, dtype=bool)
            keep[order[:n]] = True
            keep = g.prune(keep.reshape(g.real.shape))
            f.append((_hand_metric(hf, task, keep) - empty) / (full - empty))
        expected[absolute] = np.array(f)
    # f divides by m(N) - m(empty), small on a random model: compare relatively
    assert np.allclose(curve.faithfulness, expected[False], rtol=1e-3, atol=1e-3)
    assert np.allclose(curve.faithfulness_abs, expected[True], rtol=1e-3, atol=1e-3)
    x = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    f = expected[False]
    cpr = sum((x[i + 1] - x[i]) * (f[i] + f[i + 1]) / 2 for i in range(9))
    fa = np.abs(1 - expected[True])
    cmd = sum((x[i + 1] - x[i]) * (fa[i] + fa[i + 1]) / 2 for i in range(9))
    assert curve.cpr == pytest.approx(cpr, rel=1e-3) and curve.cmd == pytest.approx(cmd, rel=1e-3)
    assert curve.faithfulness[-1] == pytest.approx(1.0, abs=1e-3)
    assert curve.faithfulness[0] == pytest.approx(0.0, abs=1e-3)
    assert trapezoid([0.0, 1.0], [0.0, 1.0]) == 0.5 and tuple(curve.fractions) == MIB_FRACTIONS


def test_eap_equals_transformer_lens_edge_attribution(two_by_two):
    _, model, task = two_by_two
    theirs = transformer_lens_eap(model, task)
    ours = eap_effects(prepare_edge_runs(model, task, direction="denoising"))
    g = EdgeGraph.of(model)
    assert float(theirs.abs().max()) > 1e-2  # a real comparison, not zeros
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert not bool(ours[~torch.as_tensor(g.real)].any())


# -- ground truth on reference:ioi ----------------------------------------------------------
@pytest.mark.parametrize("placement_seed", [None, 1, 2])
def test_exact_edge_patching_finds_the_planted_edges(placement_seed, ioi_model):
    from interp.core.models import load, record_of, reference_name

    model = (
        ioi_model
        if placement_seed is None
        else load(reference_name("ioi", placement_seed=placement_seed), device="cpu")
    )
    task = ioi_task(model, n_prompts=2)
    truth = model_planted_edges(model)
    runs = prepare_edge_runs(model, task)
    exact = edge_scores(model, task, "exact", runs=runs)
    g = exact.graph
    score = auroc(exact.scores, truth, g.real)
    assert score >= 0.95, score
    eap = auroc(edge_scores(model, task, "eap", runs=runs).scores, truth, g.real)
    ig = auroc(edge_scores(model, task, "eap-ig", runs=runs).scores, truth, g.real)
    assert ig >= eap - 1e-9, (ig, eap)
    # exact scores are the drop with that one edge replaced: check the strongest by circuit
    top = np.unravel_index(np.nanargmax(np.abs(exact.scores)), g.real.shape)
    keep = g.real.copy()
    keep[top] = False
    value = runs.forward.circuit_metric(runs.x_base, task.end, runs.replacement,
                                        torch.as_tensor(keep)[None], runs.readout.at)  # fmt: skip
    assert exact.scores[top] == pytest.approx(runs.base_value - float(value.mean()), abs=1e-3)
    placement = record_of(model).reference["placement"]
    planted_heads = {tuple(lh) for heads in placement.values() for lh in heads}
    assert set(exact.top_n(int(truth.sum()) // 2).heads()) <= planted_heads


# -- circuits, files and formats ------------------------------------------------------------
def test_circuit_json_round_trip_and_mib_format(tmp_path, one_head):
    _, model, task = one_head
    circuit = edge_scores(model, task, "eap").top_n(4)
    path = circuit.to_json(tmp_path / "circuit.json")
    again = Circuit.from_json(path)
    assert again.same_as(circuit) and again.n_kept == circuit.n_kept
    mib = circuit.to_mib()
    assert set(mib) == {"cfg", "nodes", "edges"}
    assert mib["cfg"] == {"n_layers": 1, "n_heads": 1, "parallel_attn_mlp": False, "d_model": 16}
    assert set(mib["nodes"]) == {"input", "a0.h0", "m0", "logits"}
    assert all(set(v) == {"in_graph"} for v in mib["nodes"].values())
    assert len(mib["edges"]) == 8 and set(mib["edges"]["input->a0.h0<q>"]) == {"score", "in_graph"}
    assert sum(e["in_graph"] for e in mib["edges"].values()) == circuit.n_kept
    (tmp_path / "mib.json").write_text(json.dumps(mib))
    from_mib = Circuit.from_json(tmp_path / "mib.json")
    assert np.array_equal(from_mib.in_graph, circuit.in_graph)
    assert np.array_equal(from_mib.scores, circuit.scores, equal_nan=True)


def test_selection_pruning_and_node_circuit():
    g = EdgeGraph(2, 1, d_model=4)
    scores = np.where(g.real, 0.01, np.nan)
    path = [(0, g.head_destination(0, 0, "v")), (g.head_source(0, 0), g.logits_destination)]
    for s, d in path:
        scores[s, d] = 1.0
    scores[g.head_source(1, 0), g.logits_destination] = 0.9  # a1.h0 is fed by nothing kept
    c = Circuit.from_scores(g, scores)
    top = c.top_n(3)
    assert top.kept_edges() == ["input->a0.h0<v>", "a0.h0->logits"]  # a1.h0->logits pruned
    assert top.heads() == [(0, 0)] and top.nodes() == ["input", "a0.h0", "logits"]
    assert c.top_n(3, prune=False).n_kept == 3
    greedy = c.greedy(2)
    assert greedy.kept_edges() == ["a0.h0->logits", "input->a0.h0<v>"] or set(
        greedy.kept_edges()
    ) == {"a0.h0->logits", "input->a0.h0<v>"}
    assert jaccard(top.in_graph, greedy.in_graph) == 1.0
    with pytest.raises(InterpError):
        c.top_n(g.n_edges + 1)


# -- bad input ------------------------------------------------------------------------------
def test_bad_input_is_refused_clearly(one_head):
    _, model, task = one_head

    def constant(logits, task):
        return torch.zeros(len(logits))

    with pytest.raises(InterpError, match="constant metric"):
        edge_scores(model, task, "eap", metric=constant)
    with pytest.raises(InterpError, match="bootstrap"):
        bootstrap_jaccard(model, task, "eap", size=5)
    with pytest.raises(InterpError, match="unknown edge method"):
        edge_scores(model, task, "acdc")
    with pytest.raises(InterpError, match="ablation"):
        edge_scores(model, task, "eap", ablation="zero")


def test_bootstrap_jaccard_is_seeded_and_bounded(one_head):
    _, model, task = one_head
    first = bootstrap_jaccard(model, task, "eap", k=3, n_resamples=2, seed=1)
    again = bootstrap_jaccard(model, task, "eap", k=3, n_resamples=2, seed=1)
    assert first == again and 0.0 <= first[0] <= 1.0 and len(first[1]) == 2


def test_mean_ablation_and_other_metrics_run(one_head):
    _, model, task = one_head
    for metric in ("prob", "kl"):
        c = edge_scores(model, task, "eap", metric=metric, ablation="mean")
        assert c.metric == metric and c.ablation == "mean"
        assert np.isfinite(c.edge_scores()).all()


def test_edge_check_view_and_figures(one_head):
    from interp.views.edges import edge_check, edge_rows

    _, model, task = one_head
    eap = edge_scores(model, task, "eap")
    exact = edge_scores(model, task, "exact")
    rows = edge_rows(eap, top=3)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    check = edge_check(model, task, eap, rows[0]["edge"])
    s, d = eap.graph.parse_edge(rows[0]["edge"])
    assert check["exact"] == pytest.approx(float(exact.scores[s, d]), abs=1e-4)
    assert check["estimate"] == pytest.approx(float(eap.scores[s, d]))
    assert len(eap.figure(top=4).data) >= 2
    assert len(faithfulness_curve(model, task, eap).figure().data) == 2


def test_experiment_writes_the_json_the_issue_names(tmp_path, capsys):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "experiments/edges.py"
    spec = importlib.util.spec_from_file_location("experiment_edges", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    out = tmp_path / "edges.json"
    argv = ["--method", "eap", "--n-prompts", "3", "--n-resamples", "2", "--top-k", "20",
            "--json", str(out)]  # fmt: skip
    assert module.run_script(module.main, module.Config, argv) == 0
    data = json.loads(out.read_text())
    assert data["n_edges"] == 1997
    entry = data["eap"]
    assert set(entry) >= {"auroc", "cpr", "cmd", "jaccard", "seconds"}
    assert entry["auroc"] > 0.95 and 0 <= entry["jaccard"] <= 1
    assert "measured CPR" in capsys.readouterr().out
