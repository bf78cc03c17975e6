"""``interp train RECIPE --out DIR``: train a small GPT-2 from scratch (see interp.training).

Recipes: ``ioi`` (the trained:ioi model), ``text`` (the trained:text language model on the
WordNet glosses, with its own byte-level BPE), ``tiny`` and ``tiny-text`` (for tests).
Deterministic for a seed on a CPU, on CUDA when present, with a progress bar (loss, IO > S
on held-out name pairs and logit difference; text recipes: held-out loss and the best
induction score), a checkpoint every ``--checkpoint-every`` steps
(each a ``save_pretrained`` directory that ``--model DIR`` loads) and the final model in
``DIR/final``. Ctrl-C saves the state; the same command resumes it, and the final weights
are bit-identical to an uninterrupted run's.
"""

from __future__ import annotations

import json

from interp.core.config import add_device_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a small GPT-2 from scratch (recipes: ioi, text, tiny, tiny-text)",
        description=__doc__,
    )
    p.add_argument(
        "recipe",
        help="recipe name: ioi or text (the trained:ioi / trained:text models), tiny, tiny-text",
    )
    p.add_argument("--out", default=None, help="run directory (default: runs/RECIPE)")
    p.add_argument("--steps", type=int, default=None, help="training steps (recipe's default)")
    p.add_argument("--seed", type=int, default=None, help="seed (recipe's default: 0)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument(
        "--text-fraction", type=float, default=None, help="fraction of corpus text in a batch"
    )
    p.add_argument("--corpus", default=None, help="text file or folder (default: WordNet glosses)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (recipe's default: 1)")
    add_device_arguments(p)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from interp.core.errors import InterpError
    from interp.training import get_recipe, train

    if args.dtype not in ("float32", "fp32"):
        raise InterpError(f"training runs in float32; --dtype {args.dtype} is not supported here")
    recipe = get_recipe(
        args.recipe, text_fraction=args.text_fraction, corpus=args.corpus, threads=args.threads
    )
    out = args.out or f"runs/{recipe.name}"
    run = train(
        recipe,
        out,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        checkpoint_every=args.checkpoint_every,
        resume=not args.restart,
    )
    last = run.history[-1] if run.history else {}
    print(f"trained {run.recipe.name} for {run.recipe.steps} steps in {run.seconds:.0f} s")
    for name in ("pairs", "templates", "both", "train"):
        if f"{name}_io_over_s" in last:
            print(
                f"  {name:9s} IO > S {last[f'{name}_io_over_s']:.1%}  "
                f"logit diff {last[f'{name}_logit_diff']:.2f}"
            )
    if "heldout_loss" in last and run.final_dir is not None:
        from interp.training.loop import INFO_FILE

        unigram = json.loads((run.final_dir / INFO_FILE).read_text())["unigram"]
        print(
            f"  held-out loss {last['heldout_loss']:.3f} (perplexity {last['heldout_ppl']:.1f}); "
            f"unigram baseline {unigram['heldout_loss']:.3f} ({unigram['heldout_ppl']:.1f})"
        )
        print(f"  best induction score {last['induction_max']:.2f} ({last['induction_head']})")
    print(f"final model: {run.final_dir}  (load it with --model {run.final_dir})")
    return 0
