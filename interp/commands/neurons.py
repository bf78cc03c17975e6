"""``interp neuron L N`` (a neuron's value in vocabulary space and its trigger examples) and
``interp mine --corpus PATH`` (mine every neuron's trigger examples into the results store;
``--workers N`` / ``--ray-address ADDRESS`` shard it over Ray workers, :mod:`interp.scale.mining`).
"""

from __future__ import annotations

from interp.core.config import add_device_arguments
from interp.core.errors import InterpError

DEFAULT_MODEL = "reference:recall"


def register(sub) -> None:
    p = sub.add_parser(
        "neuron",
        help="an FFN neuron's value top/bottom tokens and its mined trigger examples",
        description="Print what neuron N of layer L's value vector promotes and suppresses "
        "(projected on the unembedding) and, if the model was mined (`interp mine`), the "
        "text prefixes it fires on most, trigger token in [brackets].",
    )
    p.add_argument("layer", help="layer index (or L2), or the neuron itself: L2N14")
    p.add_argument("neuron", nargs="?", help="neuron index (or N14); omit after L2N14")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name or local directory")
    p.add_argument("--k", type=int, default=10, help="value tokens to show")
    p.add_argument("--examples", type=int, default=5, help="trigger examples to show")
    p.add_argument("--job", help="mining job to read (default: the newest that mined L)")
    add_device_arguments(p)
    p.set_defaults(func=cmd_neuron)

    p = sub.add_parser(
        "mine",
        help="mine every FFN neuron's top trigger examples from a text corpus",
        description="Stream a corpus through the model and keep each neuron's top-k text "
        "prefixes by activation, in the results store (resumable: run it again after an "
        "interruption and it continues from the last checkpoint).",
    )
    p.add_argument(
        "--corpus",
        help="a text file or a directory of .txt files (default: the WordNet glosses "
        "fetched by scripts/get_corpus.sh)",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name or local directory")
    p.add_argument("--layers", type=int, nargs="*", help="layers to mine (default: all)")
    p.add_argument("--k", type=int, default=10, help="trigger examples kept per neuron")
    p.add_argument("--window", type=int, default=32, help="tokens per window (BOS included)")
    p.add_argument(
        "--batch-size", type=int, default=32, help="windows per forward pass (GPU: 256 or more)"
    )
    p.add_argument("--max-tokens", type=int, help="stop after this many corpus tokens")
    p.add_argument("--checkpoint-every", type=int, default=20, help="batches per checkpoint")
    add_device_arguments(p)
    p.add_argument(
        "--workers", type=int,
        help="mine on a local Ray cluster of N workers started here, one model copy each "
        "(one GPU each when there are GPUs); needs the scale extra: pip install -e '.[scale]'",
    )  # fmt: skip
    p.add_argument(
        "--ray-address",
        help="mine on an existing Ray cluster (e.g. auto, HOST:6379, ray://HOST:10001); "
        "--workers then defaults to its GPUs (else its CPUs)",
    )
    p.add_argument(
        "--shard-batches", type=int,
        help="batches per shard on Ray (default: --checkpoint-every, at least 4 shards a worker)",
    )  # fmt: skip
    p.set_defaults(func=cmd_mine)


def _index(text: str, prefix: str, what: str) -> int:
    value = str(text).strip().upper().removeprefix(prefix)
    if not value.isdigit():
        raise InterpError(f"{what} must be a number (or {prefix}<number>); got {text!r}.")
    return int(value)


def _neuron(layer: str, neuron: str | None):
    """``L2 N14``, ``2 14`` or one ``L2N14`` (the components' one parser) -> Neuron."""
    from interp.core.components import Neuron, parse_component

    if neuron is None:
        part = parse_component(layer)
        if not isinstance(part, Neuron):
            raise InterpError(f"{layer!r} is not a neuron; write L2N14, or the layer and neuron")
        return part
    return Neuron(_index(layer, "L", "layer"), _index(neuron, "N", "neuron"))


def cmd_neuron(args) -> int:
    from interp.core.components import Component
    from interp.core.config import load_for
    from interp.core.models import record_of
    from interp.methods.ffn import value_projections
    from interp.methods.mining import examples, jobs, latest_job
    from interp.results.store import ResultsStore

    part = _neuron(args.layer, args.neuron)
    layer, neuron = part
    model = load_for(args)
    Component.of(part).validate(model)
    store = ResultsStore()
    values = value_projections(model, [layer], k=args.k, store=store)
    norm = values.value_norms[0, neuron]
    print(f"{part} of {record_of(model).name}   |value| = {norm:.3f}")
    if norm == 0:
        print("its value vector is zero: this neuron writes nothing to the residual stream")
    else:
        top = values.top(layer, neuron)
        print("value promotes:   " + ", ".join(f"{t!r} {s:+.2f}" for t, s in top))
        bottom = values.bottom(layer, neuron)
        print("value suppresses: " + ", ".join(f"{t!r} {s:+.2f}" for t, s in bottom))
    job = args.job or latest_job(store, model, layer)
    if job is None:
        print(
            f"\nno trigger examples mined for layer {layer} of this model yet; run\n"
            f"  interp mine --model {args.model} --layers {layer}"
        )
        return 0
    info = next((j for j in jobs(store) if j["job"] == job), None)
    if info is None:
        raise InterpError(f"no mining job {job!r} in the results store {store.root}.")
    found = examples(store, job, layer, neuron)[: args.examples]
    print(f"\ntrigger examples ({info['n_tokens']:,} tokens of {info['corpus']}, job {job}):")
    if not found:
        print("  (none stored for this neuron)")
    for ex in found:
        nxt = f"  -> {ex.next_token!r}" if ex.next_token is not None else ""
        context = ex.context[-70:]
        print(f"  {ex.rank + 1:>2}. {ex.activation:8.3f}  …{context}{ex.joiner}[{ex.token}]{nxt}")
    return 0


def cmd_mine(args) -> int:
    from interp.core.config import load_for
    from interp.methods.mining import mine
    from interp.results.store import ResultsStore

    store = ResultsStore()
    options = dict(
        layers=args.layers, k=args.k, window=args.window, batch_size=args.batch_size,
        max_tokens=args.max_tokens, store=store, checkpoint_every=args.checkpoint_every,
    )  # fmt: skip
    workers, address = getattr(args, "workers", None), getattr(args, "ray_address", None)
    if workers is not None and workers < 1:
        raise InterpError(f"--workers must be at least 1; got {workers}.")
    if (workers or 1) > 1 or address:
        from interp.scale.cluster import require_ray
        from interp.scale.mining import mine_on_ray

        require_ray()
        if args.dtype not in ("float32", "fp32"):
            raise InterpError("Ray workers mine in float32; drop --dtype or mine in one process")
        result = mine_on_ray(
            args.model, args.corpus, workers=workers, address=address, device=args.device,
            shard_batches=getattr(args, "shard_batches", None), **options,
        )  # fmt: skip
    else:
        result = mine(load_for(args), args.corpus, **options)
    print(
        f"mined {result.n_tokens:,} tokens of {result.corpus} "
        f"({result.n_windows:,} windows of {result.window}) through {result.model}, "
        f"layers {result.layers[0]}..{result.layers[-1]}, top-{result.k} per neuron"
    )
    if result.tokens_per_s:
        print(f"throughput: {result.tokens_per_s:,.0f} tokens/s")
    print(f"job {result.job} in {store.root}")
    print(f"see a neuron with: interp neuron LAYER NEURON --model {args.model}")
    return 0
