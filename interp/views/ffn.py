"""FFN neurons as key-value memories (Geva et al. 2021, 2022): a neuron's value projected on
the vocabulary and its mined trigger examples (trigger token marked), the planted memories
of a reference model, and a stored ``ffn_memories`` run's key-value agreement."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING, Any, ClassVar

from interp.results.base import Result

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


# -- FFN neurons -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NeuronView(Result):
    """One FFN neuron as a key-value memory (Geva et al. 2021/2022): its value's top and
    bottom tokens on the vocabulary, and its mined trigger examples (HTML, trigger marked)."""

    kind: ClassVar[str] = "neuron_view"
    layer: int
    neuron: int
    top: list[list]  # [[token, score], ...] best first
    bottom: list[list]
    value_norm: float
    job: str | None  # the mining job the examples come from (None: not mined)
    examples: list[dict]  # rank, activation, html, trigger, next
    planted: str  # what a reference model planted in this neuron ("" if nothing)

    def value_rows(self) -> list[dict[str, Any]]:
        n = max(len(self.top), len(self.bottom))
        pad = [["", float("nan")]] * n
        return [
            {
                "promotes": t[0],
                "score": round(t[1], 3),
                "suppresses": b[0],
                "score ": round(b[1], 3),
            }
            for t, b in zip(self.top + pad[len(self.top) :], self.bottom + pad[len(self.bottom) :])
        ]


def neuron_view(
    model: TransformerBridge, layer: int, neuron: int, k: int = 10, n_examples: int = 8
) -> NeuronView:
    """Value projection (cached in the results store by :mod:`interp.methods.ffn`) and the
    newest complete mining job's trigger examples of ``layer``'s ``neuron`` (those where it
    fired: activation > 0)."""
    from interp.core.errors import InterpError
    from interp.methods import mining
    from interp.methods.ffn import value_projections
    from interp.results.store import ResultsStore

    cfg = model.cfg
    if not 0 <= layer < cfg.n_layers:
        raise InterpError(
            f"layer {layer} does not exist; this model has layers 0..{cfg.n_layers - 1}."
        )
    d_mlp = cfg.d_mlp or 0  # None: an attention-only model
    if not 0 <= neuron < d_mlp:
        raise InterpError(
            f"neuron {neuron} does not exist; layers have neurons 0..{d_mlp - 1}."
            if d_mlp
            else "this model has no MLPs, so no neurons."
        )
    store = ResultsStore()
    values = value_projections(model, layers=[layer], k=k, store=store)
    try:
        job = mining.latest_job(store, model, layer)
        found = mining.examples(store, job, layer, neuron) if job else []
    except sqlite3.Error as err:  # e.g. tables written by an older version of the miner
        raise InterpError(
            f"could not read the mined trigger examples in {store.root}: {err}. "
            "Mine again into a fresh results store (INTERP_RESULTS_DIR)."
        ) from None
    found = [e for e in found if e.activation > 0][:n_examples]  # where the key fired
    bos = model.tokenizer.bos_token
    return NeuronView(
        layer=layer,
        neuron=neuron,
        top=[[t, s] for t, s in values.top(layer, neuron)],
        bottom=[[t, s] for t, s in values.bottom(layer, neuron)],
        value_norm=float(values.value_norms[0, neuron]),
        job=job,
        examples=[
            {
                "rank": e.rank + 1,
                "activation": round(float(e.activation), 3),
                "trigger": e.token,
                "next": e.next_token or "",
                "html": example_html(e.pieces, e.position, e.joiner, bos),
            }
            for e in found
        ],
        planted=next(
            (
                f"planted memory: {m['trigger']!r} -> {m['target']!r}"
                for m in planted_neurons(model)
                if (m["layer"], m["neuron"]) == (layer, neuron)
            ),
            "",
        ),
    )


@dataclasses.dataclass(frozen=True)
class NeuronStart:
    """The neuron the FFN page opens on, and why; ``empty`` when every MLP of the model is
    zero (nothing to browse), with ``elsewhere`` naming the memory neurons of the reference
    model that has them."""

    layer: int
    neuron: int
    why: str
    value_norm: float
    empty: bool = False
    elsewhere: tuple[str, ...] = ()


#: the reference model whose MLPs hold planted key-value memories
MEMORY_MODEL = "reference:recall"


def neuron_start(model: TransformerBridge) -> NeuronStart:
    """Where the neuron browser starts: the first planted memory of a reference model, else
    the neuron whose value vector is longest (it writes most), among those that fire on the
    mined text when the model has a mining job (so the browser opens on trigger examples);
    ``empty=True`` when all MLP output weights are zero (e.g. ``reference:ioi``, whose
    mechanism is attention only).

    Example::

        >>> from interp.core.models import load
        >>> neuron_start(load("reference:ioi", device="cpu")).empty
        True
        >>> start = neuron_start(load("reference:recall", device="cpu"))
        >>> start.why.startswith("planted memory")
        True
    """
    import torch

    with torch.no_grad():
        norms = model.W_out.norm(dim=-1).float()  # [layer, d_mlp]
    planted = planted_neurons(model)
    if planted:
        m = planted[0]
        layer, neuron = int(m["layer"]), int(m["neuron"])
        why = f"planted memory {m['trigger']!r} -> {m['target']!r}"
        return NeuronStart(layer, neuron, why, float(norms[layer, neuron]))
    if float(norms.max()) == 0.0:
        return NeuronStart(0, 0, "every MLP is zero", 0.0, empty=True, elsewhere=memory_neurons())
    fired = _fired_on_mined_text(model, tuple(norms.shape))
    if fired is not None and fired.any():  # open where the browser has examples to show
        masked = norms.masked_fill(~torch.from_numpy(fired), -1.0)
        layer, neuron = divmod(int(masked.argmax()), norms.shape[1])
        why = f"largest value norm of the {int(fired.sum())} neurons that fire on the mined text"
        return NeuronStart(layer, neuron, why, float(norms[layer, neuron]))
    layer, neuron = divmod(int(norms.argmax()), norms.shape[1])
    why = f"largest value norm of all {norms.numel()} neurons"
    return NeuronStart(layer, neuron, why, float(norms[layer, neuron]))


def _fired_on_mined_text(model: TransformerBridge, shape: tuple[int, ...]):
    """bool ``[layer, d_mlp]``: neurons whose top mined trigger has a positive activation, in
    the newest complete mining job of ``model`` (None: no job, or an unreadable store)."""
    import numpy as np

    from interp.core.errors import InterpError
    from interp.methods import mining
    from interp.results.store import ResultsStore

    store = ResultsStore()
    try:
        job = mining.latest_job(store, model)
        if job is None:
            return None
        mined = mining.load_job(store, job)
    except (sqlite3.Error, InterpError):
        return None
    fired = np.zeros(shape, dtype=bool)
    for i, layer in enumerate(mined.layers):
        fired[layer] = mined.activation[i].max(-1) > 0
    return fired


def memory_neurons(name: str = MEMORY_MODEL) -> tuple[str, ...]:
    """The planted memories of reference model ``name`` as ``L2N14 (coffee -> cup)`` strings,
    read from its build record (the model is built on disk if needed, not loaded)."""
    from interp.core.models import resolve

    _, _, planted = resolve(name)
    return tuple(
        f"L{m['layer']}N{m['neuron']} ({m['trigger']} → {m['target']})"
        for m in (planted or {}).get("memories") or []
    )


#: Geva et al. 2021 (16-layer WikiText-103 LM), PAPERS.md: shown labelled "paper", never as measured
PAPER_AGREEMENT = {"lower layers": "≈ 0%", "top layer": "≈ 3.5%", "random": "≈ 0.0004%"}


def agreement_rows(summary: dict[str, Any], reference: bool) -> list[dict[str, Any]]:
    """A stored ``ffn_memories`` run's key-value agreement per layer, beside its shuffled
    baseline and (for real models) the paper's numbers."""
    rates = summary.get("agreement") or {}
    baseline = summary.get("agreement_baseline") or {}
    layers = sorted(rates, key=int)
    rows = []
    for i, layer in enumerate(layers):
        row = {
            "layer": int(layer),
            "measured": f"{100 * rates[layer]:.2f}%",
            "shuffled baseline": f"{100 * baseline.get(layer, float('nan')):.2f}%",
        }
        if not reference:
            paper = PAPER_AGREEMENT["top layer"] if i == len(layers) - 1 else ""
            row["paper (Geva et al. 2021)"] = paper or (
                PAPER_AGREEMENT["lower layers"] if i < len(layers) // 2 else ""
            )
        rows.append(row)
    return rows


def mining_command(model_name: str) -> str:
    """The command that mines ``model_name``'s trigger examples into the results store and
    measures key-value agreement: ``experiments/ffn_memories.py`` on the reference models
    (planted memories), ``experiments/text_memories.py`` on any other model (real text).

    >>> mining_command("trained:text")
    'python experiments/text_memories.py --model trained:text'
    """
    from interp.views.choices import experiment_command

    if model_name.startswith("reference:"):
        return experiment_command("ffn_memories", model_name)
    return f"python experiments/text_memories.py --model {model_name}"


def memory_neuron_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The neurons a stored ``text_memories`` run printed: value's top tokens beside the top
    trigger examples (trigger in [brackets], the next token after ->)."""
    rows = []
    for n in summary.get("neurons") or []:
        triggers = n.get("triggers") or []
        rows.append(
            {
                "neuron": n["neuron"],
                "shown because": n.get("why", ""),
                "value promotes": ", ".join(repr(t) for t in n.get("value_top", [])[:5]),
                "top trigger examples": "  |  ".join(
                    f"{t['text']} -> {t['next']!r}" for t in triggers[:3]
                ),
            }
        )
    return rows


def planted_neurons(model: TransformerBridge) -> list[dict[str, Any]]:
    """The key-value memories a reference model planted: layer, neuron, trigger, target."""
    from interp.core.models import record_of

    return list((record_of(model).reference or {}).get("memories") or [])


def example_html(
    pieces: list[str], position: int, joiner: str, bos: str | None = None, before: int = 24
) -> str:
    """A trigger example as HTML: the context (up to ``before`` tokens, from the start of its
    document), the trigger token marked, then the token that followed it in grey."""
    import html

    start = max(1, position - before)  # piece 0 is the window's BOS
    for i in range(position - 1, start - 1, -1):
        if bos is not None and pieces[i] == bos:  # a document boundary inside the window
            start = i + 1
            break
    context = joiner.join(pieces[start:position])
    if joiner == " " and context:
        context += " "
    after = pieces[position + 1] if position + 1 < len(pieces) else ""
    if after == bos:
        after = ""
    sep = joiner if joiner == " " else ""
    return (
        f"{'… ' if start > 1 and pieces[start - 1] != bos else ''}{html.escape(context)}"
        f"<mark>{html.escape(pieces[position])}</mark>"
        f"<span style='color:#888'>{html.escape(sep + after) if after else ''}</span>"
    )
