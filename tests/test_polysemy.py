"""Polysemy and homonymy (interp.methods.polysemy, interp.tasks.senses): the shipped sense
sets are well formed; the pair statistics agree with a direct computation; on the shipped
trained:text the last layer separates senses and the embedding layer cannot."""

from __future__ import annotations

import numpy as np
import pytest

from interp.core.errors import InterpError
from interp.methods.polysemy import sense_similarity
from interp.methods.words import context_vectors
from interp.tasks.senses import HOMONYM, POLYSEME, SENSE_SETS, SenseSet, sense_set


def test_the_shipped_sense_sets_are_well_formed():
    kinds = [s.kind for s in SENSE_SETS]
    assert kinds.count(HOMONYM) >= 6 and kinds.count(POLYSEME) >= 6
    assert sense_set("bank").senses.keys() == {"river", "finance"}
    assert set(sense_set("magazine").senses) == {"publication", "publisher"}
    for s in SENSE_SETS:
        assert len(s.senses) >= 2
        for _, context in s.labelled():
            words = context.replace(",", " ").split()
            assert words.count(s.word) == 1 and words[0] != s.word, (s.word, context)
    with pytest.raises(InterpError, match="no shipped sense set"):
        sense_set("xyzzy")
    with pytest.raises(InterpError, match="two or more contexts"):
        SenseSet("bank", HOMONYM, {"a": ("", ("the bank",)), "b": ("", ("a bank", "my bank"))})


def test_the_targets_are_one_gpt2_token():
    from interp.core.gpt2_tokenizer import gpt2_tokenizer_dir, have_gpt2_tokenizer

    if not have_gpt2_tokenizer():
        pytest.skip("GPT-2's tokenizer is not cached (python -m interp.core.gpt2_tokenizer fetch)")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gpt2_tokenizer_dir()))
    assert all(len(tok.tokenize(" " + s.word)) == 1 for s in SENSE_SETS)


#: a set the word-level vocabulary of trained:ioi can read
SMALL = SenseSet(
    "bank",
    HOMONYM,
    {
        "river": ("", ("the boat went to the bank of the river", "the dog sat on the bank")),
        "money": ("", ("they put the money in the bank", "she took money from the bank")),
    },
)


def test_pair_means_agree_with_a_direct_computation():
    from interp.core.models import load

    model = load("trained:ioi", device="cpu")
    result = sense_similarity(model, [SMALL])
    layers = list(range(model.cfg.n_layers + 1))
    contexts = [c for _, c in SMALL.labelled()]
    v = context_vectors(model, contexts, ["bank"] * 4, layers).double().numpy()
    unit = v / np.linalg.norm(v, axis=-1, keepdims=True)
    cos = np.einsum("ild,jld->lij", unit, unit)  # [layer, context, context]
    same = (cos[:, 0, 1] + cos[:, 2, 3]) / 2
    different = (cos[:, 0, 2] + cos[:, 0, 3] + cos[:, 1, 2] + cos[:, 1, 3]) / 4
    assert np.allclose(result.same_mean, same, atol=1e-6)
    assert np.allclose(result.different_mean, different, atol=1e-6)
    assert (result.n_same_pairs, result.n_different_pairs) == (2, 4)
    assert result.gap()[0] == pytest.approx(0.0, abs=1e-6)  # one token vector at layer 0
    assert len(result.rows()) == len(result.layers) == model.cfg.n_layers + 1
    assert len(result.figure().data) == 4  # the means, and the homonyms' two curves

    # the shipped sets use words the word-level vocabulary lacks: skipped, with the reason
    with pytest.raises(InterpError, match="no sense set could be read.*canoe"):
        sense_similarity(model, SENSE_SETS[:1])
    mixed = sense_similarity(model, [SMALL, SENSE_SETS[1]])
    assert mixed.words == ["bank"] and mixed.skipped[0]["word"] == "bat"


def test_trained_text_separates_senses_in_its_last_layer(text_model):
    result = sense_similarity(text_model)
    gap = result.gap()
    assert not result.skipped
    assert abs(gap[0]) < 1e-6  # the embedding layer: the same token vector in every context
    assert result.same_mean[-1] > result.different_mean[-1]
    centered = sense_similarity(text_model, center=True)
    assert abs(centered.gap()[0]) < 1e-6 and centered.gap()[-1] > 0
    print("\n".join(f"{r}" for r in result.rows()))
    print("\n".join(f"{r}" for r in centered.rows()))


def test_a_split_word_is_read_at_its_last_token(text_model):
    """magazine is several tokens for trained:text's BPE: its vector is the last piece's."""
    pieces = text_model.tokenizer(" magazine", add_special_tokens=False)["input_ids"]
    if len(pieces) == 1:
        pytest.skip("magazine is one token for this tokenizer")
    context = "she read a magazine on the train"
    tokens = text_model.to_tokens(context)[0].tolist()
    end = next(i for i in range(len(tokens)) if tokens[i : i + len(pieces)] == pieces)
    got = context_vectors(text_model, [context], ["magazine"], [0])[0, 0]
    assert np.allclose(got.numpy(), text_model.W_E[tokens[end + len(pieces) - 1]].detach().numpy())
    result = sense_similarity(text_model, [sense_set("magazine")])
    assert result.split[0] == text_model.tokenizer.convert_ids_to_tokens(pieces)
