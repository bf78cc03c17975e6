"""The public API (``import interp``) as a researcher uses it: their own prompts through
``Task.from_prompts``, a custom metric callable, patching, ablation and the logit lens, each
checked against a direct computation with transformer-lens hooks to 1e-5; and the README's
example, run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import interp

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5
CLEAN = [
    "When Mary and John went to the store, John gave a drink to",
    "When Tom and Anna went to the park, Anna gave a book to",
    "Then, Sarah and David went to the school. Sarah gave a ring to",
]
CORRUPTED = [
    "When Alice and Bob went to the store, Kate gave a drink to",
    "When Paul and Lisa went to the park, Mark gave a book to",
    "Then, Peter and Rachel went to the school. Chris gave a ring to",
]
ANSWERS, WRONG = ["Mary", "Tom", "David"], ["John", "Anna", "Sarah"]


def margin(logits: torch.Tensor, task: interp.Task) -> torch.Tensor:
    """A researcher's metric: the answer's logit above the mean logit."""
    return logits.gather(1, task.answer_ids[:, None].to(logits.device))[:, 0] - logits.mean(-1)


@pytest.fixture(scope="module")
def task(ioi_model) -> interp.Task:
    return interp.Task.from_prompts(
        ioi_model, clean=CLEAN, corrupted=CORRUPTED, answers=ANSWERS, wrong=WRONG
    )


def at_end(logits: torch.Tensor, task: interp.Task) -> torch.Tensor:
    return logits[torch.arange(task.n_prompts), task.end]


def direct_metric(logits: torch.Tensor, task: interp.Task, metric, clean_end=None) -> float:
    final = at_end(logits, task)
    if metric == "logit_diff":
        rows = torch.arange(task.n_prompts)
        return float((final[rows, task.answer_ids] - final[rows, task.wrong_ids]).mean())
    if metric == "prob":
        return float(final.softmax(-1)[torch.arange(task.n_prompts), task.answer_ids].mean())
    if metric == "kl":
        logq, logp = clean_end.log_softmax(-1), final.log_softmax(-1)
        return float((logq.exp() * (logq - logp)).sum(-1).mean())
    return float(metric(final, task).mean())


def test_from_prompts(ioi_model, task):
    assert task.n_prompts == 3 and task.end.tolist() == [14, 14, 15]
    assert task.answer_ids.tolist() == [ioi_model.to_single_token(" " + n) for n in ANSWERS]
    with pytest.raises(interp.InterpError, match="tokens"):
        interp.Task.from_prompts(ioi_model, [CLEAN[0]], ["When Mary went to"], ["Mary"], ["John"])
    with pytest.raises(interp.InterpError, match="entries"):
        interp.Task.from_prompts(ioi_model, CLEAN, CORRUPTED[:2], ANSWERS, WRONG)
    with pytest.raises(interp.InterpError, match="single token|vocabulary"):
        interp.Task.from_prompts(ioi_model, CLEAN[:1], CORRUPTED[:1], ["Zanzibarian"], ["John"])


@pytest.mark.parametrize(
    "metric, direction",
    [("logit_diff", "denoising"), ("prob", "denoising"), ("kl", "denoising"),
     (margin, "denoising"), (margin, "noising")],
)  # fmt: skip
def test_head_patching_equals_hooks(ioi_model, task, metric, direction):
    result = interp.patch(ioi_model, task, "z", metric=metric, direction=direction)
    base, source = task.corrupted_tokens, task.clean_tokens
    if direction == "noising":
        base, source = source, base
    with torch.no_grad():
        clean_logits = ioi_model(task.clean_tokens)
        _, cache = ioi_model.run_with_cache(source, names_filter=lambda n: n.endswith("hook_z"))
        expected = torch.zeros(ioi_model.cfg.n_layers, ioi_model.cfg.n_heads)
        for layer in range(ioi_model.cfg.n_layers):
            for head in range(ioi_model.cfg.n_heads):

                def hook(z, hook, layer=layer, head=head):
                    z[:, :, head] = cache[f"blocks.{layer}.attn.hook_z"][:, :, head]
                    return z

                logits = ioi_model.run_with_hooks(
                    base, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)]
                )
                expected[layer, head] = direct_metric(
                    logits, task, metric, at_end(clean_logits, task)
                )
    assert result.values.shape == (ioi_model.cfg.n_layers, ioi_model.cfg.n_heads)
    assert result.metric == (metric if isinstance(metric, str) else "margin")
    assert abs(result.values - expected.numpy()).max() < TOL


def test_resid_patching_by_position_equals_hooks(ioi_model, task):
    result = interp.patch(ioi_model, task, "resid_pre", metric=margin)
    with torch.no_grad():
        _, cache = ioi_model.run_with_cache(
            task.clean_tokens, names_filter=lambda n: n.endswith("hook_resid_pre")
        )
        for layer in (0, 3, 7):
            for pos in (2, 9, 14):
                name = f"blocks.{layer}.hook_resid_pre"

                def hook(x, hook, name=name, pos=pos):
                    x[:, pos] = cache[name][:, pos]
                    return x

                logits = ioi_model.run_with_hooks(task.corrupted_tokens, fwd_hooks=[(name, hook)])
                expected = direct_metric(logits, task, margin)
                assert abs(result.values[layer, pos] - expected) < TOL


def test_ablation_and_lens_equal_hooks(ioi_model, task):
    ablated = interp.ablate(ioi_model, task, ["L6H1", "6.3"], method="mean", metric=margin)
    with torch.no_grad():
        _, cache = ioi_model.run_with_cache(
            task.corrupted_tokens, names_filter="blocks.6.attn.hook_z"
        )
        mean = task.mean_by_group(cache["blocks.6.attn.hook_z"])

        def hook(z, hook):
            z[:, :, [1, 3]] = mean[:, :, [1, 3]]
            return z

        logits = ioi_model.run_with_hooks(
            task.clean_tokens, fwd_hooks=[("blocks.6.attn.hook_z", hook)]
        )
        before = direct_metric(ioi_model(task.clean_tokens), task, margin)
    assert ablated.components == ["L6H1", "L6H3"]
    assert abs(ablated.after - direct_metric(logits, task, margin)) < TOL
    assert abs(ablated.before - before) < TOL

    lens = interp.logit_lens(ioi_model, CLEAN[0], targets=[" Mary"])
    with torch.no_grad():
        logits, cache = ioi_model.run_with_cache(CLEAN[0])
    last = lens.streams.index(f"L{ioi_model.cfg.n_layers - 1}.resid_post")
    probs = logits[0, -1].softmax(-1)
    assert abs(lens.target_probs[0, last, -1, 0] - probs[task.answer_ids[0]].item()) < TOL
    # a middle layer: the final LayerNorm recomputed on that layer's residual stream
    resid = cache["blocks.4.hook_resid_post"][0, -1]
    centred = resid - resid.mean()
    normed = centred / (centred.pow(2).mean() + ioi_model.cfg.eps).sqrt()
    direct = (normed @ ioi_model.W_U + ioi_model.b_U).softmax(-1)
    middle = lens.streams.index("L4.resid_post")
    assert abs(lens.target_probs[0, middle, -1, 0] - direct[task.answer_ids[0]].item()) < TOL


def test_bad_metric(ioi_model, task):
    with pytest.raises(interp.InterpError, match="unknown metric"):
        interp.patch(ioi_model, task, "z", metric="accuracy")
    with pytest.raises(interp.InterpError, match="one number per prompt"):
        interp.patch(ioi_model, task, "z", metric=lambda logits, task: logits.mean())
    with pytest.raises(interp.InterpError, match="unknown activation"):
        interp.patch(ioi_model, task, "hook_z")


def test_readme_example_runs(tmp_path, monkeypatch):
    """Every Python block of the README, run as written, each in a fresh namespace."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2, "the README must open with Python examples"
    monkeypatch.chdir(tmp_path)
    spaces: list[dict] = []
    for i, block in enumerate(blocks):
        spaces.append({})
        exec(compile(block, f"README.md, block {i + 1}", "exec"), spaces[-1])
    assert spaces[0]["heads"].values.shape == (8, 4)
    assert spaces[1]["formed"].formation_step() is not None
    off = spaces[1]["off"]  # measured: ' is' 0.142 -> 0.074 without L1N419
    assert off.target_prob_after < 0.75 * off.target_prob_before


def test_every_public_function_has_a_worked_example():
    """STYLE: a researcher learns the API from help(); tests/test_docstrings.py runs them."""
    import inspect

    missing = [
        name
        for name in interp.__all__
        if inspect.isfunction(getattr(interp, name))
        and ">>>" not in (inspect.getdoc(getattr(interp, name)) or "")
    ]
    assert not missing, f"public functions without an example in their docstring: {missing}"
