"""Trigger-mining throughput against a plain forward pass of the same model on the same batches.

    python benchmarks/mining_throughput.py                 # reference:recall
    python benchmarks/mining_throughput.py --gpt2-shaped   # + a random GPT-2-small-shaped model

Mining (:func:`interp.methods.mining.mine`: hooks on every layer's ``mlp.hook_post``, a
running top-k per neuron on the device, checkpoints written to a fresh results store) is
timed end to end, against ``model(tokens)`` over exactly the same windows and batches. The
target is a ratio of at least 0.7: the hooks must cost less than the forward itself. The two
are interleaved batch by batch (see :func:`bench`), since other processes may share the CPU;
the median of ``--repeats`` runs is reported.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import bench_corpus

from interp.core.config import option
from interp.experiment import run_script


@dataclass
class Config:
    model: str = option("reference:recall", "model to benchmark")
    gpt2_shaped: bool = option(False, "also benchmark a random GPT-2-small-shaped model")
    corpus: str = option("", "corpus (default: the WordNet glosses, else synthetic text)")
    tokens: int = option(16384, "corpus tokens per timed run")
    batch_size: int = option(32, "windows per batch")
    window: int = option(32, "tokens per window")
    k: int = option(10, "examples kept per neuron")
    checkpoint_every: int = option(20, "batches per checkpoint")
    repeats: int = option(3, "timed runs (the median is reported)")
    device: str = option("auto", "auto, cpu, cuda or mps")
    json: str = option("", "write the numbers to this JSON file")


def _gpt2_shaped(tmp: Path) -> str:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.reference.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    # GPT-2 small's shape, with the reference word-level vocabulary (GPT-2's BPE files are
    # not available offline); the 50257-token unembedding is left out of both timings' cost
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=1024,
            n_embd=768,
            n_layer=12,
            n_head=12,
            bos_token_id=0,
            eos_token_id=0,
        )  # fmt: skip
    )
    path = tmp / "gpt2-shaped"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def bench(name: str, config: Config, corpus: Path, tmp: Path) -> dict[str, float]:
    """Mine, and after each mined batch run a plain forward of the same batch on a twin of the
    model (the mined one carries the hooks): the two timings of every batch are taken a few
    milliseconds apart, so load from other processes affects both alike."""
    import torch

    from interp.core.corpus import windows
    from interp.core.models import load, record_of
    from interp.methods.mining import mine
    from interp.results.store import ResultsStore

    model, twin = load(name, device=config.device), load(name, device=config.device)
    tw = windows(model.tokenizer, corpus, window=config.window, max_tokens=config.tokens)
    batches = tw.batches(config.batch_size)
    sizes = [int(tw.lengths[lo:hi].sum()) for lo, hi in batches]
    device = model.cfg.device
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else lambda: None

    def plain(b: int) -> float:
        tokens, _ = tw.batch(*batches[b], device)
        start = time.perf_counter()
        with torch.no_grad():
            twin(tokens)
        sync()
        return time.perf_counter() - start

    def one_run(i: int) -> tuple[list[float], list[float]]:
        t_mine, t_fwd, clock = [], [], [time.perf_counter()]

        def on_batch(done: int, total: int) -> None:
            sync()
            t_mine.append(time.perf_counter() - clock[0])
            t_fwd.append(plain(done - 1))
            clock[0] = time.perf_counter()

        mine(
            model, corpus, k=config.k, window=config.window, batch_size=config.batch_size,
            max_tokens=config.tokens, store=ResultsStore(tmp / f"store-{id(model)}-{i}"),
            checkpoint_every=config.checkpoint_every, show_progress=False, on_batch=on_batch,
        )  # fmt: skip
        return t_mine, t_fwd

    plain(0)  # warm-up
    runs = [one_run(i) for i in range(config.repeats)]
    fwd_rates = [sum(sizes) / sum(t_fwd) for _, t_fwd in runs]
    mine_rates = [sum(sizes) / sum(t_mine) for t_mine, _ in runs]
    ratios = [m / f for m, f in zip(mine_rates, fwd_rates)]
    middle = sorted(range(len(ratios)), key=lambda j: ratios[j])[len(ratios) // 2]
    fwd, mined, ratio = fwd_rates[middle], mine_rates[middle], ratios[middle]
    rec = record_of(model)
    print(
        f"{name}: {rec.n_layers} layers x {rec.d_mlp} neurons, {sum(sizes):,} tokens in "
        f"{len(batches)} batches of {config.batch_size}x{config.window}, device {rec.device}"
    )
    print(f"  plain forward : {fwd:10,.0f} tokens/s  (same batches, on a twin of the model)")
    print(f"  mining        : {mined:10,.0f} tokens/s  (hooks + top-k + checkpoints to SQLite)")
    print(
        f"  ratio mining / forward = {ratio:.2f}  (runs: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"  {'meets' if ratio >= 0.7 else 'BELOW'} the 0.70 target")
    return {"forward_tokens_per_s": fwd, "mining_tokens_per_s": mined, "ratio": ratio}


def main(config: Config) -> dict:
    with tempfile.TemporaryDirectory(prefix="interp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = bench_corpus(config.corpus, config.tokens, tmp)
        print(f"corpus: {corpus}")
        out = {config.model: bench(config.model, config, corpus, tmp)}
        if config.gpt2_shaped:
            out["gpt2-small-shaped"] = bench(_gpt2_shaped(tmp), config, corpus, tmp)
    return out


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
