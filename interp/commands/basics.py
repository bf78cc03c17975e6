"""``interp models`` (what can be loaded here, and from where), ``interp runs`` (the results
store), ``interp show RUN_ID`` (one run's config and summary)."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("models", help="list the models that can be loaded here, and from where")
    p.add_argument("--vocab", action="store_true", help="print the reference models' vocabulary")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("runs", help="list stored runs (newest first)")
    p.add_argument("--kind", help="only runs of this kind (ioi, capitals, ffn_values, ...)")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="print one stored run's model, config and summary")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_show)


def cmd_models(args) -> int:
    if args.vocab:
        from interp.core.reference.tokenizer import vocabulary

        print(" ".join(vocabulary()))
        return 0
    from interp.core.models import model_sources

    rows = model_sources()
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}}  available  source")
    for r in rows:
        print(f"{r['model']:<{width}}  {r['available']:<9}  {r['source']}")
    if any(r["available"] == "no" for r in rows):
        print(
            "\nGPT-2 weights are not available on this machine. Save them elsewhere with "
            "save_pretrained and pass the directory (--model ./gpt2-small), or set "
            "INTERP_MODELS_DIR. Any local GPT-2 directory can also be given by path."
        )
    return 0


def cmd_runs(args) -> int:
    from interp.results.store import ResultsStore, format_runs_table

    store = ResultsStore()
    records = store.list(kind=args.kind, limit=args.limit)
    if not records:
        print(f"no stored runs in {store.root}")
        return 0
    print(format_runs_table(records))
    return 0


def cmd_show(args) -> int:
    from interp.results.store import ResultsStore

    record = ResultsStore().get(args.run_id)
    print(
        json.dumps(
            {
                "run_id": record.run_id,
                "kind": record.kind,
                "model": record.model,
                "config": record.config,
                "seed": record.seed,
                "code_version": record.code_version,
                "started_at": record.started_at,
                "finished_at": record.finished_at,
                "summary": record.summary,
                "arrays": record.array_names,
            },
            indent=2,
            default=str,
        )
    )
    return 0
