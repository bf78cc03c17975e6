"""Model loading: every source through one entry point, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from interp.core.errors import ModelNotFoundError, PromptError, TokenizationError
from interp.core.models import (
    load,
    model_sources,
    parse_reference_name,
    record_of,
    reference_name,
)
from interp.core.tokens import single_token_id, to_tokens


@pytest.fixture(scope="module")
def tiny_gpt2_dir(tmp_path_factory):
    """A tiny random GPT-2 (4 layers x 2 heads) saved with save_pretrained, with a tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.reference.tokenizer import build_tokenizer, vocabulary

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocabulary()), n_positions=32, n_embd=48, n_layer=4, n_head=2, n_inner=96
    )
    model = GPT2LMHeadModel(config).eval()
    directory = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(directory)
    build_tokenizer().save_pretrained(directory)
    return directory, model


def test_local_directory_loads_with_right_record(tiny_gpt2_dir):
    directory, hf_model = tiny_gpt2_dir
    model = load(str(directory), device="cpu")
    rec = record_of(model)
    assert (rec.source, rec.n_layers, rec.n_heads, rec.d_model, rec.d_head, rec.d_mlp) == (
        "local", 4, 2, 48, 24, 96,
    )  # fmt: skip
    assert (rec.n_ctx, rec.d_vocab, rec.device, rec.dtype) == (
        32,
        hf_model.config.vocab_size,
        "cpu",
        "float32",
    )
    assert rec.weight_processing["fold_ln"] is True and rec.reference is None
    tokens = to_tokens(model, "When Mary and John went to the store")
    with torch.no_grad():
        ours = model(tokens)[0, -1]
        theirs = hf_model(tokens).logits[0, -1]
    # weight processing centres the unembedding: logits agree up to a constant
    assert torch.allclose(ours - ours.mean(), theirs - theirs.mean(), atol=1e-4)


def test_unprocessed_weights_are_recorded(tiny_gpt2_dir):
    model = load(str(tiny_gpt2_dir[0]), device="cpu", process_weights=False)
    assert not any(record_of(model).weight_processing.values())


def test_hub_model_fails_fast_and_clearly_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as err:
        load("gpt2-small", device="cpu")
    assert time.perf_counter() - start < 15, "must not hang on hub retries"
    message = str(err.value)
    assert "cannot be reached" in message and "save_pretrained" in message
    assert "reference:ioi" in message


def test_models_dir_serves_hub_names(tiny_gpt2_dir, monkeypatch, tmp_path):
    import shutil

    shutil.copytree(tiny_gpt2_dir[0], tmp_path / "gpt2-small")
    monkeypatch.setenv("INTERP_MODELS_DIR", str(tmp_path))
    model = load("gpt2-small", device="cpu")
    assert record_of(model).source == "hub" and record_of(model).n_layers == 4
    # the alias finds the same folder, and `interp models` says where it is
    assert record_of(load("gpt2", device="cpu")).location == str(tmp_path / "gpt2-small")
    rows = {r["model"].split()[0]: r for r in model_sources()}
    assert rows["gpt2"]["available"] == rows["gpt2-small"]["available"] == "yes"
    assert str(tmp_path / "gpt2-small") in rows["gpt2"]["source"]


def test_load_leaves_the_bridge_unmutated_and_the_record_goes_with_it(tiny_gpt2_dir):
    import gc
    import weakref

    from transformer_lens.model_bridge import TransformerBridge

    from interp.core.hooks import quiet_transformers
    from interp.core.models import boot_seconds
    from interp.core.resume import Resumer

    directory = str(tiny_gpt2_dir[0])
    model = load(directory, device="cpu")
    with quiet_transformers():
        plain = TransformerBridge.boot_transformers(directory, device="cpu")
    plain.enable_compatibility_mode(disable_warnings=True)
    assert Resumer.of(model) is not None  # the resumer is built (and cached) too
    assert set(vars(model)) == set(vars(plain))  # no attribute of ours on the bridge
    assert not [k for k in vars(model) if "interp" in k]
    assert record_of(model).n_layers == 4 and boot_seconds(model) > 0
    with pytest.raises(ModelNotFoundError, match="not loaded with interp"):
        record_of(plain)  # a bridge booted directly has no record
    with pytest.raises(ModelNotFoundError, match="not loaded with interp"):
        record_of(object())  # nor does anything else
    from interp.core import models, resume

    gone = weakref.ref(model)
    entries = len(models._LOADED), len(resume._RESUMERS)
    del model
    gc.collect()
    assert gone() is None  # neither the record table nor the resumer cache keeps it alive
    assert (len(models._LOADED), len(resume._RESUMERS)) == (entries[0] - 1, entries[1] - 1)


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("gpt5-huge", "unknown model"),
        ("reference:nope", "unknown reference model"),
        ("./no/such/dir", "does not exist"),
    ],
)
def test_bad_names(name, fragment):
    with pytest.raises(ModelNotFoundError, match=fragment):
        load(name, device="cpu")


def test_non_gpt2_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelNotFoundError, match="GPT-2-family"):
        load(str(tmp_path), device="cpu")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelNotFoundError, match="no weights"):
        load(str(tmp_path), device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        load(str(empty), device="cpu")


def test_float16_refused_on_cpu_bfloat16_accepted():
    from interp.core.errors import InterpError
    from interp.core.models import record_of

    with pytest.raises(InterpError, match="GPU"):
        load("reference:ioi", device="cpu", dtype="fp16")
    assert record_of(load("reference:ioi", device="cpu", dtype="bf16")).dtype == "bfloat16"


def test_reference_names_round_trip():
    name = reference_name("ioi", placement_seed=3)
    assert name == "reference:ioi?placement_seed=3"
    assert parse_reference_name(name) == ("ioi", {"placement_seed": 3})


def test_reference_model_reloads_from_disk(ioi_model):
    rec = record_of(ioi_model)
    assert rec.source == "reference" and rec.reference["kind"] == "ioi"
    assert rec.reference["placement"]["name_mover"] == [[6, 1], [6, 3]]
    again = load("reference:ioi", device=str(ioi_model.cfg.device))
    assert record_of(again).location == rec.location  # built once, then loaded from disk
    tokens = to_tokens(ioi_model, "When Mary and John went to the store , John gave a drink to")
    with torch.no_grad():
        assert torch.allclose(ioi_model(tokens), again(tokens))


def test_prompt_errors(ioi_model):
    with pytest.raises(PromptError, match="empty"):
        to_tokens(ioi_model, "   ")
    with pytest.raises(PromptError, match="context window is 64"):
        to_tokens(ioi_model, "the " * 80)
    with pytest.raises(TokenizationError, match="Zanzibar"):
        to_tokens(ioi_model, "When Zanzibar went to the store")
    with pytest.raises(TokenizationError, match="not in the vocabulary"):
        single_token_id(ioi_model, "Zanzibar")
    with pytest.raises(TokenizationError, match="2 tokens"):
        single_token_id(ioi_model, "Mary John")
    assert single_token_id(ioi_model, "Mary") == single_token_id(ioi_model, " Mary")


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); "
        "import interp, interp.results.store, interp.cli; "
        "dt = time.perf_counter() - t; "
        "print(dt, 'streamlit' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, has_streamlit, has_torch = out.stdout.split()
    assert has_streamlit == "False" and has_torch == "False"
    assert float(seconds) < 2.0


def test_cli_reports_errors_without_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "interp.cli", "show", "no-such-run"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: no run") and "Traceback" not in out.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "interp.cli", "models"], capture_output=True, text=True, check=True
    )
    assert "reference:ioi" in listing.stdout and "gpt2-medium" in listing.stdout


@pytest.mark.parametrize("kind, params", [("ioi", {"placement_seed": 2}), ("recall", {})])
def test_reference_builds_are_deterministic(kind, params):
    from interp.core.reference import build

    first, _, planted_a = build(kind, **params)
    second, _, planted_b = build(kind, **params)
    assert planted_a == planted_b
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
