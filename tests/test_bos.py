"""BOS handling is chosen at load time, recorded and followed everywhere: the same prompt with
and without BOS gives different logits (reference and trained models), the record says
which and goes into every stored run, tasks built without BOS have no BOS position and
their named positions still point at the names, and every script takes --no-bos."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

import interp
from interp.core.config import DeviceOptions, add_device_arguments, apply_device_options, parse
from interp.core.errors import InterpError
from interp.core.models import load, record_of
from interp.core.tokens import prepends_bos, to_tokens
from interp.tasks.ioi import ioi_from_prompt, ioi_task

DEVICE = os.environ.get("INTERP_TEST_DEVICE", "cpu")

PROMPT = "Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:"
IOI_PROMPT = "When Mary and John went to the store, John gave a drink to"


@pytest.fixture(scope="module")
def no_bos_ioi():
    return load("reference:ioi", device=DEVICE, prepend_bos=False)


@pytest.mark.parametrize("name", ["reference:recall", "trained:ioi"])
def test_bos_changes_the_logits_and_the_record_says_which(name, recall_model):
    with_bos = recall_model if name == "reference:recall" else load(name, device=DEVICE)
    without = load(name, device=DEVICE, prepend_bos=False)
    assert record_of(with_bos).prepend_bos is True and record_of(without).prepend_bos is False
    assert prepends_bos(with_bos) and not prepends_bos(without)
    a, b = to_tokens(with_bos, PROMPT), to_tokens(without, PROMPT)
    bos = with_bos.tokenizer.bos_token_id
    assert a.shape[1] == b.shape[1] + 1 and a[0, 0] == bos and b[0, 0] != bos
    assert torch.equal(a[:, 1:], b)  # the same prompt, one BOS less
    # transformer-lens's own tokeniser agrees with the record
    assert torch.equal(without.to_tokens(PROMPT), b) and torch.equal(with_bos.to_tokens(PROMPT), a)
    # an explicit choice still wins over the model's
    assert torch.equal(to_tokens(without, PROMPT, prepend_bos=True), a)
    la, lb = with_bos(a)[0, -1], without(b)[0, -1]
    assert (la - lb).abs().max() > 0.1  # BOS changes the numbers (a sink for attention)
    assert record_of(without).to_dict()["prepend_bos"] is False


def test_ioi_tasks_without_bos_line_up(no_bos_ioi):
    task = ioi_task(no_bos_ioi, 20, seed=3)
    bos = no_bos_ioi.tokenizer.bos_token_id
    tok = task.clean_tokens
    assert not (tok[:, 0] == bos).any() and not (task.corrupted_tokens[:, 0] == bos).any()
    b = torch.arange(task.n_prompts)
    pos = task.positions
    assert torch.equal(tok[b, pos["IO"]], task.answer_ids)
    assert torch.equal(tok[b, pos["S1"]], task.wrong_ids)
    assert torch.equal(tok[b, pos["S2"]], task.wrong_ids)
    assert torch.equal(pos["S1+1"], pos["S1"] + 1)
    for i in range(task.n_prompts):  # END is the last real token, without BOS
        assert int(pos["END"][i]) == len(no_bos_ioi.to_tokens(task.prompts[i])[0]) - 1
    # with BOS every position is one later
    with_bos = ioi_task(load("reference:ioi", device=DEVICE), 20, seed=3)
    for key in ("IO", "S1", "S2", "END"):
        assert torch.equal(with_bos.positions[key], pos[key] + 1)
    # a sentence-initial name is position 0 when there is no BOS
    one = ioi_from_prompt(no_bos_ioi, "Mary and John went to the store. John gave a drink to")
    assert int(one.positions["IO"][0]) == 0 and one.clean_tokens[0, 0] == one.answer_ids[0]


def test_stored_runs_record_bos(no_bos_ioi, store):
    task = interp.ioi_task(no_bos_ioi, n_prompts=4)
    result = interp.patch(no_bos_ioi, task, "z")
    run = interp.save(result, model=no_bos_ioi, config={"activation": "z"}, store=store)
    assert store.get(run.run_id).model["prepend_bos"] is False
    lens = interp.logit_lens(no_bos_ioi, IOI_PROMPT)
    assert lens.str_tokens[0][0] != no_bos_ioi.tokenizer.bos_token  # no BOS row decoded


def test_options_on_every_script_and_command():
    from dataclasses import dataclass

    from interp.core.config import option

    @dataclass
    class Config(DeviceOptions):
        model: str = option("reference:ioi", "model")

    assert parse(Config, []).prepend_bos is True
    for flag in ("--no-bos", "--no-prepend-bos"):
        config = parse(Config, ["--device", "cpu", flag])
        assert config.prepend_bos is False
        assert apply_device_options(config) == {"device": "cpu", "dtype": "float32",
                                                "prepend_bos": False}  # fmt: skip
    assert parse(Config, ["--no-bos", "--bos"]).prepend_bos is True
    parser = add_device_arguments(argparse.ArgumentParser())
    assert parser.parse_args([]).prepend_bos is True
    assert parser.parse_args(["--no-bos"]).prepend_bos is False
    # a namespace without the option loads as before (BOS prepended)
    assert "prepend_bos" not in apply_device_options(argparse.Namespace(device="cpu"))
    # a clear error (the run-time type checks of the tests may answer first)
    with pytest.raises((InterpError, TypeError), match="prepend_bos"):
        load("reference:ioi", device="cpu", prepend_bos="no")  # type: ignore[arg-type]
