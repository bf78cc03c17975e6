"""``interp lens "PROMPT" --model M --targets " Warsaw" " Poland"``: the logit lens as a table.

Prints, for one position (the last by default), every decoded stream's top-k tokens with
their probabilities and each target's rank and probability; ``--grid`` prints the top-1
token of every stream at every position instead.
"""

from __future__ import annotations

from interp.core.config import add_device_arguments

#: interp.methods.logit_lens's sites, written out so ``interp --help`` does not import torch
SITES = ("embed", "resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")


def register(sub) -> None:
    p = sub.add_parser(
        "lens",
        help="logit lens: decode every layer's residual stream into top tokens",
        description=__doc__,
    )
    p.add_argument("prompt", help="the prompt to analyse")
    p.add_argument("--model", default="reference:recall", help="model name or directory")
    p.add_argument(
        "--targets", nargs="*", default=[], help='tokens to track, e.g. " Warsaw" " Poland"'
    )
    p.add_argument("--k", type=int, default=3, help="top-k tokens per stream")
    p.add_argument(
        "--sites",
        nargs="+",
        default=["embed", "resid_post"],
        choices=SITES,
        help="what to decode: the embedding, residual streams and sublayer outputs",
    )
    p.add_argument("--position", type=int, default=-1, help="position to show (-1: last)")
    p.add_argument("--grid", action="store_true", help="top-1 at every position")
    add_device_arguments(p)
    p.set_defaults(func=cmd_lens)


def cmd_lens(args) -> int:
    from interp.core.config import load_for
    from interp.methods.logit_lens import format_table, logit_lens

    model = load_for(args)
    positions = None if args.grid else [args.position]
    result = logit_lens(
        model, args.prompt, sites=args.sites, targets=args.targets, k=args.k, positions=positions
    )
    print(f"model: {result.model_name}; {result.ln_treatment}")
    print(format_grid(result) if args.grid else format_table(result, position=args.position))
    return 0


def format_grid(result) -> str:
    """Rows: streams; columns: positions; cells: the top-1 token."""
    tokens = result.top_tokens(0)
    header = ["stream"] + [result.str_tokens[0][p] for p in result.positions]
    rows = [
        [name] + [t.strip() or repr(t) for t in row] for name, row in zip(result.streams, tokens)
    ]
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]
    )
