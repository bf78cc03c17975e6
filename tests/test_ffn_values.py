"""Value vectors in vocabulary space: exact against a direct matrix product of the raw
Hugging Face weights, cached per layer in the store, and the planted memories' targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.core.models import record_of
from interp.methods import ffn
from interp.results.base import load_result


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 2-layer GPT-2 with non-trivial LN gains and O(1) value scores."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.models import load
    from interp.core.reference.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=4, n_inner=48,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    hf = GPT2LMHeadModel(config)
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0.0, 0.5) if p.dim() > 1 else p.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("tiny-gpt2")
    hf.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return load(str(path), device="cpu"), hf


def direct_scores(hf, layer: int) -> np.ndarray:
    """W_out[layer] @ (ln_f.weight * W_E^T), both centred as weight processing does, in
    float64 from the raw Hugging Face weights: [d_mlp, d_vocab]."""
    v = hf.transformer.h[layer].mlp.c_proj.weight.double()  # [d_mlp, d_model]
    v = v - v.mean(dim=1, keepdim=True)
    u = hf.transformer.ln_f.weight.double()[:, None] * hf.transformer.wte.weight.double().T
    u = u - u.mean(dim=1, keepdim=True)
    return (v @ u).detach().numpy()


def test_value_projection_matches_direct_matrix_product(tiny, store):
    model, hf = tiny
    values = ffn.value_projections(model, k=7, store=store)
    assert values.layers == [0, 1] and values.top_ids.shape == (2, 48, 7)
    for slot, layer in enumerate(values.layers):
        scores = direct_scores(hf, layer)
        assert np.abs(scores).max() > 5  # a scale where 1e-5 means something
        order = np.argsort(-scores, axis=1, kind="stable")
        np.testing.assert_array_equal(values.top_ids[slot], order[:, :7])
        np.testing.assert_array_equal(values.bottom_ids[slot], order[:, ::-1][:, :7])
        top = np.take_along_axis(scores, order[:, :7], axis=1)
        bottom = np.take_along_axis(scores, order[:, ::-1][:, :7], axis=1)
        np.testing.assert_allclose(values.top_scores[slot], top, rtol=0, atol=1e-5)
        np.testing.assert_allclose(values.bottom_scores[slot], bottom, rtol=0, atol=1e-5)
        v = hf.transformer.h[layer].mlp.c_proj.weight.double()
        norms = (v - v.mean(dim=1, keepdim=True)).norm(dim=1).detach().numpy()
        np.testing.assert_allclose(values.value_norms[slot], norms, rtol=1e-5)
    first = values.top(1, 3, 2)
    assert [t for t, _ in first] == [model.tokenizer.decode([i]) for i in values.top_ids[1, 3, :2]]
    assert first[0][1] == pytest.approx(float(values.top_scores[1, 3, 0]))


def test_layers_are_cached_in_the_store(tiny, store, monkeypatch):
    model, _ = tiny
    first = ffn.value_projections(model, [1], k=5, store=store)
    runs = store.list(kind="ffn_values")
    assert len(runs) == 1 and runs[0].config["layer"] == 1 and runs[0].config["k"] == 5

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached layer")

    monkeypatch.setattr(ffn, "_project_layer", fail)
    again = ffn.value_projections(model, [1], k=5, store=store)
    for name, array in first.arrays().items():
        np.testing.assert_array_equal(again.arrays()[name], array)
    assert again.token_strings == first.token_strings
    with pytest.raises(AssertionError, match="recomputed"):  # another k is another entry
        ffn.value_projections(model, [1], k=6, store=store)
    monkeypatch.undo()
    both = ffn.value_projections(model, [0, 1], k=5, store=store)  # layer 0 new, 1 cached
    np.testing.assert_array_equal(both.top_ids[1], first.top_ids[0])
    assert len(store.list(kind="ffn_values")) == 2
    stored = load_result(runs[0].run_id, store=store)
    np.testing.assert_array_equal(stored.top_ids, first.top_ids)
    assert stored.layers == [1] and stored.figure().data[0].type == "table"


def test_bad_arguments(tiny, store):
    model, _ = tiny
    with pytest.raises(InterpError, match="layers \\[5\\] do not exist"):
        ffn.value_projections(model, [5], store=store)
    with pytest.raises(InterpError, match="k must be"):
        ffn.value_projections(model, [0], k=0, store=store)
    values = ffn.value_projections(model, [0], k=3, store=store, cache=False)
    assert store.list(kind="ffn_values") == []
    with pytest.raises(InterpError, match="not projected"):
        values.top(1, 0)


def test_planted_memory_values_promote_their_targets(recall_model, store):
    memories = record_of(recall_model).reference["memories"]
    layers = sorted({m["layer"] for m in memories})
    values = ffn.value_projections(recall_model, layers, k=5, store=store)
    for m in memories:
        (top, score), (second, score2) = values.top(m["layer"], m["neuron"], 2)
        assert top.strip() == m["target"], m
        assert score > 2 * score2 > 0  # far ahead of the runner-up
    # in these layers only the planted neurons have a value at all (the others are zero)
    live = values.value_norms > 0
    planted = {(m["layer"], m["neuron"]) for m in memories}
    found = {(layers[s], int(n)) for s, n in zip(*np.nonzero(live))}
    assert found == planted
    table = values.figure().data[0]  # default rows: neurons by their top score
    assert set(table.cells.values[0][:4]) == {f"L{layer}N{n}" for layer, n in planted}
    assert any("cup" in cell for cell in table.cells.values[2][:4])
