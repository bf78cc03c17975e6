"""All-heads output patching: the batched patcher against transformer-lens, same model, same
prompts, same numbers.

    python benchmarks/patching_speed.py                  # reference:ioi, 1 and 8 prompts
    python benchmarks/patching_speed.py --gpt2-shaped    # + a random GPT-2-small-shaped model

transformer-lens's ``patching.get_act_patch_attn_head_out_all_pos`` runs one full forward per
head (n_layers x n_heads forwards of the batch, logits at every position).
:func:`interp.methods.patching.patch_heads` runs the sweep as one batched forward through
:class:`interp.core.resume.Resumer`: every patched copy joins at its own block, at the head
outputs, from the cached run; the last block and the unembedding run at END only; positions
before the first one where clean and corrupted prompts differ are not recomputed. Both are
timed from the same tokens: the transformer-lens time includes the ``run_with_cache`` its
function needs (shown separately), ours its own caching forward. The runs are interleaved
(other processes may share the CPU) and the median of ``--repeats`` is reported, with the
largest absolute difference between the two results.

Each row also counts the floating-point work of both (PyTorch's FLOP counter): once the CPU
runs both at its matrix-multiply peak (a few prompts on 2 cores), the time ratio is close to
the work ratio, whatever the batching; above it lies only the per-forward overhead that
batching removes (one prompt, small models). Target: >= 10x on CPU, identical numbers.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from interp.core.config import option
from interp.experiment import run_script


@dataclass
class Config:
    """Batched all-heads patching vs transformer-lens."""

    model: str = option("reference:ioi", "model to benchmark")
    gpt2_shaped: bool = option(False, "also benchmark a random GPT-2-small-shaped model")
    n_prompts: list[int] = option([1, 8], "batch sizes (IOI prompts of one template)")
    repeats: int = option(3, "timed runs of each (the median is reported)")
    device: str = option("cpu", "auto, cpu, cuda or mps")
    json: str = option("", "write the numbers to this JSON file")


def _gpt2_shaped(tmp: Path) -> str:
    """GPT-2 small's shape (12 layers x 12 heads, d_model 768, 50257 logits) with random
    weights and the reference word-level tokenizer (GPT-2's BPE files are not available
    offline; the unused embedding rows cost nothing, the unembedding costs what GPT-2's
    does)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.reference.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    path = tmp / "gpt2-shaped"
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _sync(model) -> None:
    import torch

    if str(model.cfg.device).startswith("cuda"):
        torch.cuda.synchronize()


def bench(name: str, n_prompts: int, config: Config) -> dict[str, float]:
    import torch
    import transformer_lens.patching as tlp

    from interp.core.models import load
    from interp.methods.patching import patch_heads
    from interp.tasks.ioi import ioi_task

    model = load(name, device=config.device)
    task = ioi_task(model, n_prompts, seed=0, templates=[5])

    def ours():
        return patch_heads(model, task, "z", direction="denoising").values

    def theirs():
        with torch.no_grad():
            start = time.perf_counter()
            _, cache = model.run_with_cache(task.clean_tokens)
            _sync(model)
            cache_s = time.perf_counter() - start
            values = tlp.get_act_patch_attn_head_out_all_pos(
                model, task.corrupted_tokens, cache, task.metric
            )
        return values.cpu().numpy(), cache_s

    ours(), theirs()  # warm-up
    t_ours, t_tl, t_cache = [], [], []
    for _ in range(config.repeats):
        start = time.perf_counter()
        a = ours()
        _sync(model)
        t_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        b, cache_s = theirs()
        _sync(model)
        t_tl.append(time.perf_counter() - start)
        t_cache.append(cache_s)
    flops_ours, flops_tl = _flops(ours), _flops(theirs)
    ours_s, tl_s = statistics.median(t_ours), statistics.median(t_tl)
    tl_sweep = tl_s - statistics.median(t_cache)
    row = {
        "model": name if not name.endswith("gpt2-shaped") else "gpt2-small-shaped (random)",
        "heads": model.cfg.n_layers * model.cfg.n_heads,
        "n_prompts": n_prompts,
        "seq_len": task.seq_len,
        "ours_s": ours_s,
        "transformer_lens_s": tl_s,
        "transformer_lens_sweep_only_s": tl_sweep,
        "ratio": tl_s / ours_s,
        "ratio_sweep_only": tl_sweep / ours_s,
        "max_abs_diff": float(abs(a - b).max()),
        "gflop_ours": flops_ours / 1e9,
        "gflop_transformer_lens": flops_tl / 1e9,
        "work_ratio": flops_tl / flops_ours,
    }
    print(
        f"{row['model']:>28}  {row['heads']:>5}  {n_prompts:>7}  {ours_s:8.3f}  {tl_s:8.3f}  "
        f"{row['ratio']:6.1f}x  ({row['ratio_sweep_only']:.1f}x sweep only)  "
        f"max |diff| {row['max_abs_diff']:.1e}  GFLOP {row['gflop_ours']:.2f} vs "
        f"{row['gflop_transformer_lens']:.2f} ({row['work_ratio']:.1f}x less work)",
        flush=True,
    )
    return row


def _flops(fn) -> int:
    """Floating-point operations of the matrix products ``fn`` runs (PyTorch's counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main(config: Config) -> dict:
    import torch

    from interp.core.hooks import quiet_transformers

    threads = torch.get_num_threads()
    print(f"device {config.device}, torch threads {threads}, median of {config.repeats}")
    print(
        f"{'model':>28}  {'heads':>5}  {'prompts':>7}  {'ours s':>8}  {'TL s':>8}  ratio  "
        "(target >= 10x, identical numbers)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp, quiet_transformers():
        names = [config.model] + ([_gpt2_shaped(Path(tmp))] if config.gpt2_shaped else [])
        for name in names:
            for n in config.n_prompts:
                rows.append(bench(name, n, config))
    return {"rows": rows}


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
