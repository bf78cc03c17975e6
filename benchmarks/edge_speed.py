"""Edge attribution speed: ours against transformer-lens's, and the batched exact sweep.

1. EAP, every edge at once: transformer-lens 4.3's ``attribution_patch(granularity="edge")``
   (one prompt at a time, a Python step per edge and position) against
   :func:`interp.methods.edges.eap_effects` (one batched forward with separate reader
   inputs, one backward, one contraction) on the same model and prompts, in the same
   (denoising) direction: the max |difference| of the scores and the time ratio.
2. Exact edge patching: the batched sweep (:func:`interp.methods.edges.exact_effects`,
   copies joining the resumed forward at the edge's block) against one full hooked forward
   per edge, timed on a sample of edges and extrapolated to the whole graph.

Models: ``reference:ioi`` and a GPT-2-small-shaped model with random weights (12 x 12,
d_model 768, the reference tokenizer's vocabulary), built in a temporary directory.
``python benchmarks/edge_speed.py [--prompts 2] [--repeats 1] [--skip-gpt2-shape]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), out


def gpt2_shaped(directory: str) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.models import load
    from interp.core.reference.tokenizer import build_tokenizer, vocabulary

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocabulary()), n_positions=64, n_embd=768, n_layer=12,
                        n_head=12)  # fmt: skip
    GPT2LMHeadModel(config).eval().save_pretrained(directory)
    build_tokenizer().save_pretrained(directory)
    return load(directory, device="cpu")


def one_forward_per_edge(model: Any, task: Any, runs: Any, edges: list[tuple[int, int]]) -> list:
    """The naive exact sweep: for each edge a full forward of the bridge with a hook that
    rebuilds the reader's input (clean input - clean output + corrupted output)."""
    from interp.core.hooks import head_name, mlp_name, resid_name

    g, f = runs.forward.graph, runs.forward
    delta = runs.delta  # [batch, pos, n_sources, d]
    resid = [runs.x_base]
    for layer in range(g.n_layers):
        mid = resid[-1] + runs.base.heads[layer].sum(2) + f.layers[layer].b_o
        resid += [mid, mid + runs.base.mlps[layer]]
    values = []
    for s, d in edges:
        layer = g.destination_layer(d)
        if d == g.logits_destination:
            src = resid[-1] + delta[:, :, s]
            hook, fn = resid_name(g.n_layers - 1, "post"), (lambda act, hook, x=src: x)
        elif d == g.mlp_destination(layer):
            lyr = f.layers[layer]
            src = lyr.mlp_in(lyr.ln2(resid[2 * layer + 1] + delta[:, :, s]))
            hook, fn = mlp_name(layer, "pre"), (lambda act, hook, x=src: x)
        else:
            within = d - layer * (3 * g.n_heads + 1)
            i, h = divmod(within, g.n_heads)
            lyr = f.layers[layer]
            x = lyr.ln1(resid[2 * layer] + delta[:, :, s])
            q = x @ lyr.w_qkv[i][h] + lyr.b_qkv[i][h]

            def fn(act, hook, q=q, h=h):
                act = act.clone()
                act[:, :, h] = q
                return act

            hook = head_name(layer, "qkv"[i])
        with torch.no_grad():
            logits = model.run_with_hooks(task.clean_tokens, fwd_hooks=[(hook, fn)])
        values.append(float(runs.readout(logits).mean()) - runs.base_value)
    return values


def bench(
    name: str, model: Any, n_prompts: int, repeats: int, sample: int, full: bool = True
) -> None:
    from interp.methods.edges import (
        eap_effects,
        exact_effects,
        prepare_edge_runs,
        transformer_lens_eap,
    )
    from interp.tasks.ioi import ioi_task

    task = ioi_task(model, n_prompts=n_prompts, seed=0)
    runs = prepare_edge_runs(model, task, direction="denoising")
    g = runs.forward.graph
    print(f"\n{name}: {g.n_layers}x{g.n_heads}, {g.n_edges} edges, {n_prompts} prompts, "
          f"{task.seq_len} positions")  # fmt: skip
    eap_effects(runs)  # warm-up
    ours_s, ours = _time(lambda: eap_effects(runs), repeats)
    tl_s, theirs = _time(lambda: transformer_lens_eap(model, task), 1)
    diff = float((ours - theirs).abs().max())
    print(f"  EAP (denoising)  ours {ours_s:7.3f} s   transformer-lens {tl_s:7.2f} s   "
          f"ratio {tl_s / ours_s:6.1f}x   max |diff| {diff:.2e} (scores up to "
          f"{float(theirs.abs().max()):.3g})")  # fmt: skip
    noising = prepare_edge_runs(model, task)
    only = g.real.copy()
    if not full:  # every edge into the middle layer's queries and into the logits
        only[:] = False
        mid = g.n_layers // 2
        for h in range(g.n_heads):
            only[:, g.head_destination(mid, h, "q")] = g.real[:, g.head_destination(mid, h, "q")]
        only[:, g.logits_destination] = True
    n = int(only.sum())
    sweep_s, exact = _time(lambda: exact_effects(model, task, noising, only=only), 1)
    src, dst = (torch.as_tensor(x) for x in only.nonzero())
    pick = torch.linspace(0, len(src) - 1, min(sample, len(src))).long()
    edges = [(int(src[i]), int(dst[i])) for i in pick]
    naive_s, naive = _time(lambda: one_forward_per_edge(model, task, noising, edges), 1)
    per_edge = naive_s / len(edges)
    check = max(abs(float(exact[s, d]) - v) for (s, d), v in zip(edges, naive))
    what = "all edges" if full else "edges into the middle queries and the logits"
    print(f"  exact, {n} {what}: batched {sweep_s:7.2f} s   one forward per edge "
          f"{per_edge * 1e3:6.1f} ms x {n} = {per_edge * n:7.1f} s (timed on {len(edges)})   "
          f"speed-up {per_edge * n / sweep_s:5.1f}x   max |diff| {check:.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=40, help="edges timed one by one")
    parser.add_argument("--skip-gpt2-shape", action="store_true")
    args = parser.parse_args()
    from interp.core.models import load

    bench("reference:ioi", load("reference:ioi", device="cpu"), args.prompts, args.repeats,
          args.sample)  # fmt: skip
    if not args.skip_gpt2_shape:
        with tempfile.TemporaryDirectory() as tmp:
            bench("GPT-2-small shape, random weights", gpt2_shaped(tmp), args.prompts,
                  args.repeats, args.sample, full=False)  # fmt: skip


if __name__ == "__main__":
    main()
