"""Word vectors (interp.methods.words): nearest neighbours, analogies and the PCA map agree
with a direct float64 numpy computation; residual vectors agree with a plain forward; words
that are not one token fail with a message that names them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError, TokenizationError
from interp.core.hooks import resid_name
from interp.core.tokens import single_token_id, token_str
from interp.methods.arithmetic import analogies
from interp.methods.words import (
    analogy,
    context_vectors,
    neighbours,
    pca_2d,
    projection,
    special_ids,
    vocabulary_vectors,
    word_vectors,
)


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def numpy_top(emb: np.ndarray, query: np.ndarray, exclude: list[int], k: int):
    cos = unit_rows(emb) @ (query / np.linalg.norm(query))
    cos[exclude] = -np.inf
    order = np.argsort(-cos, kind="stable")
    return order[:k], cos


def test_neighbours_match_numpy_in_the_embedding(recall_model):
    model = recall_model
    emb = model.W_E.detach().double().cpu().numpy()
    for word in ["Paris", "France", "big"]:
        wid = single_token_id(model, word)
        result = neighbours(model, word, k=8)
        ids, cos = numpy_top(emb, emb[wid], [wid, *special_ids(model)], 8)
        assert result.token_ids.tolist() == ids.tolist()
        assert np.allclose(result.cosines, cos[ids], atol=1e-5)
        assert word not in [t.strip() for t in result.tokens]
        assert result.tokens == [token_str(model, int(i)) for i in ids]
        assert result.self_cosine == pytest.approx(1.0, abs=1e-5)
    unembedded = neighbours(model, "Paris", space="W_U", k=5)
    w_u = model.W_U.detach().double().cpu().numpy().T
    wid = single_token_id(model, "Paris")
    ids, _ = numpy_top(w_u, w_u[wid], [wid, *special_ids(model)], 5)
    assert unembedded.token_ids.tolist() == ids.tolist() and unembedded.space == "W_U"


def test_analogies_match_numpy_and_the_arithmetic_module(recall_model):
    model = recall_model
    emb = model.W_E.detach().double().cpu().numpy()
    for a, b, c, expected in [
        ("biggest", "big", "small", "smallest"),
        ("Paris", "France", "Germany", "Berlin"),
        ("Warsaw", "Poland", "China", "Beijing"),
    ]:
        result = analogy(model, a, b, c, expected=expected, k=5)
        ia, ib, ic, ie = (single_token_id(model, w) for w in (a, b, c, expected))
        exclude = sorted({ia, ib, ic, *special_ids(model)})
        ids, cos = numpy_top(emb, emb[ia] - emb[ib] + emb[ic], exclude, 5)
        assert [single_token_id(model, t) for t in result.tokens] == ids.tolist()
        assert result.expected_rank == 1 + int((cos > cos[ie]).sum()) == 1
        assert result.expected_cosine == pytest.approx(cos[ie], abs=1e-5)
        assert not {t.strip() for t in result.tokens} & {a, b, c}
        old = analogies(model, [(a, b, c, expected)], k=5)
        assert int(old.expected_rank[0]) == result.expected_rank
        assert result.question == f"{b} : {a} :: {c} : ?"
    # a control without word2vec structure: reference:ioi's words are unrelated vectors
    open_question = analogy(model, "Paris", "France", "Poland")
    assert open_question.expected_rank is None and open_question.tokens[0] == "Warsaw"
    with pytest.raises(InterpError, match="one of the inputs"):
        analogy(model, "Paris", "France", "Poland", expected="Poland")


def test_residual_vectors_are_the_residual_stream(recall_model):
    """Layer 0 is the token embedding; layer l is resid_post of block l-1 of [BOS, token]
    (every token, batched) or of the word in a context (at its position)."""
    model = recall_model
    n = model.cfg.n_layers
    assert torch.allclose(vocabulary_vectors(model, 0), model.W_E.float(), atol=1e-6)
    layer = n  # one vocabulary pass for the whole file (cached per model and layer)
    vocab = vocabulary_vectors(model, layer)
    assert vocab.shape == (model.cfg.d_vocab, model.cfg.d_model)
    assert vocabulary_vectors(model, layer) is vocab  # cached per model and layer
    bos = model.tokenizer.bos_token_id
    ids = [single_token_id(model, w) for w in ("Paris", "France", "small")]
    tokens = torch.tensor([[bos, i] for i in ids])
    _, cache = model.run_with_cache(tokens)
    assert torch.allclose(vocab[ids], cache[resid_name(layer - 1, "post")][:, 1], atol=1e-4)
    assert torch.allclose(word_vectors(model, ["Paris", "France", "small"], layer), vocab[ids])

    prompt = "Q: What is the capital of Poland? A:"
    got = context_vectors(model, [prompt], ["Poland"], list(range(n + 1)))
    tokens = model.to_tokens(prompt)
    position = tokens[0].tolist().index(single_token_id(model, "Poland"))
    _, cache = model.run_with_cache(tokens)
    for lay in range(1, n + 1):
        expected = cache[resid_name(lay - 1, "post")][0, position]
        assert torch.allclose(got[0, lay], expected, atol=1e-4)
    assert torch.allclose(got[0, 0], model.W_E[single_token_id(model, "Poland")], atol=1e-6)

    in_context = neighbours(model, "Poland", space=n, context=prompt, k=5)
    assert in_context.context == prompt and in_context.space == f"layer {n} (after block {n - 1})"
    q = got[0, n].double().numpy()
    ids, cos = numpy_top(vocab_at(model, n), q, special_ids(model), 5)
    assert in_context.token_ids.tolist() == ids.tolist()


def vocab_at(model, space: int | str) -> np.ndarray:
    return vocabulary_vectors(model, space).double().cpu().numpy()


def test_words_that_are_not_one_token_fail_clearly(recall_model):
    with pytest.raises(TokenizationError, match="'xyzzy'.*not in the vocabulary"):
        neighbours(recall_model, "xyzzy")
    with pytest.raises(TokenizationError, match="'Atlantis'"):
        analogy(recall_model, "Paris", "France", "Atlantis")
    with pytest.raises(InterpError, match="out of range"):
        neighbours(recall_model, "Paris", space=recall_model.cfg.n_layers + 1)
    with pytest.raises(InterpError, match="unknown space"):
        neighbours(recall_model, "Paris", space="resid")
    with pytest.raises(InterpError, match="residual layer"):
        neighbours(recall_model, "Paris", space="W_E", context="the capital of Paris")
    with pytest.raises(InterpError, match="does not occur"):
        neighbours(recall_model, "Paris", space=0, context="Q: What is the capital of Poland? A:")


def test_a_split_word_names_its_pieces(text_model):
    """A BPE model splits rare words: the error shows the pieces."""
    model = text_model
    pieces = model.tokenizer.tokenize(" antidisestablishmentarianism")
    assert len(pieces) > 1
    with pytest.raises(TokenizationError, match=r"is \d+ tokens \['Ġ"):
        neighbours(model, "antidisestablishmentarianism")


def test_pca_matches_numpy_svd(recall_model):
    words = ["France", "Paris", "Poland", "Warsaw", "Germany", "Berlin", "big", "small"]
    result = projection(recall_model, words, groups=["country", "capital"] * 3 + ["size"] * 2)
    x = word_vectors(recall_model, words).double().numpy()
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    for j in range(2):  # the same components up to sign
        assert np.allclose(np.abs(result.coords[:, j]), np.abs(u[:, j] * s[j]), atol=1e-6)
    assert np.allclose(result.explained, s[:2] ** 2 / (s**2).sum())
    assert result.explained[0] >= result.explained[1] > 0
    fig = result.figure()
    assert {t.name for t in fig.data} == {"country", "capital", "size"}
    coords, _ = pca_2d(np.eye(3))
    assert coords.shape == (3, 2)
    with pytest.raises(InterpError, match="at least three"):
        projection(recall_model, ["Paris", "France"])
    with pytest.raises(TokenizationError, match="xyzzy"):
        projection(recall_model, ["Paris", "France", "xyzzy"])


def test_results_store_and_draw(recall_model, store):
    from interp.results.base import load_result, save

    for result in (
        neighbours(recall_model, "Paris", space=recall_model.cfg.n_layers, k=4),
        analogy(recall_model, "biggest", "big", "small", expected="smallest"),
        projection(recall_model, ["France", "Paris", "Poland", "Warsaw"], space=0),
    ):
        run = save(result, model=recall_model, config={}, store=store)
        back = load_result(run.run_id, store=store)
        assert type(back) is type(result)
        for name, value in result.arrays().items():
            assert np.array_equal(back.arrays()[name], value)
        assert result.figure().data


def test_trained_text_words_match_float64(text_model):
    """Issue #14's check on the model it is about: trained:text's neighbours (embedding and
    the residual stream after its last block) and analogies are the float64 computation, the
    analogies it is known for rank the expected word first, and a word its BPE does not have
    fails with the pieces named."""
    model = text_model
    for space in ["W_E", model.cfg.n_layers]:
        emb = vocab_at(model, space)
        for word in ["red", "river", "bank"]:
            wid = single_token_id(model, word)
            result = neighbours(model, word, space=space, k=10)
            ids, cos = numpy_top(emb, emb[wid], [wid, *special_ids(model)], 10)
            assert result.token_ids.tolist() == ids.tolist(), (space, word)
            assert np.allclose(result.cosines, cos[ids], atol=1e-4)
    emb = vocab_at(model, "W_E")
    # measured: both rank 1 (larger - large + small -> smaller; women - woman + man -> men)
    for a, b, c, expected in [
        ("larger", "large", "small", "smaller"),
        ("women", "woman", "man", "men"),
    ]:
        result = analogy(model, a, b, c, expected=expected, k=5)
        ia, ib, ic, ie = (single_token_id(model, w) for w in (a, b, c, expected))
        ids, cos = numpy_top(
            emb, emb[ia] - emb[ib] + emb[ic], sorted({ia, ib, ic, *special_ids(model)}), 5
        )
        assert result.tokens == [token_str(model, int(i)) for i in ids]
        assert np.allclose(result.cosines, cos[ids], atol=1e-4)
        assert result.expected_rank == 1 + int((cos > cos[ie]).sum()) == 1
    with pytest.raises(TokenizationError, match=r"'xyzzyplugh'.*7 tokens"):
        neighbours(model, "xyzzyplugh")
