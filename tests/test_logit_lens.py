"""The logit lens: exact at the last layer, equal to a hand computation on a tiny model (final
LN recomputed per layer, not the cached scale), consistent ranks, figures, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError, TokenizationError
from interp.methods.logit_lens import (
    collect,
    decode,
    format_table,
    logit_lens,
    stream_names,
)

POLAND = "Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:"
CHINA = "Q: What is the capital of France? A: Paris Q: What is the capital of China? A:"


def test_last_layer_equals_the_models_logits(recall_model):
    model = recall_model
    tokens = model.to_tokens([POLAND, CHINA])
    with torch.no_grad():
        logits = model(tokens)
    last = f"L{model.cfg.n_layers - 1}.resid_post"
    resid = collect(model, tokens, [last])[0]
    assert torch.allclose(decode(model, resid), logits, atol=1e-4)
    result = logit_lens(model, [POLAND, CHINA], sites=["resid_post"], targets=["Warsaw", "Beijing"])
    probs = logits.softmax(-1).cpu()
    top_p, top_i = probs.topk(5, dim=-1)
    assert np.allclose(result.top_probs[:, -1], top_p.numpy(), atol=1e-5)
    # each listed token has, under the model, the probability the lens gives it: a valid
    # top-k (GPU reductions may order exact ties differently; on CPU the ids are identical)
    lens_ids = result.top_ids[:, -1]
    model_p = np.take_along_axis(probs.numpy(), lens_ids, axis=-1)
    assert np.allclose(model_p, result.top_probs[:, -1], atol=1e-5)
    if torch.device(model.cfg.device).type == "cpu":
        assert np.array_equal(lens_ids, top_i.numpy())
    ids = result.target_ids
    assert np.allclose(result.target_logits[:, -1], logits[..., ids].cpu().numpy(), atol=1e-4)
    assert result.weight_processing["fold_ln"] is True
    assert "recomputed" in result.ln_treatment


def _tiny_model(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.reference.tokenizer import build_tokenizer, vocabulary

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocabulary()),
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=0.3,  # peaked next-token distributions
        bos_token_id=0,
        eos_token_id=0,
    )
    hf = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # a final LN with a real gain and bias, so folding matters
        hf.transformer.ln_f.weight.copy_(1 + 0.5 * torch.randn(32))
        hf.transformer.ln_f.bias.copy_(0.3 * torch.randn(32))
    hf.save_pretrained(tmp_path)
    build_tokenizer().save_pretrained(tmp_path)
    return hf


@pytest.mark.parametrize("process_weights", [True, False])
def test_matches_a_hand_computation_on_a_tiny_model(tmp_path, process_weights):
    from interp.core.models import load

    hf = _tiny_model(tmp_path)
    model = load(str(tmp_path), device="cpu", process_weights=process_weights)
    prompt = "When Mary and John went to the store"
    result = logit_lens(model, prompt, sites=["embed", "resid_post"], targets=["Mary", "store"])
    tokens = model.to_tokens(prompt)
    with torch.no_grad():
        out = hf(tokens, output_hidden_states=True)
        # by hand: layer 0's residual through ln_f (its own statistics) and the tied unembedding
        hand = hf.transformer.ln_f(out.hidden_states[1]) @ hf.transformer.wte.weight.T
        # the TransformerLens #1076 bug: the final layer's cached LN scale reused at layer 0
        final = out.hidden_states[2]  # block 1's output (before ln_f)
        h0 = out.hidden_states[1] - out.hidden_states[1].mean(-1, keepdim=True)
        scale = (
            (final - final.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()
        )
        ln = hf.transformer.ln_f
        buggy = (h0 / scale * ln.weight + ln.bias) @ hf.transformer.wte.weight.T
    row = result.streams.index("L0.resid_post")
    hand_p = hand.softmax(-1)[0]
    got = result.top_probs[0, row]  # [pos, k]
    want = hand_p.gather(-1, torch.as_tensor(result.top_ids[0, row])).numpy()
    assert np.allclose(got, want, atol=1e-5)
    assert np.array_equal(result.top_ids[0, row, :, 0], hand_p.argmax(-1).numpy())
    # the test can fail: the cached-scale computation is far off
    assert (buggy.log_softmax(-1) - hand.log_softmax(-1)).abs().max() > 0.1
    ids = torch.as_tensor(result.target_ids)
    assert np.allclose(result.target_probs[0, row], hand_p[:, ids].numpy(), atol=1e-5)
    if not process_weights:  # no centring of the unembedding: logits equal too
        assert np.allclose(result.target_logits[0, row], hand[0][:, ids].numpy(), atol=1e-4)
    assert result.weight_processing["fold_ln"] is process_weights


def test_ranks_streams_and_sublayers_are_consistent(recall_model):
    model = recall_model
    sites = ["embed", "resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"]
    result = logit_lens(model, POLAND, sites=sites, targets=["Warsaw", "Poland"], k=3)
    n = model.cfg.n_layers
    assert result.streams == stream_names(n, sites)
    assert len(result.streams) == 1 + 5 * n
    assert result.streams[:4] == ["embed", "L0.resid_pre", "L0.attn_out", "L0.resid_mid"]
    # rank 1 exactly where the target is the top-1 token (where the top-1 is not a tie: inert
    # sublayers output zero, which decodes to a flat distribution)
    clear = result.top_probs[..., 0] > result.top_probs[..., 1] + 1e-6
    assert clear.mean() > 0.5
    for t, tid in enumerate(result.target_ids):
        is_top = result.top_ids[..., 0] == tid
        assert np.array_equal((result.target_ranks[..., t] == 1)[clear], is_top[clear])
    # FFN 5's output alone promotes capitals in general (the planted o-vector is the same for
    # every country), not Warsaw in particular; added to the stream it makes Warsaw top-1
    from interp.core.reference.vocab import CAPITALS

    o_row = result.streams.index("L5.mlp_out")
    capitals = {a for _, a in CAPITALS}
    assert all(result.top_tokens(rank=j)[o_row][-1].strip() in capitals for j in range(3))
    assert result.first_stream("Poland") == "L1.attn_out"  # the mover head's output
    assert result.first_stream("Warsaw") == "L5.resid_post"
    # the vectors decoded are the residual stream's: mid + mlp_out = post
    tokens = model.to_tokens(POLAND)
    v = collect(model, tokens, ["L3.resid_mid", "L3.mlp_out", "L3.resid_post"])
    assert torch.allclose(v[0] + v[1], v[2], atol=1e-4)


def test_result_round_trip_and_figures(recall_model, store):
    from interp.results.base import load_result, save

    result = logit_lens(recall_model, POLAND, targets=["Warsaw", "Poland"], positions=[-1, 5])
    assert result.positions == [23, 5]
    run = save(result, model=recall_model, config={"prompt": POLAND}, store=store)
    back = load_result(run.run_id, store=store)
    assert back.streams == result.streams
    assert np.array_equal(back.target_ranks, result.target_ranks)
    heat = back.figure()
    assert heat.data[0].text[-1][0].strip() == "Warsaw"  # last stream, position 23
    traj = back.trajectory_figure(metric="rank")
    assert [tr.name for tr in traj.data] == ["'Warsaw'", "'Poland'"]
    assert list(traj.data[0].y)[-1] == 1
    table = format_table(back)
    assert "L7.resid_post" in table and "'Warsaw' 0.9" in table


def test_clear_errors(recall_model):
    with pytest.raises(InterpError, match="unknown logit-lens site"):
        logit_lens(recall_model, POLAND, sites=["resid_middle"])
    with pytest.raises(TokenizationError, match="Mexico"):
        logit_lens(recall_model, POLAND, targets=["Mexico"])
    with pytest.raises(InterpError, match="outside the prompt"):
        logit_lens(recall_model, POLAND, positions=[99])
    result = logit_lens(recall_model, POLAND, positions=[-1])
    with pytest.raises(InterpError, match="not decoded"):
        result.first_stream("Poland", position=3)


def test_cli_prints_the_table(capsys):
    from interp.cli import main
    from interp.commands.lens import SITES as CLI_SITES
    from interp.methods.logit_lens import SITES

    assert CLI_SITES == ("embed", *SITES)

    code = main(
        [
            "lens",
            POLAND,
            "--model",
            "reference:recall",
            "--targets",
            " Warsaw",
            " Poland",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("L", "embed"))}
    assert "'Poland'" in rows["L1.resid_post"].split()[1]
    assert "'Warsaw'" in rows["L5.resid_post"].split()[1]
    assert "#1" in rows["L5.resid_post"]
    code = main(["lens", "I like the coffee", "--model", "reference:recall", "--targets", "Mexico"])
    assert code == 2
    assert "Mexico" in capsys.readouterr().err
