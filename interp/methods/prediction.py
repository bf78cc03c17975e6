"""Which components made a prediction, and what happens when neurons are switched off.

Geva et al. 2022 ("Transformer Feed-Forward Layers Build Predictions by Promoting Concepts
in the Vocabulary Space") write an FFN layer's output as a sum of *sub-updates*
``m_i v_i`` (activation times value vector) and show that a prediction is built by a few
sub-updates promoting the predicted token; their LM-Debugger lists the top sub-updates and
lets the user switch neurons off and watch the prediction change.

* :func:`attribute_prediction` scores every neuron (``m_i v_i . d``) and every attention
  head (direct logit attribution) by how much it pushes the logit direction ``d`` of a
  target token (minus a second token's, when given), through the cached final-LN scale, as
  :mod:`interp.methods.dla` computes it; with the embeddings' and the output biases' terms
  the scores add up to the target's logit less its unembedding bias. Per layer sums and one
  table of the top components (heads and neurons together) show where the prediction came
  from. LM-Debugger's own ranking, ``|m_i| * |v_i|``, is kept beside the score.
* :func:`switch_components` runs the prompt with chosen components scaled (0 = off) through
  :mod:`interp.core.interventions`, and reports the top tokens before and after, the target's
  probability and rank, and (optionally) a greedy continuation of both runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interp.core.arrays import to_numpy
from interp.core.components import Head, Neuron
from interp.core.errors import InterpError
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


@dataclasses.dataclass(frozen=True)
class PredictionAttribution(Result):
    """Direct contributions of every head and neuron to ``target``'s logit at ``position``."""

    kind: ClassVar[str] = "ffn_prediction"

    model: str
    prompt: str
    target: str
    target_id: int
    other: str | None  # contributions are to logit(target) - logit(other) when given
    position: int
    logit: float  # the (difference of) logits that the components explain
    bias_u: float  # the unembedding bias part of ``logit`` (no component writes it)
    prob: float  # probability of the target
    rank: int  # rank of the target among all tokens (0 = top-1)
    predicted: str  # the model's top-1 token
    embed: float  # direct effect of token + position embeddings
    bias: float  # direct effect of the attention and MLP output biases
    head_scores: np.ndarray  # float32 [layer, head]
    neuron_scores: np.ndarray  # float32 [layer, d_mlp]
    activations: np.ndarray  # float32 [layer, d_mlp]
    value_norms: np.ndarray  # float32 [layer, d_mlp]
    table: list[dict] = dataclasses.field(default_factory=list)  # top components

    @property
    def attn_layers(self) -> np.ndarray:
        return self.head_scores.sum(axis=-1)

    @property
    def mlp_layers(self) -> np.ndarray:
        return self.neuron_scores.sum(axis=-1)

    def total(self) -> float:
        """Sum of every direct term: equals ``logit - bias_u``."""
        return float(self.embed + self.bias + self.head_scores.sum() + self.neuron_scores.sum())

    def top_neurons(self, n: int = 10) -> list[tuple[int, int, float]]:
        """(layer, neuron, score) of the ``n`` neurons that push the target most."""
        flat = np.argsort(-self.neuron_scores, axis=None, kind="stable")[:n]
        layers, neurons = np.unravel_index(flat, self.neuron_scores.shape)
        return [
            (int(layer), int(i), float(self.neuron_scores[layer, i]))
            for layer, i in zip(layers, neurons)
        ]

    def figure(self, n: int = 20):
        from interp.figures.ffn import attribution_figure

        return attribution_figure(self, n)


def _table(head_scores, neuron_scores, activations, value_norms, n: int) -> list[dict]:
    rows: list[dict[str, Any]] = []
    n_layers, n_heads = head_scores.shape
    for layer in range(n_layers):
        for h in range(n_heads):
            rows.append({"component": str(Head(layer, h)), "kind": "head", "layer": layer,
                         "index": h, "score": float(head_scores[layer, h])})  # fmt: skip
    best = np.argsort(-neuron_scores, axis=None, kind="stable")[: max(n, 1)]
    for flat in best:
        layer, i = (int(x) for x in np.unravel_index(flat, neuron_scores.shape))
        rows.append({
            "component": str(Neuron(layer, i)), "kind": "neuron", "layer": layer, "index": i,
            "score": float(neuron_scores[layer, i]),
            "activation": float(activations[layer, i]),
            "magnitude": float(abs(activations[layer, i]) * value_norms[layer, i]),
        })  # fmt: skip
    # components that explain nothing (dead ones, float noise) are left out
    floor = 1e-6 * max((abs(r["score"]) for r in rows), default=0.0)
    rows = [r for r in rows if abs(r["score"]) > floor]
    rows.sort(key=lambda r: -r["score"])
    return rows[:n]


def _token_id(model: Model, token: str | int) -> int:
    from interp.core.tokens import single_token_id

    if isinstance(token, (int, np.integer)):
        if not 0 <= int(token) < model.cfg.d_vocab:
            raise InterpError(
                f"token id {token} is outside the vocabulary (0..{model.cfg.d_vocab - 1})"
            )
        return int(token)
    return single_token_id(model, token)


def attribute_predictions(
    model: Model,
    prompts: Sequence[str],
    targets: Sequence[str | int | None],
    others: Sequence[str | int | None] | None = None,
    top: int = 20,
) -> list[PredictionAttribution]:
    """:func:`attribute_prediction` for many prompts: one batched forward per prompt length.
    A target of None means the model's own top-1 prediction."""
    import torch

    from interp.core.hooks import mlp_name, names_filter, resid_name
    from interp.core.models import record_of
    from interp.core.tokens import to_tokens, token_str
    from interp.methods.dla import (
        cache_names,
        head_attribution,
        logit_directions,
        neuron_attribution,
        vector_attribution,
    )

    if len(prompts) != len(targets):
        raise InterpError(f"{len(prompts)} prompts but {len(targets)} targets.")
    others = list(others) if others is not None else [None] * len(prompts)
    tokenised = [to_tokens(model, p)[0] for p in prompts]
    groups: dict[int, list[int]] = {}
    for i, toks in enumerate(tokenised):
        groups.setdefault(int(toks.shape[0]), []).append(i)
    names = cache_names(model.cfg.n_layers, heads=True, neurons=True) | {resid_name(0, "pre")}
    results: dict[int, PredictionAttribution] = {}
    w_out_norm = to_numpy(model.W_out.norm(dim=-1))  # [layer, d_mlp]
    for length, members in groups.items():
        tokens = torch.stack([tokenised[i] for i in members])
        with torch.no_grad():
            logits, cache = model.run_with_cache(tokens, names_filter=names_filter(names))
            last = logits[:, -1].float()  # [batch, d_vocab]
            target_ids = [
                int(last[j].argmax())
                if (wanted := targets[i]) is None
                else _token_id(model, wanted)
                for j, i in enumerate(members)
            ]
            other_ids = [
                None if (vs := others[i]) is None else _token_id(model, vs) for i in members
            ]
            answers = torch.tensor(target_ids, device=last.device)
            directions = logit_directions(model, answers, None)  # [batch, d_model]
            b_u = model.b_U[answers].clone()
            paired = [j for j, o in enumerate(other_ids) if o is not None]
            if paired:
                second = torch.tensor([other_ids[j] for j in paired], device=last.device)
                directions[paired] = logit_directions(model, answers[paired], second)
                b_u[paired] -= model.b_U[second]
            positions = torch.full((len(members),), length - 1, device=last.device)
            heads = head_attribution(model, cache, directions, positions)  # [b, layer, head]
            neurons = torch.stack(
                [neuron_attribution(model, cache, layer, directions, positions)
                 for layer in range(model.cfg.n_layers)], dim=1,
            )  # fmt: skip  # [batch, layer, d_mlp]
            acts = torch.stack(
                [cache[mlp_name(layer, "post")][:, -1] for layer in range(model.cfg.n_layers)],
                dim=1,
            )  # [batch, layer, d_mlp]
            embeddings = cache[resid_name(0, "pre")][:, -1]  # [batch, d_model]
            embed = vector_attribution(model, cache, embeddings, directions, positions)
            biases = (model.b_O.sum(0) + model.b_out.sum(0)).expand_as(directions)
            bias = vector_attribution(model, cache, biases, directions, positions)
            probs = last.softmax(-1)
        for j, i in enumerate(members):
            t, o = target_ids[j], other_ids[j]
            value = last[j, t] - (last[j, o] if o is not None else 0.0)
            hs = to_numpy(heads[j])
            ns = to_numpy(neurons[j])
            ac = to_numpy(acts[j])
            results[i] = PredictionAttribution(
                model=record_of(model).name,
                prompt=prompts[i],
                target=token_str(model, t),
                target_id=t,
                other=None if o is None else token_str(model, o),
                position=length - 1,
                logit=float(value),
                bias_u=float(b_u[j]),
                prob=float(probs[j, t]),
                rank=int((last[j] > last[j, t]).sum()),
                predicted=token_str(model, int(last[j].argmax())),
                embed=float(embed[j]),
                bias=float(bias[j]),
                head_scores=hs,
                neuron_scores=ns,
                activations=ac,
                value_norms=w_out_norm.astype(np.float32),
                table=_table(hs, ns, ac, w_out_norm, top),
            )
    return [results[i] for i in range(len(prompts))]


def attribute_prediction(
    model: Model, prompt: str, target: str | int | None = None, other: str | int | None = None,
    top: int = 20,
) -> PredictionAttribution:  # fmt: skip
    """Scores of every head and neuron for ``target`` (the model's top-1 when None) at the
    last position of ``prompt``; see the module docstring.

    ``reference:recall`` has a planted key-value memory coffee -> cup in neuron L2N14:

    >>> from interp import load
    >>> found = attribute_prediction(load("reference:recall"), "I like the coffee")
    >>> found.target, round(found.prob, 2), found.table[0]["component"]
    ('cup', 0.93, 'L2N14')
    """
    return attribute_predictions(model, [prompt], [target], [other], top=top)[0]


# -- switching components off -------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class InterventionEffect(Result):
    """Top tokens at the last position with and without the components scaled."""

    kind: ClassVar[str] = "ffn_intervention"

    model: str
    prompt: str
    components: list[str]
    scale: float
    top_before: list[list]  # [[token, probability], ...]
    top_after: list[list]
    target: str | None
    target_prob_before: float | None
    target_prob_after: float | None
    target_rank_before: int | None
    target_rank_after: int | None
    generated_before: str
    generated_after: str
    probs_before: np.ndarray  # float32 [d_vocab]
    probs_after: np.ndarray  # float32 [d_vocab]

    def figure(self):
        from interp.figures.ffn import intervention_figure

        return intervention_figure(self)


def generate(model: Model, prompt: str, n_tokens: int, interventions: Sequence = ()) -> str:
    """Greedy continuation of ``prompt`` (``n_tokens`` tokens, fewer at the context's end),
    with ``interventions`` applied at every step."""
    import torch

    from interp.core.interventions import run_with
    from interp.core.tokens import to_tokens

    tokens = to_tokens(model, prompt)
    start = tokens.shape[1]
    with torch.no_grad():
        for _ in range(n_tokens):
            if tokens.shape[1] >= model.cfg.n_ctx:
                break
            logits = run_with(model, tokens, interventions)
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return model.tokenizer.decode(tokens[0, start:].tolist())


def switch_components(
    model: Model,
    prompt: str,
    components: Sequence[str],
    scale: float = 0.0,
    k: int = 10,
    target: str | int | None = None,
    n_generate: int = 0,
) -> InterventionEffect:
    """Scale ``components`` (``["L2N14", "L6H1", ...]``; 0 switches them off) at every
    position while the model reads ``prompt``; compare the last position's top tokens.

    Switching off ``reference:recall``'s coffee -> cup memory neuron:

    >>> from interp import load
    >>> off = switch_components(load("reference:recall"), "I like the coffee", ["L2N14"],
    ...                         target="cup")
    >>> round(off.target_prob_before, 2), off.target_prob_after < 0.01
    (0.93, True)
    """
    import torch

    from interp.core.interventions import Intervention, parse_components, run_with
    from interp.core.models import record_of
    from interp.core.tokens import to_tokens, token_str

    parsed = parse_components(model, components)
    interventions = [Intervention(c, scale=float(scale)) for c in parsed]
    tokens = to_tokens(model, prompt)
    with torch.no_grad():
        before = model(tokens)[0, -1].float().softmax(-1)
        after = run_with(model, tokens, interventions)[0, -1].float().softmax(-1)

    def top(probs) -> list[list]:
        values, ids = probs.topk(min(k, probs.shape[0]))
        return [[token_str(model, int(i)), float(v)] for v, i in zip(values, ids)]

    tid = None if target is None else _token_id(model, target)

    def rank(probs) -> int:
        return int((probs > probs[tid]).sum())

    return InterventionEffect(
        model=record_of(model).name,
        prompt=prompt,
        components=[str(c) for c in parsed],
        scale=float(scale),
        top_before=top(before),
        top_after=top(after),
        target=None if tid is None else token_str(model, tid),
        target_prob_before=None if tid is None else float(before[tid]),
        target_prob_after=None if tid is None else float(after[tid]),
        target_rank_before=None if tid is None else rank(before),
        target_rank_after=None if tid is None else rank(after),
        generated_before=generate(model, prompt, n_generate) if n_generate else "",
        generated_after=generate(model, prompt, n_generate, interventions) if n_generate else "",
        probs_before=to_numpy(before).astype(np.float32),
        probs_after=to_numpy(after).astype(np.float32),
    )
