"""Wall time and peak memory of every stage of the pipeline on a GPT-2-shaped model.

    python benchmarks/stages.py --shape small                 # CUDA when present, else CPU
    python benchmarks/stages.py --shape medium --n-prompts 4 --skip discovery
    python benchmarks/stages.py --shape xl --estimate-only    # computed estimates, no run

The model is :func:`interp.core.synthetic.build_gpt2_shaped`: GPT-2's shape (small 12 x 12 x
768, medium 24 x 16 x 1024, large 36 x 20 x 1280, XL 48 x 25 x 1600), GPT-2's real tokenizer
and 50,257-token vocabulary, random weights with perturbed LayerNorms (it has no behaviour,
so the IOI discovery runs ``force=True``; the work done is the same). Every stage runs in a
fresh subprocess, so one stage's allocations and caches cannot hide another's:

* ``load`` times :func:`interp.load` (booting the bridge and processing the weights) and
  reports the peak memory it takes above the bare interpreter with torch imported;
* every other stage loads the model first (not timed) and reports its own wall time and its
  peak memory *above the loaded model* (CPU: resident set size sampled every 2 ms by a
  thread, with ``psutil``; CUDA: ``torch.cuda.max_memory_allocated`` after a reset).

Stages (n = ``--n-prompts`` IOI prompts, ABBA/BABA templates): ``forward`` (one forward of
the n clean prompts, after one untimed warm-up forward), ``lens`` (logit lens of one
capitals prompt, every residual stream),
``patch_z`` (activation patching of every head's output), ``path`` (path patching of every
head into the logits), ``attribution`` (attribution patching of every head: 2 forwards and 1
backward), ``discovery`` (:func:`interp.discover_ioi_circuit`, forced), ``capitals``
(:func:`interp.studies.recall.recall_relation` for country -> capital, ``--n-random`` random
baselines), ``mining`` (FFN trigger-example mining of every neuron on ``--mine-tokens``
corpus tokens, windows of 32).

``--estimate-only`` prints the computed estimates used for sizes that were not run:
parameters x bytes per parameter for the model, and the activations of one forward of n
prompts (the residual stream, attention patterns and MLP hidden states of every layer, and
the logits) scaled by the measured small-shape ratio. They are labelled *estimate*.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.core.config import DeviceOptions, option
from interp.core.synthetic import GPT2_SHAPES

STAGES = [
    "load",
    "forward",
    "lens",
    "patch_z",
    "path",
    "attribution",
    "discovery",
    "capitals",
    "mining",
]
VOCAB = 50257
CTX = 1024


@dataclass
class Config(DeviceOptions):
    """Time and peak memory of each stage on a GPT-2-shaped model."""

    shape: str = option("small", "GPT-2 shape: small, medium, large or xl")
    n_prompts: int = option(8, "IOI prompts for forward, patching, path/attribution, discovery")
    mine_tokens: int = option(2048, "corpus tokens mined in the mining stage")
    n_random: int = option(2, "random baselines of the capitals stage")
    skip: list[str] = option([], "stages to leave out")
    only: list[str] = option([], "run only these stages")
    model_dir: str = option("", "an existing GPT-2-shaped directory (default: build one)")
    estimate_only: bool = option(False, "print the computed estimates, run nothing")
    json: str = option("", "write the rows (and the table's header) to this JSON file")
    stage: str = option("", "(internal) run this one stage in this process")


# -- the one-stage child -----------------------------------------------------------------------
class PeakRSS:
    """The largest resident set size of this process while the block runs (sampled)."""

    def __init__(self, every: float = 0.002) -> None:
        import psutil

        self.process, self.every = psutil.Process(), every
        self.peak = self.start = self.process.memory_info().rss
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def _work(stage: str, model: Any, config: Config, tmp: Path):
    """The function a stage times (its inputs prepared outside the timing)."""
    import torch

    import interp

    if stage == "lens":
        prompt = "Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:"
        return lambda: interp.logit_lens(model, prompt, targets=[" Warsaw", " Poland"])
    if stage == "capitals":
        from interp.studies.recall import recall_relation

        return lambda: recall_relation(model, "capital", "past_tense", n_random=config.n_random)
    if stage == "mining":
        from interp.methods.mining import mine
        from interp.results.store import ResultsStore

        store = ResultsStore(tmp / "results")
        return lambda: mine(
            model, None, max_tokens=config.mine_tokens, store=store, show_progress=False
        )
    task = interp.ioi_task(model, n_prompts=config.n_prompts, seed=0)
    if stage == "forward":
        with torch.no_grad():
            model(task.clean_tokens)  # a warm-up forward, not timed: the stage is steady state

        def forward():
            with torch.no_grad():
                return model(task.clean_tokens)

        return forward
    if stage == "patch_z":
        return lambda: interp.patch(model, task, "z")
    if stage == "path":
        return lambda: interp.path_patch(model, task, desc=None)
    if stage == "attribution":
        return lambda: interp.attribution_patch(model, task)
    if stage == "discovery":
        return lambda: interp.discover_ioi_circuit(model, task, progress_desc=False, force=True)
    raise SystemExit(f"unknown stage {stage!r}")


def run_stage(config: Config) -> dict[str, Any]:
    import torch

    import interp
    from interp.core.config import apply_device_options
    from interp.core.device import pick_device

    where = apply_device_options(config)
    device = pick_device(where["device"])
    cuda = device.type == "cuda"
    torch.set_grad_enabled(True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INTERP_RESULTS_DIR"] = str(Path(tmp) / "results")
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSS() as rss:
            start = time.perf_counter()
            model = interp.load(config.model_dir, **where)
            load_s = time.perf_counter() - start
        loaded_rss, loaded_cuda = rss.peak, torch.cuda.memory_allocated(device) if cuda else 0
        row: dict[str, Any] = {"stage": config.stage, "device": str(device), "dtype": config.dtype}
        if config.stage == "load":
            if cuda:
                peak, resident = torch.cuda.max_memory_allocated(device), loaded_cuda
            else:
                peak, resident = rss.peak - rss.start, rss.process.memory_info().rss - rss.start
            row.update(seconds=load_s, peak_bytes=peak, resident_bytes=resident)
            return row
        fn = _work(config.stage, model, config, Path(tmp))
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSS() as rss:
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
        peak = (
            (torch.cuda.max_memory_allocated(device) - loaded_cuda)
            if cuda
            else rss.peak - rss.start
        )
        row.update(seconds=seconds, peak_bytes=max(0, peak), loaded_rss=loaded_rss)
        return row


# -- the parent --------------------------------------------------------------------------------
def parameters(shape: str) -> int:
    """GPT-2's parameter count for ``shape`` (tied unembedding counted once)."""
    layers, _, d = GPT2_SHAPES[shape]
    per_layer = 12 * d * d + 13 * d  # attention 4 d^2 + MLP 8 d^2, biases, two LayerNorms
    return layers * per_layer + VOCAB * d + CTX * d + 2 * d


def activation_bytes(shape: str, n_prompts: int, seq: int = 16, nbytes: int = 4) -> int:
    """One forward's activations of n prompts of ``seq`` tokens if every layer's residual
    stream, attention pattern and MLP hidden state were kept, plus the logits."""
    layers, heads, d = GPT2_SHAPES[shape]
    per_token = layers * (4 * d + 4 * d + heads * seq) + VOCAB
    return n_prompts * seq * per_token * nbytes


def estimate_rows(shape: str, n_prompts: int, measured: dict[str, dict] | None = None) -> list:
    """Estimates for ``shape`` from the parameter count and, when ``measured`` holds the small
    shape's rows, each stage's small-shape peak scaled by the activation ratio and its time
    by the ratio of per-token FLOPs (2 x parameters)."""
    bytes_per = 4
    note = f"estimate: {parameters(shape) / 1e6:.0f} M parameters x 4 bytes"
    rows = [{"stage": "load", "seconds": None, "peak_bytes": parameters(shape) * bytes_per}]
    rows[0]["note"] = note
    if measured:
        act = activation_bytes(shape, n_prompts) / activation_bytes("small", n_prompts)
        flops = parameters(shape) / parameters("small")
        for stage, row in measured.items():
            if stage == "load":
                continue
            layers = GPT2_SHAPES[shape][0] * GPT2_SHAPES[shape][1]
            sweep = layers / 144 if stage in ("patch_z", "path", "discovery") else 1.0
            rows.append(
                {
                    "stage": stage,
                    "seconds": row["seconds"] * flops * sweep,
                    "peak_bytes": row["peak_bytes"] * act,
                    "note": f"estimate: small x {flops * sweep:.1f} (time), x {act:.1f} (memory)",
                }
            )
    return rows


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}" if unit == "GiB" else f"{n / size:.0f} {unit}"
    return f"{n:.0f} B"


def table(rows: list[dict]) -> str:
    out = ["| stage | time | peak memory | note |", "|---|---|---|---|"]
    for r in rows:
        t = "-" if r.get("seconds") is None else f"{r['seconds']:.2f} s"
        out.append(
            f"| {r['stage']} | {t} | {fmt_bytes(r.get('peak_bytes'))} | {r.get('note', '')} |"
        )
    return "\n".join(out)


def main(config: Config) -> dict[str, Any]:
    if config.stage:
        row = run_stage(config)
        print("ROW " + json.dumps(row), flush=True)
        return row
    if config.shape not in GPT2_SHAPES:
        raise SystemExit(f"unknown shape {config.shape!r}; choose from {list(GPT2_SHAPES)}")
    if config.estimate_only:
        rows = estimate_rows(config.shape, config.n_prompts)
        print(table(rows))
        return {"rows": rows}
    stages = [s for s in (config.only or STAGES) if s not in config.skip]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = config.model_dir
        if not model_dir:
            from interp.core.synthetic import build_gpt2_shaped

            start = time.perf_counter()
            model_dir = str(build_gpt2_shaped(Path(tmp) / f"gpt2-{config.shape}", config.shape))
            print(
                f"built GPT-2-{config.shape}-shaped model in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
        rows = []
        for stage in stages:
            cmd = [
                sys.executable,
                __file__,
                "--stage",
                stage,
                "--model-dir",
                model_dir,
                "--device",
                config.device,
                "--dtype",
                config.dtype,
                "--n-prompts",
                str(config.n_prompts),
                "--mine-tokens",
                str(config.mine_tokens),
                "--n-random",
                str(config.n_random),
            ]
            if config.memory:
                cmd += ["--memory", config.memory]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = [ln for ln in proc.stdout.splitlines() if ln.startswith("ROW ")]
            if proc.returncode != 0 or not found:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                rows.append(
                    {
                        "stage": stage,
                        "seconds": None,
                        "peak_bytes": None,
                        "note": f"failed: {tail[0][:120]}",
                    }
                )
            else:
                rows.append(json.loads(found[-1][4:]))
            r = rows[-1]
            took = "-" if r["seconds"] is None else f"{r['seconds']:.2f} s"
            print(
                f"{stage:12s} {took}  {fmt_bytes(r['peak_bytes'])}  {r.get('note', '')}", flush=True
            )
    header = (
        f"GPT-2-{config.shape}-shaped, {rows[0].get('device', config.device)}, {config.dtype}, "
        f"n = {config.n_prompts} prompts, mining {config.mine_tokens} tokens"
    )
    print("\n" + header + "\n" + table(rows))
    summary = {
        "shape": config.shape,
        "n_prompts": config.n_prompts,
        "rows": rows,
        "mine_tokens": config.mine_tokens,
        "header": header,
    }
    return summary  # run_script writes it to --json


if __name__ == "__main__":
    from interp.experiment import run_script

    sys.exit(run_script(main, Config))
