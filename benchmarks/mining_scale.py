"""Mining throughput: the single-process miner against Ray with 1 and 2 workers.

    python benchmarks/mining_scale.py                          # reference:recall, 1 and 2 workers
    python benchmarks/mining_scale.py --workers 1 2 4 8        # on a bigger machine
    python benchmarks/mining_scale.py --model gpt2-small --device cuda --batch-size 256

Each configuration mines the same corpus slice (``--tokens``) into a fresh results store and
reports tokens/s (tokens through the model, BOS included, as ``interp mine`` reports) over
the mining itself: the clock starts when the first batch is sent and stops when the job is
complete in the store (every shard merged and written). Starting the Ray cluster and loading
the model in the workers are timed apart ("start-up"). Ray's overhead at 1 worker is
``1 - ray_1 / single`` (target: at most 15%). The single-process run and each Ray run are
repeated ``--repeats`` times, alternating, and the median is reported, since other processes
may share the machine. ``--threads 1`` gives the single process and every worker one torch
thread each (a fair comparison on a machine whose cores are shared: there, two torch threads
in one process can be several times slower than one, as they wait for each other).
"""

from __future__ import annotations

import statistics
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
    model: str = option("reference:recall", "model to mine")
    corpus: str = option("", "corpus (default: the WordNet glosses, else synthetic text)")
    tokens: int = option(65536, "corpus tokens per timed run")
    batch_size: int = option(32, "windows per batch")
    window: int = option(32, "tokens per window")
    k: int = option(10, "examples kept per neuron")
    checkpoint_every: int = option(20, "batches per checkpoint (and per shard on Ray)")
    workers: list[int] = option([1, 2], "Ray worker counts to time")
    repeats: int = option(3, "timed runs of each configuration (the median is reported)")
    device: str = option("auto", "auto, cpu, cuda or mps")
    threads: int = option(
        0,
        "torch threads of the single process, and per Ray worker (0: torch's default there, "
        "this machine's CPUs shared out among the workers)",
    )
    json: str = option("", "write the numbers to this JSON file")


def _options(config: Config, store) -> dict:
    return dict(
        k=config.k, window=config.window, batch_size=config.batch_size,
        max_tokens=config.tokens, checkpoint_every=config.checkpoint_every, store=store,
        show_progress=False,
    )  # fmt: skip


def _rate(result, seconds: float) -> float:
    return (result.n_tokens + result.n_windows) / seconds  # BOS included, as `interp mine`


def main(config: Config) -> dict:
    import numpy as np

    from interp.core.models import load
    from interp.methods.mining import mine, mine_sharded
    from interp.results.store import ResultsStore
    from interp.scale.cluster import require_ray
    from interp.scale.mining import MinerPool

    require_ray()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    out: dict = {"model": config.model, "tokens": config.tokens, "threads": config.threads}
    single: dict[int, list[float]] = {n: [] for n in config.workers}
    rates: dict[int, list[float]] = {n: [] for n in config.workers}
    identical: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="interp-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = bench_corpus(config.corpus, config.tokens, tmp)
        print(f"corpus: {corpus} (first {config.tokens:,} tokens)", flush=True)
        model = load(config.model, device=config.device)
        reference = None
        for n in config.workers:
            start = time.perf_counter()
            cpus = config.threads or None
            with MinerPool(config.model, workers=n, device=config.device,
                           cpus_per_worker=cpus) as pool:  # fmt: skip
                startup = time.perf_counter() - start
                devices = sorted({w["device"] for w in pool.workers})
                print(f"ray, {n} worker(s): cluster + workers' models ready in {startup:.1f} s "
                      f"(devices {devices})", flush=True)  # fmt: skip
                out[f"ray_{n}_startup_s"] = startup
                for rep in range(config.repeats):  # alternate: load from others hits both
                    store = ResultsStore(tmp / f"single-{n}-{rep}")
                    start = time.perf_counter()
                    result = mine(model, corpus, **_options(config, store))
                    single[n].append(_rate(result, time.perf_counter() - start))
                    reference = reference if reference is not None else result
                    store = ResultsStore(tmp / f"ray-{n}-{rep}")
                    start = time.perf_counter()
                    got = mine_sharded(model, corpus, run_shards=pool.run_shards, workers=n,
                                       **_options(config, store))  # fmt: skip
                    rates[n].append(_rate(got, time.perf_counter() - start))
                    same = all(
                        np.array_equal(got.arrays()[k], v) for k, v in reference.arrays().items()
                    )
                    identical.append(same)
                    print(f"  run {rep + 1}: single process {single[n][-1]:9,.0f} tokens/s, "
                          f"ray {n} worker(s) {rates[n][-1]:9,.0f} tokens/s "
                          f"(identical result: {same})", flush=True)  # fmt: skip
    print(f"\n{config.model}, {config.tokens:,} tokens, batches of {config.batch_size}x"
          f"{config.window}, device {config.device}; medians of {config.repeats}:")  # fmt: skip
    out["identical"] = all(identical)
    for n in config.workers:
        med, r = statistics.median(single[n]), statistics.median(rates[n])
        out[f"single_tokens_per_s_beside_{n}"] = med
        out[f"ray_{n}_tokens_per_s"] = r
        print(f"  single process {med:9,.0f} tokens/s | ray, {n} worker(s) {r:9,.0f} tokens/s"
              f"  ({r / med:.2f}x)")  # fmt: skip
    if 1 in config.workers:
        overhead = 1 - out["ray_1_tokens_per_s"] / out["single_tokens_per_s_beside_1"]
        out["ray_1_overhead"] = overhead
        verdict = "meets" if overhead <= 0.15 else "MISSES"
        print(f"  Ray overhead at 1 worker: {100 * overhead:.1f}% ({verdict} the 15% target)")
    print(f"  results identical to the single-process miner: {out['identical']}")
    return out


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
