"""FFN layers as key-value memories (Geva et al. 2021, 2022): the full analysis, stored.

1. **Values**: every neuron's value vector projected on the vocabulary (top / bottom tokens),
   all layers, cached in the results store.
2. **Keys**: every neuron's top-k trigger examples mined from a corpus (default: the WordNet
   glosses, fetched with ``apt-get download wordnet-base`` when missing), resumable.
3. **Agreement**: per layer, the share of neurons whose value's top token is the next token
   of their top trigger example, against a shuffled baseline (Geva 2021, Fig. 6).
4. **Prediction attribution**: for each prompt, the neurons and heads that push the target
   most (activation x value . unembedding; direct logit attribution for heads).
5. **Interventions**: switching those neurons off (LM-Debugger): top tokens before / after.

On ``reference:recall`` (the default) the prompts are the planted memories ("I like the
coffee" -> "cup") and the planted neurons are printed beside what was found. On GPT-2 the
published numbers (PAPERS.md) are printed beside the measured ones, labelled "paper".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from interp.core.components import Neuron
from interp.core.config import DeviceOptions, load_for, option
from interp.experiment import run_script

PAPER = "paper (Geva et al. 2021, 16-layer WikiText-103 LM)"
PAPER_AGREEMENT = {
    "lower layers": "~0%",
    "top layer": "~3.5%",
    "random": "~0.0004%",
}
DEFAULT_PROMPTS = ["The capital of France is", "I drank a cup of hot", "The stock market"]
DEFAULT_TARGETS = [" Paris", " coffee", " crashed"]


@dataclass
class Config(DeviceOptions):
    """FFN key-value memories (Geva et al. 2021, 2022)."""

    model: str = option("reference:recall", "model: reference:recall, gpt2-small, a local dir")
    corpus: str = option("", "text file or directory of .txt files (default: WordNet glosses)")
    fetch: bool = option(True, "fetch the default corpus (apt-get download) when it is missing")
    max_tokens: int = option(
        250_000, "corpus tokens to mine (0: the whole corpus; WordNet has 1.83 M with separators)"
    )
    window: int = option(32, "tokens per mining window (BOS included)")
    k: int = option(10, "trigger examples kept per neuron, and value tokens per neuron")
    batch_size: int = option(32, "windows per forward pass while mining")
    examples: int = option(1, "top trigger examples whose next token may agree with the value")
    n_shuffles: int = option(100, "permutations for the shuffled agreement baseline")
    prompts: list[str] = option(DEFAULT_PROMPTS, "prompts to attribute (non-reference models)")
    targets: list[str] = option(DEFAULT_TARGETS, "one target token per prompt")
    template: str = option("I like the {trigger}", "reference prompts: {trigger} is replaced")
    top: int = option(10, "components listed per prompt")
    switch_off: int = option(3, "top neurons switched off per prompt (non-reference models)")
    seed: int = option(0, "seed of the shuffled baseline")
    store: bool = option(True, "record the runs in the results store")
    json: str | None = option(None, "write the summary JSON to this path")


def _corpus(config: Config):
    from interp.core.corpus import default_corpus_path, fetch_default_corpus

    if config.corpus:
        return config.corpus
    if not default_corpus_path().exists() and config.fetch:
        print("fetching the default corpus (WordNet glosses from Debian's wordnet-base) ...")
        fetch_default_corpus()
    return None


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import record_of
    from interp.methods.ffn import agreement, value_projections
    from interp.methods.mining import examples, mine
    from interp.methods.prediction import attribute_predictions, switch_components
    from interp.results.base import save_with_parts
    from interp.results.store import ResultsStore

    model = load_for(config)
    record = record_of(model)
    store = ResultsStore()
    planted = (record.reference or {}).get("memories") if record.is_reference else None
    print(f"model: {record.name}  ({record.n_layers} layers x {record.d_mlp} neurons; "
          f"weights: {record.weight_processing})")  # fmt: skip

    # 1-2. values and keys
    values = value_projections(model, None, k=config.k, store=store)
    mining = mine(
        model, _corpus(config), k=config.k, window=config.window,
        batch_size=config.batch_size, max_tokens=config.max_tokens or None, store=store,
    )  # fmt: skip
    print(f"\n== mining: {mining.n_tokens:,} tokens of {mining.corpus} (job {mining.job})")
    if mining.tokens_per_s:
        print(f"   throughput {mining.tokens_per_s:,.0f} tokens/s")

    # 3. agreement
    agree = agreement(
        values, mining, examples=config.examples, n_shuffles=config.n_shuffles, seed=config.seed
    )
    print("\n== key-value agreement: value's top token = next token of the top trigger")
    header = f"   {'layer':>5} {'neurons':>8} {'measured':>10} {'shuffled':>10}"
    print(header + (f"   {PAPER}" if not record.is_reference else ""))
    for i, layer in enumerate(agree.layers):
        paper = ""
        if not record.is_reference:
            paper = PAPER_AGREEMENT["top layer"] if i == len(agree.layers) - 1 else ""
            paper = paper or (PAPER_AGREEMENT["lower layers"] if i < len(agree.layers) // 2 else "")
        live = agree.n_neurons[i] > 0
        rate = _pct(agree.rate[i]) if live else "-"
        base = _pct(agree.baseline[i]) if live else "-"
        print(f"   {layer:>5} {agree.n_neurons[i]:>8} {rate:>10} {base:>10}   {paper}")
    if not record.is_reference:
        print(f"   random (paper): {PAPER_AGREEMENT['random']}")

    # 4-5. prediction attribution and interventions
    if planted:
        prompts = [config.template.format(trigger=m["trigger"]) for m in planted]
        targets = [m["target"] for m in planted]
    else:
        prompts, targets = list(config.prompts), list(config.targets)
    attributions = attribute_predictions(model, prompts, targets, top=config.top)
    effects = []
    for i, att in enumerate(attributions):
        if planted:
            switched = [str(Neuron(planted[i]["layer"], planted[i]["neuron"]))]
        else:
            switched = [str(Neuron(layer, n)) for layer, n, _ in att.top_neurons(config.switch_off)]
        effects.append(
            switch_components(model, att.prompt, switched, 0.0, target=att.target_id, n_generate=3)
        )

    memories = []
    print("\n== predictions: the components that push the target most")
    for i, (att, eff) in enumerate(zip(attributions, effects)):
        print(f"\n   “{att.prompt}” -> {att.target!r}: logit {att.logit:.2f}, p={att.prob:.3f}, "
              f"rank {att.rank} (model's top-1: {att.predicted!r})")  # fmt: skip
        for row in att.table[: min(5, config.top)]:
            extra = f"  activation {row['activation']:.2f}" if row["kind"] == "neuron" else ""
            print(f"     {row['component']:>9} {row['score']:+8.3f}{extra}")
        print(
            f"     switching off {', '.join(eff.components)}: top-1 {eff.top_before[0][0]!r} -> "
            f"{eff.top_after[0][0]!r}; p({att.target!r}) {eff.target_prob_before:.3f} -> "
            f"{eff.target_prob_after:.3f}; greedy: {eff.generated_before!r} -> "
            f"{eff.generated_after!r}"
        )
        if planted:
            memories.append(_planted_vs_found(model, planted[i], values, mining, att, eff))

    if planted:
        print("\n== planted memories: planted vs found")
        cols = ("trigger", "target", "planted", "top trigger", "value top", "attribution",
                "after off")  # fmt: skip
        print("   " + " ".join(f"{c:>12}" for c in cols))
        for m in memories:
            keys = ("trigger", "target", "planted", "found_trigger_neuron", "value_top_token",
                    "found_attribution_neuron", "top1_after_off")  # fmt: skip
            row = [m[key] for key in keys]
            print("   " + " ".join(f"{str(c):>12}" for c in row))
        print(f"   all recovered: {all(m['recovered'] for m in memories)}")
        example = examples(store, mining.job, planted[0]["layer"], planted[0]["neuron"])
        if example:
            print(f"   e.g. top trigger of {memories[0]['planted']}: …{example[0].text[-60:]}")

    summary: dict[str, Any] = {
        "model": record.name,
        "corpus": mining.corpus,
        "n_tokens": mining.n_tokens,
        "mining_job": mining.job,
        "tokens_per_s": mining.tokens_per_s,
        "agreement": {str(layer): float(r) for layer, r in zip(agree.layers, agree.rate)},
        "agreement_baseline": {
            str(layer): float(b) for layer, b in zip(agree.layers, agree.baseline)
        },
        "predictions": [
            {"prompt": a.prompt, "target": a.target, "top": a.table[:3]} for a in attributions
        ],
        "interventions": [
            {
                "components": e.components,
                "top1_before": e.top_before[0][0],
                "top1_after": e.top_after[0][0],
                "target_prob_before": e.target_prob_before,
                "target_prob_after": e.target_prob_after,
            }
            for e in effects
        ],  # fmt: skip
    }
    if planted:
        summary["memories"] = memories
        summary["all_recovered"] = all(m["recovered"] for m in memories)
    if config.store:
        parts = {"mining": mining, "agreement": agree, "predictions": list(attributions),
                 "interventions": list(effects)}  # fmt: skip
        run = save_with_parts(
            "ffn_memories", parts, model=record, config=config, seed=config.seed, store=store,
            summary=summary, arrays={"agreement": agree.rate, "baseline": agree.baseline},
        )  # fmt: skip
        print(f"\nstored: ffn_memories run {run.run_id} (and its mining, agreement, "
              f"prediction and intervention runs)")  # fmt: skip
    return summary


def _planted_vs_found(model, memory, values, mining, att, eff) -> dict[str, Any]:
    """One planted memory against what was found: the neuron whose top trigger example is the
    trigger token with the highest activation, the planted neuron's value top token, the
    neuron attributed most to the target, and the top-1 token with the planted one off."""
    import numpy as np

    from interp.core.tokens import single_token_id

    layer, neuron = memory["layer"], memory["neuron"]
    trigger_id = single_token_id(model, memory["trigger"])
    fires = np.where(mining.token[:, :, 0] == trigger_id, mining.activation[:, :, 0], -np.inf)
    slot, best = np.unravel_index(np.argmax(fires), fires.shape)
    found_trigger = str(Neuron(mining.layers[slot], best)) if np.isfinite(fires.max()) else "-"
    value_top = values.top(layer, neuron, 1)[0][0].strip()
    top_layer, top_neuron, _ = att.top_neurons(1)[0]
    planted, found_attr = str(Neuron(layer, neuron)), str(Neuron(top_layer, top_neuron))
    after = eff.top_after[0][0].strip()
    return {
        "trigger": memory["trigger"],
        "target": memory["target"],
        "planted": planted,
        "found_trigger_neuron": found_trigger,
        "value_top_token": value_top,
        "found_attribution_neuron": found_attr,
        "top1_after_off": after,
        "recovered": found_trigger == planted == found_attr
        and value_top == memory["target"]
        and after != memory["target"],
    }


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
