"""Word-vector arithmetic in the embedding: the seed analogies, accuracy over the relation
lists on reference:recall, and a control model without word2vec structure."""

from __future__ import annotations

import numpy as np
import pytest

from interp.core.errors import InterpError
from interp.core.models import record_of
from interp.core.tokens import single_token_id
from interp.methods.arithmetic import SEED_ANALOGIES, analogies, nearest
from interp.tasks.relations import analogy_questions


def all_questions(model):
    planted = record_of(model).reference
    questions = []
    for rel in planted["relations"].values():
        questions += analogy_questions([tuple(p) for p in rel["pairs"]])
    return questions


def test_seed_analogies(recall_model):
    result = analogies(recall_model, SEED_ANALOGIES)
    assert [p.strip() for p in result.predictions] == ["smallest", "Berlin"]
    assert result.accuracy == 1.0
    assert np.all(result.expected_rank == 1)


def test_accuracy_over_the_relation_lists(recall_model):
    questions = all_questions(recall_model)
    assert len(questions) == 40 + 24 + 20
    result = analogies(recall_model, questions, k=3)
    assert result.accuracy >= 0.9
    assert np.array_equal(result.correct, result.expected_rank == 1)
    # inputs are excluded, cosines come sorted and approximate (seeded noise): not exactly 1
    for q, top in zip(result.questions, result.top_tokens):
        assert not set(t.strip() for t in top) & set(q[:3])
    assert np.all(np.diff(result.top_cosines, axis=1) <= 0)
    assert 0.5 < result.expected_cosine.mean() < 0.99


def test_control_model_without_word2vec_structure(ioi_model):
    """reference:ioi embeds these words as unrelated random vectors: analogies fail there."""
    result = analogies(
        ioi_model,
        analogy_questions(
            [
                ("France", "Paris"),
                ("Germany", "Berlin"),
                ("Poland", "Warsaw"),
                ("China", "Beijing"),
                ("big", "biggest"),
                ("small", "smallest"),
            ]
        ),
    )
    assert result.accuracy <= 0.2


def test_nearest_excludes_and_dropped_questions(recall_model):
    model = recall_model
    paris = single_token_id(model, "Paris")
    _, ids, _ = nearest(model, model.W_E[[paris]].detach(), exclude=[[paris]], k=3)
    assert paris not in ids[0].tolist()
    result = analogies(model, [("Paris", "France", "Mexico", "Mexico City"), *SEED_ANALOGIES])
    assert len(result.questions) == 2 and len(result.dropped) == 1
    assert "Mexico" in result.dropped[0]["reason"]
    assert result.figure().data
    with pytest.raises(InterpError, match="a - b \\+ c"):
        analogies(model, [("Paris", "France", "Germany")])
    with pytest.raises(InterpError, match="no analogy"):
        analogies(model, [("Paris", "France", "Mexico", "Berlin")])
    with pytest.raises(InterpError, match="W_E or W_U"):
        analogies(model, SEED_ANALOGIES, matrix="W_Q")
