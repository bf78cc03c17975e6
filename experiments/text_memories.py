"""FFN key-value memories of a model trained on real English (Geva et al. 2021), measured.

Geva et al. 2021 read each FFN neuron as a memory: its *key* fires on text patterns (its top
*trigger examples* in a corpus), its *value* promotes tokens (``v_i W_U``). On a model that
*learned* its weights (``trained:text``: a small GPT-2 trained here on WordNet glosses; no
memory was planted) this script measures, on a bounded slice of text:

1. **Keys**: every neuron's top-k trigger examples over the corpus
   (:func:`interp.methods.mining.mine`: exact, resumable, stored in the results store).
2. **Values**: every neuron's value projected on the vocabulary
   (:func:`interp.methods.ffn.value_projections`).
3. **Agreement** per layer (:func:`interp.methods.ffn.agreement`): the share of neurons whose
   value's top token is the token that followed their top trigger example, against a
   baseline that shuffles the trigger examples' next tokens across the layer's neurons
   (``--n-shuffles`` permutations, ``--seed``; the exact permutation mean too). Geva et al.
   report about 0% in the lower layers rising to about 3.5% in the top layer of their
   16-layer WikiText-103 model: printed beside the measured numbers, labelled "paper" (a
   different model and corpus).
4. **What the neurons respond to**: for a few neurons per layer, the top trigger examples
   (trigger token in [brackets], the next token after ``->``) and the value's top tokens;
   and per layer the share of a neuron's top-k triggers that are the same token (a shallow,
   lexical key) — Geva et al. find shallow patterns below and semantic ones above.

By default it mines text the model never trained on (``--split heldout``): the held-out
documents its training record names, cut from the WordNet glosses (``scripts/get_corpus.sh``);
without the glosses, the held-out sample shipped beside the weights. ``--split corpus``
mines the glosses from the start instead (mostly training text, as Geva et al. mined their
model's training data); ``--max-tokens`` bounds either.

    python experiments/text_memories.py                       # trained:text, held-out text
    python experiments/text_memories.py --split corpus --max-tokens 200000
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interp.core.config import DeviceOptions, load_for, option
from interp.experiment import run_script

PAPER = "paper (Geva et al. 2021: 16-layer WikiText-103 LM, another model and corpus)"
#: the held-out sample a trained text model ships beside its weights
HELDOUT_FILE = "heldout.txt"
#: the training record of a trained model (recipe, held-out blocks of the corpus)
TRAINING_FILE = "interp_training.json"
SPLITS = ("heldout", "sample", "corpus")


@dataclass
class Config(DeviceOptions):
    """FFN key-value memories on real text (Geva et al. 2021)."""

    model: str = option("trained:text", "model: trained:text, trained:ioi, gpt2-small, a dir")
    split: str = option(
        "heldout", "text to mine when --corpus is not given: heldout (the documents the model "
        "never trained on, rebuilt from its training record and the WordNet glosses; else its "
        "shipped sample), sample (the shipped held-out sample only) or corpus (the WordNet "
        "glosses from the start, mostly training text, as Geva et al. mined training data)"
    )  # fmt: skip
    corpus: str = option("", "a text file or directory of .txt files to mine instead")
    fetch: bool = option(True, "fetch the WordNet glosses (apt-get download) when missing")
    max_tokens: int = option(200_000, "corpus tokens to mine at most (0: all of it)")
    window: int = option(64, "tokens per mining window (BOS included; at most the context)")
    k: int = option(10, "trigger examples kept per neuron, and value tokens per neuron")
    batch_size: int = option(64, "windows per forward pass while mining")
    examples: int = option(1, "top trigger examples whose next token may agree with the value")
    n_shuffles: int = option(100, "permutations for the shuffled agreement baseline")
    seed: int = option(0, "seed of the shuffled baseline and of the neurons shown")
    show: int = option(3, "neurons shown per layer (one agreeing neuron, then random ones)")
    show_examples: int = option(4, "trigger examples shown per neuron")
    store: bool = option(True, "record the runs in the results store (kind 'ffn_memories')")
    json: str | None = option(None, "write the summary JSON to this path")


def heldout_documents(location: str | Path) -> Path | None:
    """The documents a trained text model never saw, as a corpus file: its training record
    names the held-out blocks of the corpus (``heldout_blocks`` of ``block_size``
    consecutive documents); they are cut from the local corpus (which must have the
    record's fingerprint) and written once under ``$INTERP_CACHE_DIR/corpus/heldout``.
    None when the model has no such record or the corpus is not here."""
    import hashlib
    import json

    from interp.core.corpus import default_corpus_path, documents, fingerprint
    from interp.core.settings import cache_dir

    info_file = Path(location) / TRAINING_FILE
    if not info_file.is_file():
        return None
    info = json.loads(info_file.read_text())
    blocks, size = info.get("heldout_blocks"), info.get("block_size")
    recipe = info.get("recipe") or {}
    if not blocks or not size:
        return None
    source = Path(recipe["corpus"]) if recipe.get("corpus") else default_corpus_path()
    want = (info.get("corpus") or {}).get("fingerprint")
    if not source.exists() or (want and fingerprint(source) != want):
        return None
    key = hashlib.sha256(json.dumps([want, size, blocks]).encode()).hexdigest()[:16]
    out = cache_dir() / "corpus" / "heldout" / f"heldout-{key}.txt"
    if not out.exists():
        held = set(blocks)
        docs = [d for i, d in enumerate(documents(source)) if i // size in held]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
        tmp.replace(out)
    return out


def choose_corpus(config: Config, record) -> tuple[str | None, str]:
    """The corpus to mine (None: the WordNet glosses) and where it comes from, in words."""
    from interp.core.corpus import default_corpus_path, fetch_default_corpus
    from interp.core.errors import InterpError

    if config.corpus:
        return config.corpus, "given with --corpus"
    if config.split not in SPLITS:
        raise InterpError(f"--split must be one of {', '.join(SPLITS)}; got {config.split!r}.")
    sample = Path(record.location) / HELDOUT_FILE
    if config.split == "heldout":
        held = heldout_documents(record.location)
        if held is not None:
            return str(held), "the model's held-out documents (never trained on)"
    if config.split in ("heldout", "sample") and sample.is_file():
        return str(sample), "the held-out sample shipped with the model (never trained on)"
    if config.split == "sample":
        raise InterpError(f"{record.name} ships no held-out sample ({sample} is missing).")
    if not default_corpus_path().exists() and config.fetch:
        print("fetching the default corpus (WordNet glosses from Debian's wordnet-base) ...")
        fetch_default_corpus()
    if config.split == "heldout":
        return (
            None,
            "the WordNet glosses: this model records no held-out text, may be trained on it",
        )
    return None, "the WordNet glosses from the start (the model may have trained on them)"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def same_trigger_share(mining) -> np.ndarray:
    """float64 [layer]: mean over neurons of the share of its top-k trigger examples whose
    trigger token is the neuron's most frequent one (1: a purely lexical key)."""
    out = []
    for slot in range(len(mining.layers)):
        tokens = mining.token[slot]  # [d_mlp, k]
        valid = mining.window_index[slot] >= 0
        shares = []
        for row, ok in zip(tokens, valid):
            if ok.any():
                _, counts = np.unique(row[ok], return_counts=True)
                shares.append(counts.max() / ok.sum())
        out.append(float(np.mean(shares)) if shares else 0.0)
    return np.asarray(out)


def pick_neurons(agree, slot: int, n: int, rng: np.random.Generator) -> list[tuple[int, str]]:
    """Up to ``n`` neurons of a layer: one agreeing neuron (if any), then random ones."""
    agreeing = np.flatnonzero(agree.agrees[slot])
    chosen: list[tuple[int, str]] = []
    if len(agreeing) and n:
        chosen.append((int(rng.choice(agreeing)), "agrees"))
    rest = np.setdiff1d(np.arange(agree.agrees.shape[1]), [c for c, _ in chosen])
    for i in rng.choice(rest, size=min(n - len(chosen), len(rest)), replace=False):
        chosen.append((int(i), "random"))
    return chosen


def _prefix(example, bos: str | None, before: int = 14) -> str:
    """The trigger example's text from its document's start (at most ``before`` tokens),
    the trigger token in [brackets]."""
    pieces, pos = example.pieces, example.position
    start = max(1, pos - before)  # piece 0 is the window's BOS
    for i in range(pos - 1, start - 1, -1):
        if pieces[i] == bos:  # a document boundary inside the window
            start = i + 1
            break
    cut = start > 1 and pieces[start - 1] != bos
    context = example.joiner.join(pieces[start:pos])
    sep = example.joiner if context else ""
    return f"{'…' if cut else ''}{context}{sep}[{pieces[pos]}]"


def describe_neuron(store, job, values, layer, neuron, why, n_examples, bos) -> dict[str, Any]:
    """A neuron's value top tokens and top trigger examples, as printed and stored."""
    from interp.methods.mining import examples

    found = examples(store, job, layer, neuron)[:n_examples]
    return {
        "neuron": f"L{layer}N{neuron}",
        "why": why,
        "value_top": [t for t, _ in values.top(layer, neuron, 8)],
        "triggers": [
            {
                "activation": round(float(e.activation), 3),
                "trigger": e.token,
                "next": e.next_token,
                "text": _prefix(e, bos),
            }
            for e in found
        ],
    }


def main(config: Config) -> dict[str, Any]:
    from interp.core.models import record_of
    from interp.methods.ffn import agreement, value_projections
    from interp.methods.mining import jobs, mine
    from interp.results.base import save_with_parts
    from interp.results.store import ResultsStore
    from interp.views.ffn import PAPER_AGREEMENT

    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    model = load_for(config)
    record = record_of(model)
    timing["load_s"] = time.perf_counter() - t0
    store = ResultsStore()
    corpus, origin = choose_corpus(config, record)
    print(f"model: {record.name}  ({record.n_layers} layers x {record.d_mlp} neurons, "
          f"vocabulary {model.cfg.d_vocab:,}; weights: {record.weight_processing})")  # fmt: skip

    window = min(config.window, int(model.cfg.n_ctx))
    before = {j["job"] for j in jobs(store, model) if j["status"] == "complete"}
    t = time.perf_counter()
    mining = mine(
        model, corpus, k=config.k, window=window, batch_size=config.batch_size,
        max_tokens=config.max_tokens or None, store=store,
    )  # fmt: skip
    timing["mine_s"] = time.perf_counter() - t
    cached = mining.job in before
    print(
        f"\n== keys: top-{mining.k} trigger examples of every neuron over "
        f"{mining.n_tokens:,} tokens of {mining.corpus} ({origin}); job {mining.job}"
    )
    if cached:
        print("   already mined: read from the results store")
    elif mining.tokens_per_s:
        print(f"   {timing['mine_s']:.1f} s, {mining.tokens_per_s:,.0f} tokens/s")

    t = time.perf_counter()
    values = value_projections(model, None, k=config.k, store=store)
    timing["values_s"] = time.perf_counter() - t
    unk = getattr(model.tokenizer, "unk_token_id", None)
    ignore = [int(unk)] if unk is not None and unk != model.tokenizer.bos_token_id else []
    t = time.perf_counter()
    agree = agreement(
        values, mining, examples=config.examples, n_shuffles=config.n_shuffles,
        seed=config.seed, ignore=ignore,
    )  # fmt: skip
    timing["agreement_s"] = time.perf_counter() - t
    lexical = same_trigger_share(mining)

    n_layers = len(agree.layers)
    paper = {
        "lower layers": PAPER_AGREEMENT["lower layers"],
        "top layer": PAPER_AGREEMENT["top layer"],
        "random": PAPER_AGREEMENT["random"],
    }
    print("\n== key-value agreement: value's top token = next token after the top trigger")
    print(
        f"   baseline: next tokens shuffled across the layer's neurons, mean ± sd of "
        f"{agree.n_shuffles} permutations (seed {agree.seed}); exact: the permutations' mean"
    )
    if ignore:
        print(f"   next tokens never counted: {[model.tokenizer.decode([i]) for i in ignore]}")
    print(f"   {'layer':>5} {'neurons':>8} {'agreeing':>9} {'measured':>9} {'shuffled':>16} "
          f"{'exact':>7} {'same trigger':>13}   {PAPER}")  # fmt: skip
    rows = agree.rows()
    for i, row in enumerate(rows):
        quoted = ""
        if i == n_layers - 1:
            quoted = f"{paper['top layer']} (top layer)"
        elif i < n_layers // 2:
            quoted = f"{paper['lower layers']} (lower layers)"
        row["same_trigger_share"] = float(lexical[i])
        row["paper"] = quoted
        shuffled = f"{_pct(row['shuffled'])} ± {_pct(row['shuffled_std'])}"
        print(f"   {row['layer']:>5} {row['neurons']:>8} {row['agreeing']:>9} "
              f"{_pct(row['measured']):>9} {shuffled:>16} {_pct(row['shuffled_exact']):>7} "
              f"{_pct(row['same_trigger_share']):>13}   {quoted}")  # fmt: skip
    print(f"   random (paper): {paper['random']}; random here: 1/{model.cfg.d_vocab:,} = "
          f"{_pct(1 / model.cfg.d_vocab)}")  # fmt: skip

    rng = np.random.default_rng(config.seed)
    bos = model.tokenizer.bos_token
    neurons = []
    print("\n== what the neurons respond to: top trigger examples ([trigger] -> next token) "
          "and the value's top tokens")  # fmt: skip
    for slot, layer in enumerate(agree.layers):
        for neuron, why in pick_neurons(agree, slot, config.show, rng):
            info = describe_neuron(
                store, mining.job, values, layer, neuron, why, config.show_examples, bos
            )
            neurons.append(info)
            print(f"\n   {info['neuron']} ({why})   value promotes: "
                  + ", ".join(repr(t) for t in info["value_top"]))  # fmt: skip
            for ex in info["triggers"]:
                nxt = f"  -> {ex['next']!r}" if ex["next"] is not None else ""
                print(f"     {ex['activation']:7.2f}  {ex['text']}{nxt}")

    summary: dict[str, Any] = {
        "experiment": "text_memories",
        "model": record.name,
        "corpus": mining.corpus,
        "corpus_origin": origin,
        "n_tokens": mining.n_tokens,
        "mining_job": mining.job,
        "tokens_per_s": mining.tokens_per_s,
        "mined_now": not cached,
        "window": mining.window,
        "k": mining.k,
        "examples": agree.examples,
        "n_shuffles": agree.n_shuffles,
        "seed": agree.seed,
        "ignored_next_tokens": agree.ignored,
        "agreement": {str(r["layer"]): r["measured"] for r in rows},
        "agreement_baseline": {str(r["layer"]): r["shuffled"] for r in rows},
        "per_layer": rows,
        "paper": paper,
        "neurons": neurons,
        "timing": {key: round(v, 2) for key, v in timing.items()},
    }
    if config.store:
        run = save_with_parts(
            "ffn_memories", {"mining": mining, "agreement": agree}, model=record, config=config,
            seed=config.seed, store=store, summary=summary,
            arrays={"agreement": agree.rate, "baseline": agree.baseline},
        )  # fmt: skip
        summary["run_id"] = run.run_id
        print(f"\nstored: ffn_memories run {run.run_id} (with its mining and agreement runs; "
              "the dashboard's FFN page shows it)")  # fmt: skip
    return summary


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
