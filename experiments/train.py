"""Train a small GPT-2 from scratch and watch its IOI circuit form (issue: trained models).

``python experiments/train.py`` trains the ``ioi`` recipe into ``runs/ioi`` (resuming it if
it is there; Ctrl-C saves and the same command continues with bit-identical results), then
measures every checkpoint (IOI metric, each head's DLA at END and attention scores) and
stores the formation run (kind ``circuit_formation``). ``--ship`` writes the final model and
the checkpoints of ``--ship-steps`` in float16 to ``interp/core/trained/<recipe>/``, which is
what ``interp.core.models.load("trained:ioi")`` reads.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from interp.core.config import DeviceOptions, option
from interp.core.errors import InterpError
from interp.experiment import run_script


@dataclass
class Config(DeviceOptions):
    """Train a recipe, measure circuit formation over its checkpoints."""

    recipe: str = option("ioi", "training recipe: ioi or tiny")
    out: str = option("runs/ioi", "run directory (resumed when present)")
    steps: int | None = option(None, "training steps (default: the recipe's)")
    seed: int | None = option(None, "seed (default: the recipe's)")
    formation: bool = option(True, "measure every checkpoint (DLA, attention, IOI metric)")
    n_prompts: int = option(60, "IOI prompts per checkpoint for the formation study")
    ship: bool = option(False, "export final model + --ship-steps checkpoints into the package")
    ship_steps: list[int] = option([], "checkpoint steps to ship beside the final model")
    store: bool = option(True, "record the formation run in the results store")
    json: str | None = option(None, "write the summary JSON to this path")


def main(config: Config) -> dict[str, Any]:
    from interp.training import train

    if config.dtype not in ("float32", "fp32"):
        raise InterpError(
            f"training and the formation study run in float32; --dtype {config.dtype} is not "
            "supported here (load the trained model in half precision afterwards instead)"
        )
    start = time.perf_counter()
    run = train(config.recipe, config.out, steps=config.steps, seed=config.seed,
                device=config.device)  # fmt: skip
    print(f"trained in {run.seconds:.0f} s (this call); final model {run.final_dir}")
    last = run.history[-1]
    for name in ("pairs", "templates", "both", "train"):
        if f"{name}_io_over_s" in last:
            print(f"  {name:9s} IO > S {last[f'{name}_io_over_s']:.1%}  "
                  f"LD {last[f'{name}_logit_diff']:.2f}")  # fmt: skip
    summary: dict[str, Any] = {"final": str(run.final_dir), "metrics": last}
    if config.ship:
        summary["shipped"] = ship(run, config.ship_steps)
    if config.formation:
        summary.update(formation(run, config))
    summary["seconds"] = time.perf_counter() - start
    return summary


def ship(run, steps: list[int]) -> list[str]:
    from interp.core.trained import trained_dir
    from interp.training.export import export_model

    dest = trained_dir(run.recipe.name)
    written = [str(export_model(run.final_dir, dest))]
    by_step = dict(run.checkpoints)
    for step in steps:
        if step not in by_step:
            raise SystemExit(f"no checkpoint at step {step}; have {sorted(by_step)}")
        written.append(str(export_model(by_step[step], dest / "checkpoints" / f"step-{step:06d}")))
    for path in written:
        print(f"shipped {path}")
    return written


def formation(run, config: Config) -> dict[str, Any]:
    from interp.core.models import load
    from interp.results.base import save
    from interp.studies.formation import circuit_formation

    result = circuit_formation(run.checkpoints, n_prompts=config.n_prompts, device=config.device,
                               history=run.history, run=str(run.out_dir))  # fmt: skip
    print("\n" + result.table())
    print(f"jump (IO > S >= 90%) at step {result.jump_step()}")
    out: dict[str, Any] = {"jump_step": result.jump_step(), "name_movers": result.name_movers()}
    if config.store:
        stored = save(result, model=load(run.final_dir, device="cpu"), config=config,
                      seed=run.recipe.seed)  # fmt: skip
        out["run_id"] = stored.run_id
        print(f"stored run {stored.run_id} (kind circuit_formation)")
    return out


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
