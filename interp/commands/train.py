"""``interp train RECIPE --out DIR``: train a small GPT-2 from scratch (see interp.training).

Deterministic for a seed on a CPU, on CUDA when present, with a progress bar (loss, IO > S
on held-out name pairs, logit difference), a checkpoint every ``--checkpoint-every`` steps
(each a ``save_pretrained`` directory that ``--model DIR`` loads) and the final model in
``DIR/final``. Ctrl-C saves the state; the same command resumes it, and the final weights
are bit-identical to an uninterrupted run's.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a small GPT-2 from scratch (recipes: ioi, tiny)",
        description=__doc__,
    )
    p.add_argument("recipe", help="recipe name: ioi (the trained:ioi model) or tiny")
    p.add_argument("--out", default=None, help="run directory (default: runs/RECIPE)")
    p.add_argument("--steps", type=int, default=None, help="training steps (recipe's default)")
    p.add_argument("--seed", type=int, default=None, help="seed (recipe's default: 0)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument(
        "--text-fraction", type=float, default=None, help="fraction of corpus text in a batch"
    )
    p.add_argument("--corpus", default=None, help="text file or folder (default: WordNet glosses)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (recipe's default: 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from interp.training import get_recipe, train

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
    print(f"final model: {run.final_dir}  (load it with --model {run.final_dir})")
    return 0
