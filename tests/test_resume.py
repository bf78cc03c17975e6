"""The lean resumed forward (:mod:`interp.core.resume`) computes what the bridge computes: every
hook activation and the logits bit for bit on CPU; copies joining at different blocks, the
readout-only last block and the skipped shared prefix change nothing beyond float rounding;
sweeps through it equal sweeps through the bridge's hooked blocks; anything it does not
mirror falls back to the bridge."""

from __future__ import annotations

import pytest
import torch

from interp.core.hooks import head_name, resid_name
from interp.core.models import record_of
from interp.core.resume import BLOCK_HOOKS, Entry, Resumer
from interp.methods import patching as P
from interp.tasks.ioi import ioi_task

ROUNDING = 1e-5  # different matrix shapes, same arithmetic


def exact_on_cpu(model) -> float:
    return 0.0 if str(model.cfg.device) == "cpu" else ROUNDING


@pytest.fixture(scope="module")
def task(ioi_model):
    return ioi_task(ioi_model, 6, seed=1)  # mixed templates, right-padded


@pytest.fixture(scope="module")
def bridge_run(ioi_model, task):
    with torch.no_grad():
        return ioi_model.run_with_cache(task.clean_tokens)


def every_hook(model) -> set[str]:
    return {f"blocks.{layer}.{h}" for layer in range(model.cfg.n_layers) for h in BLOCK_HOOKS}


def test_full_forward_is_the_bridges(ioi_model, task, bridge_run):
    logits, cache = bridge_run
    resumer = Resumer.of(ioi_model)
    assert resumer is not None and Resumer.of(ioi_model) is resumer  # built once
    ours, got = resumer.run_with_cache(task.clean_tokens, every_hook(ioi_model))
    tol = exact_on_cpu(ioi_model)
    assert (ours - logits).abs().max() <= tol
    assert set(got) == every_hook(ioi_model)
    for name, act in got.items():
        assert act.shape == cache[name].shape, name
        assert (act - cache[name]).abs().max() <= tol * max(1.0, cache[name].abs().max()), name


def test_late_joins_equal_separate_runs(ioi_model, task, bridge_run):
    """Rows joining at blocks 2 (before attention) and 5 (at the head outputs) of one
    forward give what each start gives alone; an edit sees only the rows started."""
    logits, cache = bridge_run
    resumer = Resumer.of(ioi_model)
    seen = {}

    def edit(name, act):
        seen[name] = act.shape[0]
        return act * 1.5 if name == head_name(3, "z") else act

    names = {head_name(3, "z"), resid_name(6, "pre")}
    entries = {
        2: Entry(cache[resid_name(2)]),
        5: Entry(cache[resid_name(5)], cache[head_name(5, "z")]),
    }
    joint = resumer.run(entries, names, edit)
    batch = task.n_prompts
    assert seen == {head_name(3, "z"): batch, resid_name(6, "pre"): 2 * batch}
    alone = resumer.run({2: Entry(cache[resid_name(2)])}, names, edit)
    assert (joint[:batch] - alone).abs().max() < ROUNDING * 10
    assert (alone - logits).abs().max() > 0.1  # the edit did something
    # the unedited late rows are the base run, bit for bit on CPU
    assert (joint[batch:] - logits).abs().max() <= exact_on_cpu(ioi_model)


def test_readout_and_shared_prefix(ioi_model, task, bridge_run):
    logits, cache = bridge_run
    resumer = Resumer.of(ioi_model)
    rows = torch.arange(task.n_prompts, device=task.device)
    expected = logits[rows, task.end]
    at_end = resumer.run({3: Entry(cache[resid_name(3)])}, readout=task.end)
    assert at_end.shape == (task.n_prompts, 1, ioi_model.cfg.d_vocab)
    assert (at_end[:, 0] - expected).abs().max() < ROUNDING
    # only the logit difference's two columns of the unembedding
    columns = task.readout.columns()
    two = resumer.run({3: Entry(cache[resid_name(3)])}, readout=task.end, columns=columns)
    assert two.shape == (task.n_prompts, 1, 2)
    assert (two[:, 0] - expected.gather(1, columns)).abs().max() < ROUNDING
    diff = task.readout.from_columns(two[:, 0])
    assert (diff - task.logit_diff(logits)).abs().max() < ROUNDING
    assert diff.min() > 1.0  # the reference model prefers IO on every prompt
    skip = 4
    layers = range(ioi_model.cfg.n_layers)
    prefix = resumer.prefix(
        [cache[head_name(lyr, "k")] for lyr in layers],
        [cache[head_name(lyr, "v")] for lyr in layers],
        skip,
    )
    shapes = {}

    def edit(name, act):
        shapes[name] = tuple(act.shape)
        return act

    names = {head_name(4, "pattern"), head_name(4, "z")}
    tail = Entry(cache[resid_name(3)][:, skip:])
    out = resumer.run({3: tail}, names, edit, readout=task.end, prefix=prefix)
    assert (out[:, 0] - expected).abs().max() < ROUNDING
    n, pos = task.n_prompts, task.seq_len
    assert shapes[head_name(4, "z")] == (n, pos - skip, 4, 128)
    assert shapes[head_name(4, "pattern")] == (n, 4, pos - skip, pos)  # keys: every position


def test_sweeps_equal_the_bridge_path(ioi_model, task):
    """Resumed sweeps (ragged starts, head-output joins, readout-only last block, shared
    prefix) against the same sweeps run through the bridge's hooked blocks."""
    assert P.shared_prefix(task.clean_tokens, task.corrupted_tokens) >= 1
    spread = {}
    for what in ("z", "q", "pattern"):
        for direction in ("denoising", "noising"):
            names = {head_name(layer, what) for layer in range(ioi_model.cfg.n_layers)}
            runs = P.prepare_runs(ioi_model, task, direction, names)
            assert runs.base.shared >= 1 and len(runs.base.z) == ioi_model.cfg.n_layers
            patches = P.head_patches(ioi_model, what, P.all_heads(ioi_model), runs.source)
            lean = P.run_patches(ioi_model, runs.base, patches, 32, task.readout, chunk=7)
            bridge = P.run_patches(
                ioi_model, runs.base.tokens, patches, 32, task.logit_diff,
                skip_unpatched_layers=False,
            )  # fmt: skip
            assert (lean - bridge).abs().max() < 1e-4, (what, direction)
            assert (lean - bridge).abs().max() < (bridge.abs().max() * 1e-5) + 1e-5
            spread[what, direction] = float(bridge.std())
    # the sweeps measured something (denoising queries alone restore nothing here: in an
    # ABC prompt neither IO nor S is there to attend to)
    assert spread["z", "denoising"] > 0.5 and spread["z", "noising"] > 0.5
    assert spread["pattern", "noising"] > 0.5 and spread["q", "noising"] > 0.5


def test_ragged_groups():
    first = torch.tensor([7, 0, 3, 0, 7, 5, 3])
    groups = P.ragged_groups(first, n_layers=8, chunk=3)
    assert [starts for starts, _ in groups] == [[0, 0, 3], [3, 5], [7, 7]]
    assert sorted(torch.cat([idx for _, idx in groups]).tolist()) == list(range(7))
    for starts, idx in groups:
        assert first[idx].tolist() == starts


def test_falls_back_to_the_bridge(ioi_model, task):
    """A hook the resumer does not fire (the LayerNorm scale) sends the forward through the
    bridge: the patch still takes effect, and the result is the bridge's."""
    resumer = Resumer.of(ioi_model)
    hook = "blocks.4.ln1.hook_scale"
    assert not resumer.supports({hook}) and resumer.supports({head_name(4, "z")})
    base = P.BaseRun.of(ioi_model, task.clean_tokens)
    double = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=task.device)
    with torch.no_grad():
        _, cache = ioi_model.run_with_cache(task.clean_tokens, names_filter=lambda n: n == hook)
    patch = P.Patch(hook, cache[hook] * 2, double)
    logits, _ = P.patched_forward(ioi_model, base, [patch], 1, start_layer=4)

    def scale(act, hook):
        return act * 2

    with torch.no_grad():
        expected = ioi_model.run_with_hooks(task.clean_tokens, fwd_hooks=[(hook, scale)])
    assert (logits - expected).abs().max() < ROUNDING * 10
    with pytest.raises(Exception, match="non-decreasing"):
        P.patched_forward(ioi_model, base, [], 2, start_layer=[3, 1])


def test_only_gpt2_bridges_are_mirrored(ioi_model):
    class NotABridge:
        cfg = ioi_model.cfg

    assert Resumer.of(NotABridge()) is None
    ioi_model.cfg.use_attn_result = True  # per-head results: the bridge computes otherwise
    try:
        assert Resumer.of(ioi_model) is None
    finally:
        ioi_model.cfg.use_attn_result = False
    assert Resumer.of(ioi_model) is not None


def test_unprocessed_weights_too(ioi_model, task):
    """Without weight processing (LayerNorm weights unfolded, biases kept) the bridge's
    arithmetic differs; the resumer follows it."""
    from interp.core.hooks import quiet_transformers
    from interp.core.models import load

    with quiet_transformers():
        model = load("reference:ioi", device=str(ioi_model.cfg.device), process_weights=False)
    assert not any(record_of(model).weight_processing.values())
    with torch.no_grad():
        logits, cache = model.run_with_cache(task.clean_tokens.to(model.cfg.device))
    ours, got = Resumer.of(model).run_with_cache(
        task.clean_tokens.to(model.cfg.device), every_hook(model)
    )
    tol = exact_on_cpu(model)
    assert (ours - logits).abs().max() <= tol
    for name, act in got.items():
        assert (act - cache[name]).abs().max() <= tol * max(1.0, cache[name].abs().max()), name


def test_attached_hooks_send_everything_through_the_bridge(ioi_model, task):
    """A hook attached to the bridge (here a `with model.hooks(...)` that doubles a name
    mover's output) must take effect: the resumer, which would not run it, steps aside."""
    name = head_name(6, "z")

    def double(act, hook):
        return act * 2

    plain, _ = P.run_with_cache(ioi_model, task.clean_tokens, {name})
    with ioi_model.hooks(fwd_hooks=[(name, double)]):
        assert Resumer.of(ioi_model) is None
        hooked, cache = P.run_with_cache(ioi_model, task.clean_tokens, {name})
        with torch.no_grad():
            expected = ioi_model(task.clean_tokens)
    assert Resumer.of(ioi_model) is not None
    assert (hooked - expected).abs().max() <= exact_on_cpu(ioi_model)
    assert (hooked - plain).abs().max() > 0.1  # the hook did something
