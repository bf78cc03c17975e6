"""Poland -> Warsaw: where a model recalls a country's capital, and whether one FFN vector
does it (Merullo, Eickhoff & Pavlick 2023).

On the few-shot prompt "Q: What is the capital of France? A: Paris Q: What is the capital
of Poland? A:" and >= 30 country -> capital pairs (those that are single tokens for the
model; the others are listed as dropped):

* the logit lens (final LN recomputed per layer) finds the layer where the country becomes
  the top token and the layer where the capital does;
* the FFN output o_L of that layer, taken from the Poland prompt, is added to every other
  country's prompt with FFN L ablated: how often does the right capital come out (China ->
  Beijing)? Against random vectors of the same norm;
* zero- and mean-ablating FFN L loses the answer; stating "The capital of Poland is
  Warsaw." first brings it back with FFN L still ablated;
* the same pipeline for a second relation (past tense), and word-vector analogies in the
  embedding (biggest - big + small ~= smallest).

With ``--model reference:recall`` (the default; ``--planted-layer L`` moves its capital FFN to
layer L) the planted layers are printed beside what was found. On GPT-2 medium the paper's
numbers are printed beside the measured ones.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from interp.core.config import option
from interp.core.errors import InterpError
from interp.experiment import progress, run_script

PAPER = "paper (Merullo et al. 2023, GPT-2 medium)"
#: published numbers, printed beside the measured ones on GPT-2 medium (PAPERS.md)
PAPER_GPT2_MEDIUM = {
    "capital": {
        "subject_layer": "14-18 (Poland top-1)",
        "answer_layer": "19 (Warsaw after FFN 19)",
        "transfer": "21.3% top-1 (o-vector into FFNs 18-23, unrelated contexts)",
        "mrr": "answer rank ~10 -> ~4",
        "headline": "Beijing",
    },
    "past_tense": {"answer_layer": "18 (FFN 18)", "transfer": "7.8% top-1"},
}


@dataclass
class Config:
    """Poland -> Warsaw (Merullo et al. 2023)."""

    model: str = option("reference:recall", "model: reference:recall, gpt2-medium, a local dir")
    planted_layer: int | None = option(
        None, "build reference:recall with its country->capital FFN at this layer"
    )
    layer: int | None = option(
        None, "FFN layer to take o_L from (default: where the capital becomes top-1)"
    )
    second_relation: str = option("past_tense", "second relation run through the same pipeline")
    n_random: int = option(10, "random vectors of o_L's norm for the baseline")
    seed: int = option(0, "seed of the random baseline")
    device: str = option("auto", "auto, cpu, cuda or mps")
    store: bool = option(True, "record the run in the results store (kind 'capitals')")
    json: str | None = option(None, "write the summary JSON to this path")


def model_name(config: Config) -> str:
    from interp.core.models import REFERENCE_PREFIX, parse_reference_name, reference_name

    if config.planted_layer is None:
        return config.model
    if not config.model.startswith(REFERENCE_PREFIX + "recall"):
        raise InterpError("--planted-layer only applies to --model reference:recall")
    kind, params = parse_reference_name(config.model)
    return reference_name(kind, **{**params, "capital_layer": config.planted_layer})


def run_relation(model, relation: str, other: str, config: Config):
    from interp.studies.recall import recall_relation

    return recall_relation(
        model,
        relation,
        other,
        layer=config.layer if relation == "capital" else None,
        n_random=config.n_random,
        seed=config.seed,
        progress=True,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_summary(result, reference: dict[str, Any], reference_label: str) -> None:
    """The relation's table: measured beside ``reference`` (planted layers, or the paper)."""
    s = result.headline_summary()
    src, tgt = result.headline, result.headline_target
    print(f"\n== {result.relation}: {len(result.subjects)} pairs ({len(result.dropped)} dropped)")
    for d in result.dropped:
        print(f"   dropped {d['subject']} -> {d['answer']}: {d['reason']}")
    yes = lambda v: "yes" if v else "no"  # noqa: E731
    rows = [
        ("subject top-1 from layer", s["subject_layer"], "subject_layer"),
        ("answer top-1 from layer", s["answer_layer"], "answer_layer"),
        ("o-vector taken from FFN layer", s["ffn_layer"], ""),
        ("clean accuracy", _pct(s["clean_accuracy"]), ""),
        (f"transfer accuracy (o_L from {src[0]})", _pct(s["transfer_accuracy"]), "transfer"),
        (
            "  answer MRR: ablated -> transferred",
            f"{s['ablated_mrr']:.2f} -> {s['transfer_mrr']:.2f}",
            "mrr",
        ),
        ("random-vector baseline", _pct(s["random_baseline_accuracy"]), ""),
        (f"{tgt[0]} + o_L ->", s["headline_transfer_top"].strip(), "headline"),
        ("FFN L zero-ablated accuracy", _pct(s["ablated_accuracy"]), ""),
        ("FFN L mean-ablated accuracy", _pct(s["mean_ablated_accuracy"]), ""),
        ("fact in context, FFN L ablated", _pct(s["in_context_accuracy"]), ""),
        (
            f"{src[0]}: correct clean / ablated / in context",
            " / ".join(
                yes(v)
                for v in (
                    result.clean_correct,
                    s["ablated_correct"],
                    s["in_context_restored_correct"],
                )
            ),
            "",
        ),
    ]
    print(f"   {'':44} {'measured':<22} {reference_label if reference else ''}")
    for label, value, key in rows:
        print(f"   {label:44} {value!s:<22} {reference.get(key, '')}")
    print(f"   mean ablation reference: {result.mean_reference}")


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import load, record_of
    from interp.methods.arithmetic import SEED_ANALOGIES, analogies
    from interp.results.base import save
    from interp.studies.recall import CapitalsResult
    from interp.tasks.relations import RELATIONS, analogy_questions, get_relation

    get_relation(config.second_relation)
    if config.second_relation == "capital":
        raise InterpError("--second-relation must differ from capital")
    name = model_name(config)
    model = load(name, device=config.device)
    record = record_of(model)
    planted = (
        record.reference
        if record.is_reference and record.reference.get("kind") == "recall"
        else None
    )
    is_medium = record.n_layers == 24 and record.d_model == 1024 and not record.is_reference

    results = {}
    for relation, other in progress(
        [("capital", config.second_relation), (config.second_relation, "capital")],
        desc="relations",
    ):
        results[relation] = run_relation(model, relation, other, config)
    capital, second = results["capital"], results[config.second_relation]

    questions = list(SEED_ANALOGIES)
    for rel in RELATIONS.values():
        questions += analogy_questions(list(rel.pairs))
    if planted:
        for pairs in (v["pairs"] for v in planted["relations"].values()):
            questions += [
                q for q in analogy_questions([tuple(p) for p in pairs]) if q not in questions
            ]
    analogy = analogies(model, questions)

    print(f"model: {record.name}  ({record.n_layers} layers; weights: {record.weight_processing})")
    print(f"logit lens: {capital.ln_treatment}")
    for rel, res in results.items():
        if planted:
            reference = {
                "subject_layer": planted["mover_layer"],
                "answer_layer": planted["relation_layers"].get(rel, ""),
                "headline": res.headline_target[1],
            }
            print_summary(res, reference, "planted")
        elif is_medium:
            print_summary(res, PAPER_GPT2_MEDIUM.get(rel, {}), PAPER)
        else:
            print_summary(res, {"headline": res.headline_target[1]}, "expected")
    print(
        f"\n== word arithmetic in W_E: top-1 {_pct(analogy.accuracy)} of {len(analogy.questions)}"
        f" analogies ({len(analogy.dropped)} dropped)"
    )
    for q, pred, ok in list(zip(analogy.questions, analogy.predictions, analogy.correct))[:4]:
        verdict = "right" if ok else f"expected {q[3]}"
        print(f"   {q[0]} - {q[1]} + {q[2]} = {pred.strip()}  ({verdict})")

    summary: dict[str, Any] = {
        "model": record.name,
        "country_layer": capital.subject_layer,
        "capital_layer": capital.answer_layer,
        "ffn_layer": capital.ffn_layer,
        "transfer_accuracy": capital.transfer_accuracy,
        "random_baseline_accuracy": capital.random_baseline_accuracy,
        "ablated_correct": capital.ablated_correct,
        "mean_ablated_correct": capital.mean_ablated_correct,
        "in_context_restored_correct": capital.in_context_restored_correct,
        "capital": capital.headline_summary(),
        "dropped": capital.dropped,
        config.second_relation: second.headline_summary(),
        "analogy_accuracy": analogy.accuracy,
        "n_analogies": len(analogy.questions),
        "weight_processing": record.weight_processing,
    }
    if planted:
        summary["planted_layer"] = planted["capital_layer"]
        summary["planted_country_layer"] = planted["mover_layer"]
        summary["planted_past_layer"] = planted["past_layer"]
    if is_medium:
        summary["paper"] = PAPER_GPT2_MEDIUM
    if config.store:
        fields = {f.name: getattr(capital, f.name) for f in dataclasses.fields(capital)}
        stored = CapitalsResult(**fields, second_relation=second.headline_summary())
        run = save(
            stored,
            model=model,
            config=config,
            seed=config.seed,
            extra_summary={
                "analogy_accuracy": analogy.accuracy,
                "planted_layer": summary.get("planted_layer"),
            },
        )
        summary["run_id"] = run.run_id
        print(f"\nstored run {run.run_id} (kind capitals)")
    return summary


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
