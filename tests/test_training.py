"""Training from scratch (interp.training): determinism, resumption, checkpoints, and the
shipped ``trained:ioi`` model's held-out IOI performance (read from the repository, no
training)."""

from __future__ import annotations

import pytest
import torch

from interp.core.errors import InterpError, ModelNotFoundError
from interp.training import Recipe, get_recipe, train
from interp.training.data import IGNORE, IOISplit, TrainingData
from interp.training.loop import default_tokenizer

TINY = get_recipe("tiny", steps=6, checkpoint_every=4, eval_every=3, eval_prompts=8)


def _weights(directory) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return train(TINY, tmp_path_factory.mktemp("a"), show_progress=False)


def test_same_seed_same_weights_other_seed_differs(reference_run, tmp_path):
    again = train(TINY, tmp_path / "b", show_progress=False)
    assert _same(_weights(reference_run.final_dir), _weights(again.final_dir))
    other = train(TINY, tmp_path / "c", seed=1, show_progress=False)
    assert not _same(_weights(reference_run.final_dir), _weights(other.final_dir))
    # training changed the weights (the run did something)
    step0 = dict(reference_run.checkpoints)[0]
    assert not _same(_weights(step0), _weights(reference_run.final_dir))
    assert reference_run.history[-1]["loss"] < 7.0  # < ln(968) = 6.88 + slack, from ~6.9


def test_interrupted_and_resumed_is_bit_identical(reference_run, tmp_path):
    out = tmp_path / "run"

    def stop(step, metrics):
        if step == 5:  # not a checkpoint step: the interrupted/ state is what resumes
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TINY, out, show_progress=False, callback=stop)
    assert (out / "interrupted" / "trainer_state.pt").exists()
    assert not (out / "final").exists()
    resumed = train(TINY, out, show_progress=False)
    assert _same(_weights(reference_run.final_dir), _weights(resumed.final_dir))
    assert not (out / "interrupted").exists()
    assert [s for s, _ in resumed.checkpoints] == [0, 4, 6]
    assert [h["step"] for h in resumed.history] == [h["step"] for h in reference_run.history]


def test_checkpoints_load_through_models_load(reference_run):
    from interp.core.models import load, record_of

    step, directory = reference_run.checkpoints[1]
    model = load(directory, device="cpu", process_weights=False)
    assert record_of(model).n_layers == 1 and record_of(model).source == "local"
    # the bridge computes the same logits as the Hugging Face model that was trained
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(directory).eval()
    tokens = TrainingData(TINY, default_tokenizer()).batch(0)[0][:2]
    with torch.no_grad():
        assert torch.allclose(model(tokens), hf(tokens).logits, atol=1e-4)


def test_resume_refuses_another_recipe(reference_run):
    with pytest.raises(InterpError, match="different recipe"):
        train(TINY.replace(lr=3e-3), reference_run.out_dir, show_progress=False)
    with pytest.raises(InterpError, match="unknown recipe"):
        get_recipe("nope")


def test_split_holds_out_pairs_and_templates_but_no_name():
    split = IOISplit.from_recipe(get_recipe("ioi"))
    data = TrainingData(get_recipe("ioi", text_fraction=0.0), default_tokenizer())
    seen_pairs, seen_names = set(), set()
    for step in range(4):
        rng_rows = data.rows(step)
        assert len(rng_rows) == 64
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(3000):
        e = split.example(rng, split.train_templates, "train")
        seen_pairs.add(frozenset((e.io, e.s)))
        seen_names |= {e.io, e.s}
        assert e.template % 15 not in split.heldout_templates
    assert not seen_pairs & split.heldout_pairs
    assert seen_names == set(split.names)  # every name is seen in training
    sets = split.eval_sets(50)
    assert all(frozenset((e.io, e.s)) in split.heldout_pairs for e in sets["pairs"])
    assert all(e.template % 15 in split.heldout_templates for e in sets["templates"])


def test_text_mixing_masks_unknown_targets(tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_text(
        "the dog ran to the house .\n\nthe zyzzyva of the qwxv is red .\n\n"
        "gibberish wordz nowhere inn vocabulary\n"
    )
    recipe = get_recipe("tiny", text_fraction=1.0, corpus=str(corpus), min_known=0.7)
    data = TrainingData(recipe, default_tokenizer())
    assert len(data.documents) == 2  # the third line is mostly unknown words: dropped
    tokens, labels = data.batch(0)
    unk = default_tokenizer().unk_token_id
    assert (tokens == unk).any()  # unknown words stay in the input ...
    assert not (labels == unk).any() and (labels == IGNORE).any()  # ... never as targets


def test_trained_ioi_generalises_to_held_out_pairs_and_templates():
    from interp.core.models import load
    from interp.core.trained import training_record
    from interp.training.evaluate import ioi_metrics

    model = load("trained:ioi", device="cpu")
    record = training_record("ioi")
    recipe = Recipe.from_dict(record["recipe"])
    split = IOISplit.from_recipe(recipe)
    assert sorted(sorted(p) for p in split.heldout_pairs) == record["heldout_pairs"]
    sets = split.eval_sets(200, seed=11)  # other prompts than the training-time evaluation
    for name in ("pairs", "templates", "both"):
        m = ioi_metrics(lambda t: model(t), model.tokenizer, sets[name])
        assert m["io_over_s"] >= 0.95, (name, m)
        assert m["logit_diff"] >= 3.0, (name, m)


def test_unknown_trained_model_is_a_clear_error():
    from interp.core.models import load

    with pytest.raises(ModelNotFoundError, match="unknown trained model"):
        load("trained:nope")


def test_circuit_forms_at_the_jump_in_the_shipped_checkpoints():
    """Before the phase change no head passes the name-mover test; after it at least one."""
    from interp.core.trained import checkpoints, locate, training_record
    from interp.studies.formation import circuit_formation

    shipped = checkpoints("ioi")
    assert len(shipped) >= 2
    final_step = training_record("ioi")["step"]
    result = circuit_formation([*shipped, (final_step, locate("ioi"))], n_prompts=24)
    before, after = 0, len(result.steps) - 2  # the first shipped checkpoint, the last one
    assert result.io_over_s[before] < 0.7 and result.io_over_s[after] >= 0.95
    movers = result.name_movers()
    assert movers[before] == []
    assert len(movers[after]) >= 1 and len(movers[-1]) >= 1
    assert result.jump_step() is not None and result.steps[before] < result.jump_step()
    fig = result.figure()
    assert len(fig.data) >= 3
