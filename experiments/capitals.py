"""Poland -> Warsaw: where a model recalls a country's capital, and whether one FFN vector
does it (Merullo, Eickhoff & Pavlick 2023).

On the few-shot prompt "Q: What is the capital of France? A: Paris Q: What is the capital
of Poland? A:" and >= 30 country -> capital pairs (those that are single tokens for the
model; the others are listed as dropped):

* the logit lens (final LN recomputed per layer) finds the layer where the country becomes
  the top token and the layer where the capital does;
* Merullo et al.'s transfer, as published: the FFN output o_L of that layer, taken from
  the Poland prompt, replaces the outputs of FFNs L-1 .. last at every position of
  *unrelated* contexts ("table mug free China table mug free China table mug free"): how
  often is the capital the top-1 token (China -> Beijing; GPT-2 medium: 21.3%)? Against
  the same FFNs set to zero and to random vectors of o_L's norm;
* the same-template last-position transfer (not the paper's protocol, and much easier): o_L
  added at FFN L of the last position of every other country's few-shot prompt, with FFN L
  ablated;
* zero- and mean-ablating FFN L loses the answer; stating "The capital of Poland is
  Warsaw." first brings it back with FFN L still ablated;
* the same pipeline for a second relation (past tense), and word-vector analogies in the
  embedding (biggest - big + small ~= smallest).

With ``--model reference:recall`` (the default; ``--planted-layer L`` moves its capital FFN to
layer L) the planted layers are printed beside what was found. On GPT-2 medium the paper's
numbers are printed beside the measured ones, only in the rows that measure the same
quantity, with a note where the setting differs (``--no-bos`` tokenises as the paper's code
does). The answer-layer rule is printed with every table.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from interp.core.config import DeviceOptions, load_for, option
from interp.core.errors import InterpError
from interp.experiment import progress, run_script


@dataclass
class Config(DeviceOptions):
    """Poland -> Warsaw (Merullo et al. 2023)."""

    model: str = option("reference:recall", "model: reference:recall, gpt2-medium, a local dir")
    planted_layer: int | None = option(
        None, "build reference:recall with its country->capital FFN at this layer"
    )
    layer: int | None = option(
        None, "FFN layer to take o_L from (default: where the capital becomes top-1)"
    )
    second_relation: str = option("past_tense", "second relation run through the same pipeline")
    transfer_layers: list[int] = option(
        [], "FFNs whose outputs the paper's transfer replaces by o_L (default: L-1 to the last)"
    )
    n_random: int = option(10, "random vectors of o_L's norm for the baseline")
    seed: int = option(0, "seed of the random baseline and of the unrelated contexts")
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
        transfer_layers=(config.transfer_layers or None) if relation == "capital" else None,
        n_random=config.n_random,
        seed=config.seed,
        progress=True,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_summary(result, planted: dict[str, Any] | None, paper: dict[str, str] | None) -> None:
    """The relation's table (:func:`interp.views.recall.relation_rows`): measured beside
    what the reference model planted, or beside the paper's numbers on GPT-2 medium (only
    in the rows that measure the paper's quantity)."""
    from interp.views.recall import PAPER_LABEL, relation_rows, summary_notes

    s = result.headline_summary()
    print(f"\n== {result.relation}: {len(result.subjects)} pairs ({len(result.dropped)} dropped)")
    for d in result.dropped:
        print(f"   dropped {d['subject']} -> {d['answer']}: {d['reason']}")
    print(f"   {result.layer_rule}")
    print(f"   o-vector FFN: layer {result.ffn_layer} ({result.ffn_layer_rule})")
    rows = relation_rows(s, planted=planted, paper=paper)
    extra = "planted" if planted is not None else (PAPER_LABEL if paper is not None else None)
    width = max(len(row["quantity"]) for row in rows)
    print(f"      {'':{width}}  {'measured':<34} {extra or ''}")
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            print(f"   -- {section}")
        ref = row.get(extra, "") if extra else ""
        print(f"      {row['quantity']:{width}}  {row['measured']:<34} {ref}")
    src = result.headline[0]
    yes = lambda v: "yes" if v else "no"  # noqa: E731
    flags = (result.clean_correct, s["ablated_correct"], s["in_context_restored_correct"])
    print(f"   {src}: correct clean / FFN L ablated / in context: " + " / ".join(map(yes, flags)))
    print(f"   mean ablation reference: {result.mean_reference}")
    for note in summary_notes(s, paper=paper is not None):
        print(f"   note: {note}")


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import record_of
    from interp.methods.arithmetic import SEED_ANALOGIES, analogies
    from interp.results.base import save
    from interp.studies.recall import CapitalsResult
    from interp.tasks.relations import RELATIONS, analogy_questions, get_relation
    from interp.views.recall import PAPER_GPT2_MEDIUM, is_gpt2_medium, planted_values

    get_relation(config.second_relation)
    if config.second_relation == "capital":
        raise InterpError("--second-relation must differ from capital")
    name = model_name(config)
    model = load_for(config, name)
    record = record_of(model)
    planted = (
        record.reference
        if record.is_reference and record.reference.get("kind") == "recall"
        else None
    )
    is_medium = is_gpt2_medium(record.to_dict())

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
    bos = "BOS prepended" if record.prepend_bos else "no BOS (as the paper's code)"
    print(f"prompts: {bos}")
    for res in results.values():
        summary_ = res.headline_summary()
        print_summary(
            res,
            planted_values(record.reference, summary_) if planted else None,
            PAPER_GPT2_MEDIUM.get(res.relation, {}) if is_medium else None,
        )
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
        "transfer_accuracy": capital.transfer_accuracy,  # same template, not the paper's
        "random_baseline_accuracy": capital.random_baseline_accuracy,
        "unrelated_transfer_accuracy": capital.unrelated_transfer["transfer_accuracy"],
        "unrelated_clean_accuracy": capital.unrelated_transfer["clean_accuracy"],
        "unrelated_zero_accuracy": capital.unrelated_transfer["zero_accuracy"],
        "prepend_bos": record.prepend_bos,
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
                "paper": summary.get("paper"),
            },
        )
        summary["run_id"] = run.run_id
        print(f"\nstored run {run.run_id} (kind capitals)")
    return summary


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
