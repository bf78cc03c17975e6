"""FFN neurons as key-value memories: values in vocabulary space, key-value agreement.

Geva et al. 2021 ("Transformer Feed-Forward Layers Are Key-Value Memories") read an FFN
layer ``FFN(x) = f(x K^T) V`` as a memory: each neuron ``i`` has a *key* ``k_i`` (its column
of ``W_in``) that detects a pattern in the input, and a *value* ``v_i`` (its row of
``W_out``) that it adds to the residual stream, weighted by its activation. Geva et al. 2022
("Transformer Feed-Forward Layers Build Predictions by Promoting Concepts in the Vocabulary
Space") project each value onto the vocabulary, ``v_i W_U``: the top tokens are the concept
the neuron promotes, the bottom tokens what it suppresses.

* :func:`value_projections` computes ``W_out[l] @ W_U`` for a whole layer at once (in neuron
  chunks, so GPT-2 medium's 4096 x 50257 never needs to sit in memory), keeps the top and
  bottom ``k`` tokens per neuron, and caches each layer in the results store (kind
  ``ffn_values``), keyed by the model's identity and weight processing. ``W_U`` is the
  processed unembedding (final LayerNorm gain folded in, centred), the same direction
  :mod:`interp.methods.dla` uses; with unprocessed weights the LN gain is applied here.
* :func:`agreement` is Geva 2021's test that keys and values agree: per layer, the share of
  neurons whose value's top token is the token that *follows* their top trigger example in
  the corpus (examples mined by :mod:`interp.methods.mining`), against a baseline where
  the neurons' next tokens are shuffled among the neurons of the same layer (seeded
  permutations, and their exact mean). The paper finds about 0 in the lower layers rising to
  about 3.5% in the top layer (random: ~0.0004%). ``experiments/text_memories.py`` measures
  it on ``trained:text``, a small GPT-2 trained here on real English.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


#: bump when the value-projection computation changes, so cached layers are recomputed
VALUES_VERSION = 1


def model_key(record) -> str:
    """A string that identifies a model's weights and weight processing: its name, location,
    processing flags and (for local directories) the size and mtime of its weight files."""
    location = Path(str(record.location))
    files: list[list[Any]] = []
    if location.is_dir():
        for f in sorted(location.glob("*.safetensors")) + sorted(location.glob("*.bin")):
            stat = f.stat()
            files.append([f.name, stat.st_size, stat.st_mtime_ns])
    ident = {
        "name": record.name,
        "location": str(record.location),
        "processing": record.weight_processing,
        "files": files,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return f"{record.name}#{digest}"


def _check_layers(model: Model, layers) -> list[int]:
    n = model.cfg.n_layers
    out = list(range(n)) if layers is None or len(layers) == 0 else [int(x) for x in layers]
    bad = [x for x in out if not 0 <= x < n]
    if bad:
        raise InterpError(f"layers {bad} do not exist; this model has layers 0..{n - 1}.")
    return sorted(set(out))


def vocab_strings(model: Model, ids) -> dict[int, str]:
    """Readable token strings of ``ids`` (GPT-2's leading space shown as a space)."""
    tokenizer = model.tokenizer
    return {int(i): tokenizer.decode([int(i)]) for i in sorted({int(i) for i in ids})}


@dataclasses.dataclass(frozen=True)
class ValueProjection(Result):
    """Top / bottom tokens of every neuron's value vector projected on the unembedding."""

    kind: ClassVar[str] = "ffn_values"

    model: str
    layers: list[int]
    k: int
    top_ids: np.ndarray  # int64 [layer, d_mlp, k], highest score first
    top_scores: np.ndarray  # float32 [layer, d_mlp, k]
    bottom_ids: np.ndarray  # int64 [layer, d_mlp, k], lowest score first
    bottom_scores: np.ndarray  # float32 [layer, d_mlp, k]
    value_norms: np.ndarray  # float32 [layer, d_mlp]: |v_i| (LM-Debugger's ranking uses it)
    #: readable strings of every token id that appears in top_ids / bottom_ids
    token_strings: dict[str, str] = dataclasses.field(default_factory=dict)

    def slot(self, layer: int) -> int:
        if layer not in self.layers:
            raise InterpError(f"layer {layer} was not projected (have {self.layers}).")
        return self.layers.index(layer)

    def token(self, token_id: int | np.integer) -> str:
        return self.token_strings.get(str(int(token_id)), f"#{int(token_id)}")

    def top(self, layer: int, neuron: int, n: int | None = None) -> list[tuple[str, float]]:
        s = self.slot(layer)
        ids, scores = self.top_ids[s, neuron, :n], self.top_scores[s, neuron, :n]
        return [(self.token(i), float(v)) for i, v in zip(ids, scores)]

    def bottom(self, layer: int, neuron: int, n: int | None = None) -> list[tuple[str, float]]:
        s = self.slot(layer)
        ids, scores = self.bottom_ids[s, neuron, :n], self.bottom_scores[s, neuron, :n]
        return [(self.token(i), float(v)) for i, v in zip(ids, scores)]

    def figure(self, neurons: list[tuple[int, int]] | None = None, n: int = 10):
        from interp.figures.ffn import value_table_figure

        return value_table_figure(self, neurons, n)


def _project_layer(model: Model, layer: int, k: int, chunk: int = 1024) -> dict[str, np.ndarray]:
    import torch

    from interp.methods.dla import final_ln_gain

    with torch.no_grad():
        w_u = model.W_U  # [d_model, d_vocab]
        w_out = model.W_out[layer] * final_ln_gain(model)  # [d_mlp, d_model]
        kk = min(k, w_u.shape[1])
        parts: dict[str, list] = {"top_ids": [], "top_scores": [], "bottom_ids": []}
        parts["bottom_scores"] = []
        for start in range(0, w_out.shape[0], chunk):
            scores = w_out[start : start + chunk] @ w_u  # [chunk, d_vocab]
            top = scores.topk(kk, dim=-1)
            bottom = scores.topk(kk, dim=-1, largest=False)
            parts["top_ids"].append(top.indices)
            parts["top_scores"].append(top.values)
            parts["bottom_ids"].append(bottom.indices)
            parts["bottom_scores"].append(bottom.values)
        out = {name: to_numpy(torch.cat(v)) for name, v in parts.items()}
        out["value_norms"] = to_numpy(model.W_out[layer].norm(dim=-1))
    for name in ("top_ids", "bottom_ids"):
        out[name] = out[name].astype(np.int64)
    for name in ("top_scores", "bottom_scores", "value_norms"):
        out[name] = out[name].astype(np.float32)
    return out


def value_projections(
    model: Model, layers: list[int] | None = None, k: int = 10, store=None, cache: bool = True
) -> ValueProjection:
    """Project every neuron's value of ``layers`` (all when None) onto the vocabulary; each
    layer is computed at once and cached in ``store`` (the default store when None).

    Geva et al. 2022: a value vector promotes the tokens it points at. The planted
    coffee -> cup memory of ``reference:recall`` (neuron L2N14) promotes "cup":

    >>> from interp.core.models import load
    >>> values = value_projections(load("reference:recall"), layers=[2], k=3)
    >>> values.top_ids.shape  # [layer, neuron, k]
    (1, 64, 3)
    >>> values.top(2, 14, n=1)[0][0]
    'cup'
    """
    from interp.core.models import record_of
    from interp.results.store import ResultsStore

    if k < 1:
        raise InterpError(f"k must be at least 1; got {k}.")
    record = record_of(model)
    layers = _check_layers(model, layers)
    store = store if store is not None else ResultsStore()
    key = model_key(record)
    cached: dict[int, dict[str, np.ndarray]] = {}
    if cache:
        for run in store.list(kind=ValueProjection.kind):
            c = run.config
            if c.get("model_key") == key and c.get("k") == k and c.get("v") == VALUES_VERSION:
                layer = c.get("layer")
                if layer in layers and layer not in cached:
                    stored = store.arrays(run.run_id)  # one layer: [1, d_mlp, ...]
                    cached[layer] = {name: a[0] for name, a in stored.items()}
    per_layer = []
    for layer in layers:
        if layer in cached:
            per_layer.append(cached[layer])
            continue
        arrays = _project_layer(model, layer, k)
        if cache:
            single = _assemble(model, [layer], k, [arrays])
            store.save(
                ValueProjection.kind,
                model=record.to_dict(),
                config={"model_key": key, "layer": layer, "k": k, "v": VALUES_VERSION},
                seed=None,
                summary=single.summary(),
                arrays=single.arrays(),
            )
        per_layer.append(arrays)
    return _assemble(model, layers, k, per_layer)


def _assemble(model: Model, layers, k, per_layer) -> ValueProjection:
    from interp.core.models import record_of

    stacked = {
        name: np.stack([np.asarray(a[name]) for a in per_layer])
        for name in ("top_ids", "top_scores", "bottom_ids", "bottom_scores", "value_norms")
    }
    ids = np.concatenate([stacked["top_ids"].ravel(), stacked["bottom_ids"].ravel()])
    strings = {str(i): s for i, s in vocab_strings(model, ids).items()}
    return ValueProjection(
        model=record_of(model).name, layers=list(layers), k=k, token_strings=strings, **stacked
    )


# -- key-value agreement ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Agreement(Result):
    """Per layer: share of neurons whose value's top token is the next token of their top
    trigger example(s) (``rate``), and the same share with the neurons' next tokens shuffled
    among the layer's neurons: mean and standard deviation over ``n_shuffles`` permutations
    (``baseline``, ``baseline_std``) and the permutations' exact mean (``expected``).

    ``ignored`` lists the token ids that never count as a next token (e.g. ``<unk>`` of a
    word-level vocabulary: "predicting" an unknown word is no memory); a neuron whose
    next tokens are all ignored or missing is not counted in ``n_neurons``."""

    kind: ClassVar[str] = "ffn_agreement"

    model: str
    layers: list[int]
    examples: int  # how many top trigger examples a neuron's next tokens come from
    n_shuffles: int
    rate: np.ndarray  # float64 [layer]
    baseline: np.ndarray  # float64 [layer]
    baseline_std: np.ndarray  # float64 [layer]
    n_neurons: np.ndarray  # int64 [layer]: neurons with a trigger example and a non-zero value
    agrees: np.ndarray  # bool [layer, d_mlp]
    #: float64 [layer]: the exact mean of the shuffled baseline (empty in runs stored before)
    expected: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    seed: int = 0
    ignored: list[int] = dataclasses.field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per layer: neurons counted, agreeing, measured share, shuffled baseline."""
        out = []
        for i, layer in enumerate(self.layers):
            row: dict[str, Any] = {
                "layer": int(layer),
                "neurons": int(self.n_neurons[i]),
                "agreeing": int(self.agrees[i].sum()),
                "measured": float(self.rate[i]),
                "shuffled": float(self.baseline[i]),
                "shuffled_std": float(self.baseline_std[i]),
            }
            if len(self.expected) == len(self.layers):
                row["shuffled_exact"] = float(self.expected[i])
            out.append(row)
        return out

    def figure(self):
        from interp.figures.ffn import agreement_figure

        return agreement_figure(self)


def _agree(value_top: np.ndarray, next_tokens: np.ndarray) -> np.ndarray:
    """[n] value top token, [n, e] next tokens (-1: none) -> bool [n]."""
    return ((next_tokens == value_top[:, None]) & (next_tokens >= 0)).any(axis=1)


def _expected_agreement(value_top: np.ndarray, next_tokens: np.ndarray) -> float:
    """Exact mean of ``_agree(value_top, next_tokens[perm])`` over all permutations: neuron
    i gets neuron j's next tokens with probability 1/n, so the mean is
    sum_i c(top_i) / n^2, where c(t) counts the neurons whose next tokens include t."""
    n = len(value_top)
    if n == 0:
        return 0.0
    rows = np.repeat(np.arange(n), next_tokens.shape[1])
    flat = next_tokens.ravel()
    ok = flat >= 0
    pairs = np.unique(np.stack([rows[ok], flat[ok]]), axis=1)  # (neuron, token), each once
    tokens, counts = np.unique(pairs[1], return_counts=True)
    if len(tokens) == 0:
        return 0.0
    at = np.clip(np.searchsorted(tokens, value_top), 0, len(tokens) - 1)
    c = np.where(tokens[at] == value_top, counts[at], 0)  # c(top_i)
    return float(c.sum() / n**2)


def agreement(
    values: ValueProjection,
    mining,
    examples: int = 1,
    n_shuffles: int = 100,
    seed: int = 0,
    ignore: tuple[int, ...] | list[int] = (),
) -> Agreement:
    """Geva 2021's key-value agreement per layer from a :class:`ValueProjection` and a
    :class:`~interp.methods.mining.MiningResult` of the same model.

    For each layer: the share of neurons whose value's top token (``v_i W_U``) is the next
    token after one of their top ``examples`` trigger examples. The **baseline** shuffles the
    trigger examples' next tokens across the layer's neurons (one permutation of the
    neurons per shuffle, ``n_shuffles`` of them from ``numpy.random.default_rng(seed)``);
    permuting the values within the layer instead gives the same distribution (a
    permutation of one side is the inverse permutation of the other). It keeps each side's
    token frequencies, so a layer whose values all promote "the" and whose triggers are
    often followed by "the" scores high on both: agreement means something only above its
    baseline. ``expected`` is the permutations' exact mean. Token ids in ``ignore`` (e.g.
    ``<unk>``) are treated as no next token.

    Example, measured on the held-out sample shipped with ``trained:text`` (2,382 tokens):
    6 and 4 of the 512 neurons of layers 0 and 1 agree, well above their shuffled baselines::

        >>> from interp.core.models import load
        >>> from interp.core.trained import locate
        >>> from interp.methods.mining import mine
        >>> model = load("trained:text")
        >>> values = value_projections(model, k=10)
        >>> heldout = locate("text") / "heldout.txt"
        >>> found = mine(model, heldout, k=10, window=64, batch_size=64)
        >>> agree = agreement(values, found, n_shuffles=100, seed=0)
        >>> [(r["layer"], round(r["measured"], 4), round(r["shuffled"], 4)) for r in agree.rows()]
        [(0, 0.0117, 0.0006), (1, 0.0078, 0.0012)]
    """
    if examples < 1 or examples > mining.k:
        raise InterpError(f"examples must be in 1..{mining.k} (the mined k); got {examples}.")
    if n_shuffles < 0:
        raise InterpError(f"n_shuffles must be at least 0; got {n_shuffles}.")
    layers = [layer for layer in mining.layers if layer in values.layers]
    if not layers:
        raise InterpError(
            f"no layer is both projected ({values.layers}) and mined ({mining.layers})."
        )
    ignored = sorted({int(t) for t in ignore})
    rng = np.random.default_rng(seed)
    rate, base, base_std, exact, counts, agrees = [], [], [], [], [], []
    for layer in layers:
        top = values.top_ids[values.slot(layer), :, 0]
        nxt = mining.next_token[mining.layers.index(layer), :, :examples]
        if ignored:
            nxt = np.where(np.isin(nxt, ignored), -1, nxt)
        # neurons with a trigger example and a non-zero value (a zero value promotes nothing)
        has = (nxt >= 0).any(axis=1) & (values.value_norms[values.slot(layer)] > 0)
        ok = _agree(top, nxt) & has
        n = int(has.sum())
        rate.append(ok.sum() / n if n else 0.0)
        idx = np.flatnonzero(has)
        shuffled = [
            _agree(top[idx], nxt[idx][rng.permutation(len(idx))]).mean() if n else 0.0
            for _ in range(n_shuffles)
        ]
        base.append(float(np.mean(shuffled)) if shuffled else 0.0)
        base_std.append(float(np.std(shuffled)) if shuffled else 0.0)
        exact.append(_expected_agreement(top[idx], nxt[idx]))
        counts.append(n)
        agrees.append(ok)
    return Agreement(
        model=values.model,
        layers=layers,
        examples=examples,
        n_shuffles=n_shuffles,
        rate=np.asarray(rate, dtype=np.float64),
        baseline=np.asarray(base, dtype=np.float64),
        baseline_std=np.asarray(base_std, dtype=np.float64),
        n_neurons=np.asarray(counts, dtype=np.int64),
        agrees=np.stack(agrees),
        expected=np.asarray(exact, dtype=np.float64),
        seed=int(seed),
        ignored=ignored,
    )
