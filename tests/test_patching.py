"""The batched activation patcher agrees with transformer-lens's own (one forward per patch)
``transformer_lens.patching`` functions to 1e-4, in both directions, for every named sweep;
chunking and starting copies late change nothing; the planted heads stand out; attribution
patching correlates with exact patching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError
from interp.core.models import record_of
from interp.methods import patching as P
from interp.methods.attribution import attribution_vs_exact
from interp.tasks.ioi import ioi_task

TOL = 1e-4
RESID, ATTN, MLP = "get_act_patch_resid_pre", "get_act_patch_attn_out", "get_act_patch_mlp_out"
HEAD = "get_act_patch_attn_head_"


@pytest.fixture(scope="module")
def task(ioi_model):
    # one short template (15 tokens), so absolute positions line up across prompts
    return ioi_task(ioi_model, 3, seed=0, templates=[5])


@pytest.fixture(scope="module")
def caches(ioi_model, task):
    with torch.no_grad():
        _, clean = ioi_model.run_with_cache(task.clean_tokens)
        _, corrupted = ioi_model.run_with_cache(task.corrupted_tokens)
    return {"clean": clean, "corrupted": corrupted}


def transformer_lens(ioi_model, task, caches, fn, direction):
    """transformer-lens's sweep: it always runs ``corrupted_tokens`` patched from a cache."""
    import transformer_lens.patching as tlp

    if direction == "denoising":
        base, cache = task.corrupted_tokens, caches["clean"]
    else:
        base, cache = task.clean_tokens, caches["corrupted"]
    with torch.no_grad():
        return getattr(tlp, fn)(ioi_model, base, cache, task.metric).cpu().numpy()


@pytest.mark.parametrize(
    "ours, theirs, direction",
    [
        (lambda m, t, d: P.patch_resid(m, t, "pre", direction=d), RESID, "denoising"),
        (lambda m, t, d: P.patch_block(m, t, "attn_out", direction=d), ATTN, "noising"),
        (lambda m, t, d: P.patch_block(m, t, "mlp_out", direction=d), MLP, "denoising"),
        (lambda m, t, d: P.patch_heads(m, t, "z", direction=d), HEAD + "out_all_pos", "denoising"),
        (lambda m, t, d: P.patch_heads(m, t, "z", direction=d), HEAD + "out_all_pos", "noising"),
        (lambda m, t, d: P.patch_heads(m, t, "q", direction=d), HEAD + "q_all_pos", "noising"),
        (lambda m, t, d: P.patch_heads(m, t, "k", direction=d), HEAD + "k_all_pos", "denoising"),
        (lambda m, t, d: P.patch_heads(m, t, "v", direction=d), HEAD + "v_all_pos", "noising"),
        (
            lambda m, t, d: P.patch_heads(m, t, "pattern", direction=d),
            HEAD + "pattern_all_pos",
            "denoising",
        ),
    ],
    ids=["resid_pre", "attn_out", "mlp_out", "z-denoise", "z-noise", "q", "k", "v", "pattern"],
)
def test_matches_transformer_lens(ioi_model, task, caches, ours, theirs, direction):
    result = ours(ioi_model, task, direction)
    expected = transformer_lens(ioi_model, task, caches, theirs, direction)
    assert result.values.shape == expected.shape
    assert np.abs(result.values - expected).max() < TOL
    assert result.direction == direction and result.n_prompts == 3


def test_by_position_matches_transformer_lens(ioi_model, task, caches):
    z = P.patch_heads(ioi_model, task, "z", by_position=True)  # [layer, pos, head]
    expected = transformer_lens(
        ioi_model, task, caches, "get_act_patch_attn_head_out_by_pos", "denoising"
    )
    assert z.axes == ["layer", "position", "head"]
    assert len(z.figure().data) == 4  # one layer x position panel per head
    assert np.abs(z.values - expected).max() < TOL
    # the pattern per destination position, noising, on two layers (TL's generic patcher
    # with its pattern setter; the full grid would be 480 more forwards)
    import pandas as pd
    import transformer_lens.patching as tlp

    pattern = P.patch_heads(ioi_model, task, "pattern", by_position=True, direction="noising")
    rows = [(lyr, h, p) for lyr in (3, 6) for h in range(4) for p in range(task.seq_len)]
    index = pd.DataFrame(rows, columns=["layer", "head_index", "dest_pos"])
    with torch.no_grad():
        expected = tlp.generic_activation_patch(
            ioi_model, task.clean_tokens, caches["corrupted"], task.metric,
            patch_setter=tlp.layer_head_pos_pattern_patch_setter, activation_name="pattern",
            index_df=index,
        ).cpu().numpy()  # fmt: skip
    ours = np.array([pattern.values[lyr, p, h] for lyr, h, p in rows])
    assert np.abs(ours - expected).max() < TOL
    assert np.abs(pattern.values[6] - pattern.values[6, -1:]).max() > 0.1  # not all equal


def test_chunking_and_late_start_change_nothing(ioi_model):
    task = ioi_task(ioi_model, 6, seed=3)  # mixed templates, padded
    runs = P.prepare_runs(ioi_model, task, "noising", {f"blocks.{i}.attn.hook_z" for i in range(8)})
    patches = P.head_patches(ioi_model, "z", P.all_heads(ioi_model), runs.source)
    fast = P.run_patches(ioi_model, runs.base, patches, 32, task.logit_diff)
    slow = P.run_patches(
        ioi_model, runs.base.tokens, patches, 32, task.logit_diff, chunk=5,
        skip_unpatched_layers=False,
    )  # fmt: skip
    assert fast.shape == (32, 6)
    assert (fast - slow).abs().max() < 1e-4
    # forwards: tiny batches share one forward from the earliest start, big ones start late
    first = torch.arange(8).repeat_interleave(4)
    assert len(P.plan_groups(first, 8, tokens_per_copy=15, chunk=64)) <= 2
    late = P.plan_groups(first, 8, tokens_per_copy=2000, chunk=64)
    assert [lyr for lyr, _ in late] == list(range(8))
    assert sorted(torch.cat([idx for _, idx in late]).tolist()) == list(range(32))
    assert len(P.plan_groups(first, 8, tokens_per_copy=15, chunk=10)) >= 4  # chunk bound


def test_named_positions_and_anchors(ioi_model):
    task = ioi_task(ioi_model, 10, seed=0)  # mixed templates: patch named positions
    names = ["IO", "S1", "S1+1", "S2", "END"]
    post = P.patch_resid(ioi_model, task, "post", positions=names)  # denoising
    assert post.labels["position"] == names
    # the final residual stream at END is the whole answer; at earlier positions nothing
    assert post.normalised[-1, 4] == pytest.approx(1.0, abs=1e-4)
    assert np.abs(post.normalised[-1, :4]).max() < 1e-4
    # noising S1+1 matters exactly between the previous-token heads (which write "S came
    # before me" there) and the induction heads (which read it): layers 2 and 3 here
    noise = P.patch_resid(ioi_model, task, "pre", positions=names, direction="noising")
    s1_next = noise.normalised[:, 2]
    placement = record_of(ioi_model).reference["placement"]
    first_pt = min(lyr for lyr, _ in placement["previous_token"])
    last_ind = max(lyr for lyr, _ in placement["induction"])
    for layer, value in enumerate(s1_next):
        if first_pt < layer <= last_ind:
            assert value < 0.5, layer
        else:
            assert value == pytest.approx(1.0, abs=0.01), layer
    with pytest.raises(InterpError, match="unknown positions"):
        P.patch_resid(ioi_model, task, positions=["S3"])
    with pytest.raises(InterpError, match="direction"):
        P.patch_heads(ioi_model, task, direction="sideways")
    with pytest.raises(InterpError, match="what must be"):
        P.patch_heads(ioi_model, task, "result")


def test_planted_heads_stand_out(ioi_model):
    task = ioi_task(ioi_model, 10, seed=0)
    placement = record_of(ioi_model).reference["placement"]
    denoise = P.patch_heads(ioi_model, task, "z")  # restoring one head from the clean run
    for layer, head in placement["name_mover"]:
        assert denoise.normalised[layer, head] > 0.5  # a name mover alone restores most
    layer, head = placement["negative_name_mover"][0]
    assert denoise.normalised[layer, head] < -0.2
    noise = P.patch_heads(ioi_model, task, "z", direction="noising")
    role_of = {tuple(h): r for r, hs in placement.items() for h in hs}
    for (layer, head), value in np.ndenumerate(noise.normalised):
        if (layer, head) not in role_of:
            assert abs(value - 1) < 0.02, (layer, head)  # inert heads: no effect
        elif role_of[(layer, head)] in ("previous_token", "s_inhibition", "name_mover"):
            assert value < 0.8, (layer, head)  # every upstream role matters when noised
    figure = noise.figure()
    assert figure.data[0].z.shape == (8, 4)


def test_attribution_patching_tracks_exact(ioi_model):
    task = ioi_task(ioi_model, 10, seed=0)
    result = attribution_vs_exact(ioi_model, task)  # denoising, as in ARENA
    assert result.correlation >= 0.9
    assert result.attribution_by_position.shape == (8, task.seq_len, 4)
    assert np.allclose(result.attribution_by_position.sum(1), result.attribution, atol=1e-5)
    assert all(p.grad is None for p in ioi_model.parameters())  # no side effects
    assert len(result.figure().data[0].x) == 32
    # noising is where the linear approximation is known to fail (saturated attention)
    noising = attribution_vs_exact(ioi_model, task, "noising")
    assert noising.correlation < result.correlation
