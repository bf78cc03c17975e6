"""Train a Hugging Face GPT-2 from scratch, deterministically, resumably, with checkpoints.

:func:`train` runs a :class:`~interp.training.recipes.Recipe` into a run directory::

    RUN/recipe.json                 the recipe (a resumed run must use the same one)
    RUN/history.json                loss and IOI metrics (text: held-out loss) at every evaluation
    RUN/tokenizer/                  text recipes: the byte-level BPE trained on the corpus
    RUN/checkpoints/step-000250/    save_pretrained model + tokenizer, trainer_state.pt
    RUN/interrupted/                the same, written when the run is stopped with Ctrl-C
    RUN/final/                      the trained model (model + tokenizer + interp_training.json)

Every model directory loads with ``interp.core.models.load(DIR)``. Determinism: the weights
are initialised under ``torch.manual_seed(seed)``, each step's batch is a pure function of
``(seed, step)``, dropout is off, the CPU thread count is fixed (``recipe.threads``) and
``torch.use_deterministic_algorithms`` is on while training; the optimiser state and RNG
state are saved with each checkpoint, so a run stopped and resumed ends with bit-identical
weights to one that never stopped (on the same machine and thread count). Ctrl-C finishes
the current step, saves ``interrupted/`` and raises ``KeyboardInterrupt``; calling
:func:`train` again on the same directory continues from there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from interp.core.errors import InterpError
from interp.training.data import IGNORE, TrainingData
from interp.training.evaluate import ioi_metrics, repeated_tokens, text_metrics
from interp.training.recipes import Recipe, get_recipe

if TYPE_CHECKING:
    from interp.core.models import Model


STATE_FILE = "trainer_state.pt"
#: recipe fields that do not change the weights: a run may be resumed with other values
FREE_FIELDS = {"steps", "checkpoint_every", "eval_every", "notes"}
INFO_FILE = "interp_training.json"
#: the metric shown in the progress bar and used for the training curve
CURVE_SET = "pairs"


@dataclass(frozen=True)
class TrainingRun:
    """What :func:`train` produced."""

    out_dir: Path
    recipe: Recipe
    #: the final model directory (None if the run has not finished)
    final_dir: Path | None
    #: (step, directory) of every checkpoint, in step order
    checkpoints: list[tuple[int, Path]]
    #: one dict per evaluation: step, loss, and ``{set}_io_over_s`` / ``{set}_logit_diff``
    history: list[dict[str, Any]]
    #: wall-clock seconds spent training in this call
    seconds: float

    def curve(self, key: str = f"{CURVE_SET}_io_over_s") -> tuple[list[int], list[float]]:
        """(steps, values) of one history column."""
        rows = [h for h in self.history if key in h]
        return [int(h["step"]) for h in rows], [float(h[key]) for h in rows]


def build_model(recipe: Recipe, vocab_size: int):
    """A freshly initialised ``GPT2LMHeadModel`` of the recipe's shape (dropout off)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=recipe.n_ctx,
        n_embd=recipe.d_model,
        n_layer=recipe.n_layers,
        n_head=recipe.n_heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(recipe.seed)
    return GPT2LMHeadModel(config)


def default_tokenizer():
    """The reference models' word-level tokenizer (the vocabulary IOI names live in)."""
    from interp.core.reference.tokenizer import build_tokenizer

    return build_tokenizer()


@dataclass
class _Setup:
    """What an objective gives the loop: tokenizer, batches, evaluation, record, progress."""

    tokenizer: Any
    data: Any  # .batch(step) -> (tokens, labels)
    evaluate: Callable[[Any, Any], dict[str, Any]]
    postfix: Callable[[dict[str, Any]], dict[str, str]]
    record: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # extra files of the final model


def _ioi_setup(recipe: Recipe, out: Path) -> _Setup:
    tokenizer = default_tokenizer()
    data = TrainingData(recipe, tokenizer)
    eval_sets = data.split.eval_sets(recipe.eval_prompts)
    if recipe.text_fraction > 0:
        _ = data.documents  # read the corpus now: a missing corpus fails before training
    split = data.split
    return _Setup(
        tokenizer,
        data,
        lambda model, dev: _evaluate(model, tokenizer, eval_sets, dev),
        lambda m: {
            "loss": f"{m['loss']:.3f}",
            "io_s": f"{m[f'{CURVE_SET}_io_over_s']:.2f}",
            "ld": f"{m[f'{CURVE_SET}_logit_diff']:.2f}",
        },
        {
            "heldout_pairs": sorted(sorted(p) for p in split.heldout_pairs),
            "heldout_templates": list(split.heldout_templates),
            "train_templates": list(split.train_templates),
        },
    )


def _text_setup(recipe: Recipe, out: Path) -> _Setup:
    from interp.training.text import TextData, TextSplit, load_or_train_tokenizer

    split = TextSplit.from_recipe(recipe)
    tokenizer = load_or_train_tokenizer(recipe, split, out)
    data = TextData(recipe, split, tokenizer)
    windows = data.heldout_windows
    probe = repeated_tokens(len(tokenizer), data.bos, min(50, (recipe.n_ctx - 1) // 2))
    return _Setup(
        tokenizer,
        data,
        lambda model, dev: text_metrics(model, windows, probe, dev),
        lambda m: {
            "loss": f"{m['loss']:.3f}",
            "heldout": f"{m['heldout_loss']:.3f}",
            "ind": f"{m['induction_max']:.2f}",
        },
        data.record(),
        {"heldout.txt": data.heldout_sample(), "unigram.json": json.dumps(data.unigram.tolist())},
    )


#: objective -> how the loop sets it up
SETUPS: dict[str, Callable[[Recipe, Path], _Setup]] = {"ioi": _ioi_setup, "text": _text_setup}


def train(
    recipe: str | Recipe,
    out_dir: str | os.PathLike,
    *,
    steps: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    checkpoint_every: int | None = None,
    resume: bool = True,
    show_progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainingRun:
    """Train ``recipe`` (a :class:`Recipe` or a built-in name) into ``out_dir``.

    ``steps``, ``seed`` and ``checkpoint_every`` override the recipe. With ``resume`` (the
    default) an existing run in ``out_dir`` continues from its latest checkpoint (or its
    ``interrupted/`` state); ``callback(step, metrics)`` is called after every step
    (metrics has ``loss``, and the IOI metrics on evaluation steps); raising
    ``KeyboardInterrupt`` in it stops the run as Ctrl-C does.

    >>> import tempfile
    >>> run = train("tiny", tempfile.mkdtemp(), steps=4, show_progress=False)
    >>> run.final_dir.name, [s for s, _ in run.checkpoints]
    ('final', [0, 4])
    """
    from interp.core.device import pick_device
    from interp.core.progress import progress

    recipe = get_recipe(recipe, steps=steps, seed=seed, checkpoint_every=checkpoint_every)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    _check_recipe(out, recipe, resume)
    dev = pick_device(device)
    setup = SETUPS[recipe.objective](recipe, out)
    tokenizer, data = setup.tokenizer, setup.data

    started = time.perf_counter()
    with _deterministic(dev, recipe.threads):
        state = _latest_state(out, recipe.steps) if resume else None
        if state is None:
            model = build_model(recipe, len(tokenizer)).to(dev)
            start, history = 0, []
        else:
            model, start, history = _load_model(state, dev)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
        if state is not None:
            saved = torch.load(state / STATE_FILE, map_location=dev, weights_only=False)
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["torch_rng"])
        else:
            history.append({"step": 0, **setup.evaluate(model, dev)})
            _save(
                out / "checkpoints" / _step_name(0),
                model,
                tokenizer,
                optimizer,
                0,
                history,
                recipe,
                setup,
            )

        bar = progress(
            total=recipe.steps,
            initial=start,
            desc=f"train {recipe.name}",
            disable=None if show_progress else True,
        )
        stop = _StopFlag()
        losses: list[float] = []
        completed, consistent = start, True
        try:
            with stop.installed():
                for step in range(start, recipe.steps):
                    consistent = False  # a hard interrupt now may leave a half-done update
                    model.train()
                    for group in optimizer.param_groups:
                        group["lr"] = _lr(recipe, step)
                    tokens, labels = (t.to(dev) for t in data.batch(step))
                    logits = model(tokens).logits
                    loss = torch.nn.functional.cross_entropy(
                        logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE
                    )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if recipe.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                    optimizer.step()
                    completed, consistent = step + 1, True
                    losses.append(float(loss.detach()))
                    done = completed
                    metrics: dict[str, float] = {"loss": losses[-1]}
                    if done % recipe.eval_every == 0 or done == recipe.steps:
                        metrics = {
                            "step": done,
                            "loss": sum(losses) / len(losses),
                            **setup.evaluate(model, dev),
                        }
                        history.append(metrics)
                        losses = []
                        _write_json(out / "history.json", history)
                        bar.set_postfix(setup.postfix(metrics))
                    if done % recipe.checkpoint_every == 0 or done == recipe.steps:
                        _save(
                            out / "checkpoints" / _step_name(done),
                            model,
                            tokenizer,
                            optimizer,
                            done,
                            history,
                            recipe,
                            setup,
                        )
                    bar.update(1)
                    if callback is not None:
                        callback(done, metrics)
                    if stop.requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            bar.close()
            if consistent:
                _save(
                    out / "interrupted",
                    model,
                    tokenizer,
                    optimizer,
                    completed,
                    history,
                    recipe,
                    setup,
                )
                print(
                    f"\ninterrupted after step {completed}; state saved in "
                    f"{out / 'interrupted'}. Run the same command again to resume.",
                    flush=True,
                )
            else:
                print(
                    "\nstopped in the middle of a step; a resumed run continues from the "
                    "latest checkpoint",
                    flush=True,
                )
            raise
        bar.close()
        final = out / "final"
        _save(final, model, tokenizer, None, recipe.steps, history, recipe, setup)
        for name, text in setup.files.items():
            (final / name).write_text(text)
        shutil.rmtree(out / "interrupted", ignore_errors=True)
    _write_json(out / "history.json", history)
    return TrainingRun(
        out_dir=out,
        recipe=recipe,
        final_dir=final,
        checkpoints=[c for c in list_checkpoints(out) if c[0] <= recipe.steps],
        history=history,
        seconds=time.perf_counter() - started,
    )


def list_checkpoints(out_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, directory) of a run's checkpoints, in step order."""
    base = Path(out_dir) / "checkpoints"
    found = []
    for d in base.glob("step-*") if base.is_dir() else []:
        if (d / "config.json").exists():
            found.append((int(d.name.split("-")[1]), d))
    return sorted(found)


def load_run(out_dir: str | os.PathLike) -> TrainingRun:
    """A finished (or partial) run read back from its directory."""
    out = Path(out_dir)
    if not (out / "recipe.json").exists():
        raise InterpError(f"{str(out)!r} is not a training run directory (no recipe.json)")
    recipe = Recipe.from_dict(json.loads((out / "recipe.json").read_text()))
    history = (
        json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
    )
    final = out / "final"
    return TrainingRun(
        out,
        recipe,
        final if (final / "config.json").exists() else None,
        list_checkpoints(out),
        history,
        0.0,
    )


def _lr(recipe: Recipe, step: int) -> float:
    if recipe.warmup > 0 and step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    return recipe.lr


def _step_name(step: int) -> str:
    return f"step-{step:06d}"


@torch.no_grad()
def _evaluate(model: Model, tokenizer, eval_sets, dev) -> dict[str, float]:
    model.eval()
    out: dict[str, float] = {}
    for name, examples in eval_sets.items():
        m = ioi_metrics(lambda t: model(t).logits, tokenizer, examples, device=dev)
        out[f"{name}_io_over_s"] = m["io_over_s"]
        out[f"{name}_logit_diff"] = m["logit_diff"]
    return out


def _check_recipe(out: Path, recipe: Recipe, resume: bool) -> None:
    path = out / "recipe.json"
    if path.exists() and resume:
        old = Recipe.from_dict(
            json.loads(path.read_text())
        ).to_dict()  # fields added since: defaults
        new = recipe.to_dict()
        diff = sorted(
            k for k in set(old) | set(new) if k not in FREE_FIELDS and old.get(k) != new.get(k)
        )
        if diff:
            raise InterpError(
                f"{str(out)!r} holds a run of a different recipe (fields {diff} differ); "
                "use another directory, or resume=False (--restart) to start over there"
            )
    elif not resume:
        for sub in ("checkpoints", "interrupted", "final"):
            shutil.rmtree(out / sub, ignore_errors=True)
    path.write_text(recipe.to_json())


def _latest_state(out: Path, last: int) -> Path | None:
    """The saved state with the highest step not beyond ``last``."""
    candidates = [(s, d) for s, d in list_checkpoints(out) if (d / STATE_FILE).exists()]
    inter = out / "interrupted"
    if (inter / STATE_FILE).exists():
        saved = json.loads((inter / INFO_FILE).read_text())
        candidates.append((int(saved["step"]), inter))
    candidates = [c for c in candidates if c[0] <= last]
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def _load_model(state: Path, dev):
    from transformers import GPT2LMHeadModel

    from interp.core.hooks import quiet_transformers

    with quiet_transformers():
        model = GPT2LMHeadModel.from_pretrained(state, torch_dtype=torch.float32).to(dev)
    info = json.loads((state / INFO_FILE).read_text())
    return model, int(info["step"]), list(info["history"])


def _save(target: Path, model: Model, tokenizer, optimizer, step, history, recipe, setup) -> None:
    """Write a model directory atomically (a crash never leaves half a checkpoint)."""
    from interp.core.hooks import quiet_transformers

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        info = training_info(recipe, setup.record, step, history)
        _write_json(tmp / INFO_FILE, info)
        if optimizer is not None:
            torch.save(
                {
                    "optimizer": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                },
                tmp / STATE_FILE,
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def training_info(recipe: Recipe, record: dict[str, Any], step: int, history) -> dict[str, Any]:
    """The record kept beside every trained model: recipe, step, the objective's record (IOI:
    held-out name pairs and templates; text: corpus, split, unigram baseline), metrics so far."""
    return {
        "recipe": recipe.to_dict(),
        "step": step,
        **record,
        "history": history,
        "metrics": history[-1] if history else {},
        "torch": torch.__version__,
    }


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


class _StopFlag:
    """Ctrl-C during training sets a flag; the loop saves after the current step."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):
            if self.requested:  # a second Ctrl-C: stop at once
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def _deterministic(dev: torch.device, threads: int):
    """Deterministic kernels and a fixed CPU thread count, restored afterwards."""
    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_threads = torch.get_num_threads()
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=dev.type != "cpu")
    if threads and threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        torch.set_num_threads(old_threads)
