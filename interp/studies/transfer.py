"""Merullo et al.'s o-vector transfer into unrelated contexts, as published.

Merullo, Eickhoff & Pavlick (2023, "Language Models Implement Simple Word2Vec-style Vector
Arithmetic"; the authors' ``demo.ipynb`` in jmerullo/lm_vector_arithmetic) test whether the
FFN update that turns " Poland" into " Warsaw" is a *context-free* function applied to
whatever country sits in the residual stream:

1. **o**: the output of one FFN (capitals: FFN 19 of GPT-2 medium) at the last position of
   *one* few-shot prompt ("Q: What is the capital of France? A: Paris Q: What is the
   capital of Poland? A:").
2. **Unrelated contexts**: for every other subject, three random tokens and the subject,
   repeated: ``"table mug free China table mug free China table mug free"``. Copying the
   pattern (induction) makes the model predict " China" next, so the country is in the
   residual stream at the last position while nothing in the context asks for its capital.
3. **Replacement**: the outputs of the FFNs from one layer before o's layer to the last layer
   (18-23 in GPT-2 medium) are *replaced* by o at every position (the authors swap each
   ``mlp`` module for one that returns o).
4. **Measured**: how often the answer (" Beijing") is the top-1 token at the last layer
   (world capitals 21.3%, uppercasing 53.5%, past tense 7.8%) and the answer's mean
   reciprocal rank before and after (capitals: rank about 10 -> about 4).

Added here as controls (not in the paper): the same FFNs replaced by zero and by random
vectors of o's norm. The authors' code tokenises with Hugging Face's GPT-2 tokenizer, which
adds no BOS; the contexts here follow the model's ``prepend_bos`` (load it with
``prepend_bos=False`` for the paper's setting) and the result records which.

This is *not* the same quantity as :func:`interp.studies.recall.relation_recall`'s
"same-template transfer" (o added at FFN L of the last position of other few-shot prompts of
the same template, with that FFN ablated), which is much easier.

Example::

    >>> from interp.core.models import load
    >>> from interp.studies.recall import ffn_output
    >>> from interp.tasks.relations import relation_task
    >>> model = load("reference:recall", device="cpu")
    >>> poland = relation_task(model, "capital").clean_tokens[1:2]  # row 1 asks about Poland
    >>> o = ffn_output(model, poland, 5)[0]
    >>> result = o_vector_transfer(model, o, [("China", "Beijing"), ("Japan", "Tokyo")],
    ...                            source=("Poland", "Warsaw"), source_layer=5, n_random=2)
    >>> result.layers, result.transfer_accuracy, result.zero_accuracy
    ([4, 5, 6, 7], 1.0, 0.0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError, TokenizationError
from interp.core.interventions import Component, Intervention, run_with
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


PROTOCOL = (
    "Merullo et al. 2023's transfer: o = FFN L's output at the last position of one few-shot "
    "prompt; contexts of 3 random tokens + the subject, repeated ('table mug free China table "
    "mug free China table mug free'); the outputs of FFNs L-1 .. last replaced by o at every "
    "position; answer top-1 at the last layer"
)
#: the paper's context: (fillers + [subject]) * REPEATS + fillers
N_FILLER, REPEATS = 3, 2


def ranks(logits: Float[Tensor, "batch vocab"], answers: Int[Tensor, " batch"]) -> Tensor:
    """The answer's rank per row (1 = top)."""
    chosen = logits.gather(1, answers[:, None].to(logits.device))
    return 1 + (logits > chosen).sum(1)


def filler_pool(model: Model, exclude: Sequence[int] = ()) -> list[int]:
    """Token ids the random fillers are drawn from: the whole vocabulary except special
    tokens, ``exclude`` and every word of the known relations (no filler is a country, a
    capital or a verb of the past-tense pairs, so none competes with the subject)."""
    from interp.core.tokens import single_token_id
    from interp.tasks.relations import RELATIONS

    tokenizer = model.tokenizer
    banned = set(tokenizer.all_special_ids) | {int(i) for i in exclude}
    for rel in RELATIONS.values():
        for word in (w for pair in rel.pairs for w in pair):
            try:
                banned.add(single_token_id(model, word))
            except TokenizationError:
                pass
    size = min(len(tokenizer), model.cfg.d_vocab)
    return [i for i in range(size) if i not in banned]


def unrelated_contexts(
    model: Model,
    subject_ids: Int[Tensor, " n"],
    seed: int = 0,
    exclude: Sequence[int] = (),
) -> Int[Tensor, "n pos"]:
    """One context per subject: ``N_FILLER`` random tokens (drawn without repetition from
    :func:`filler_pool`, seeded) and the subject, ``REPEATS`` times, then the fillers again;
    with BOS first when the model prepends it (:func:`interp.core.tokens.prepends_bos`)."""
    from interp.core.tokens import check_length, prepends_bos

    pool = torch.tensor(filler_pool(model, exclude))
    if len(pool) < N_FILLER:
        raise InterpError(f"the vocabulary has fewer than {N_FILLER} tokens to use as fillers")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for subject in subject_ids.tolist():
        fillers = pool[torch.randperm(len(pool), generator=gen)[:N_FILLER]].tolist()
        row = (fillers + [int(subject)]) * REPEATS + fillers
        if prepends_bos(model):
            row = [int(model.tokenizer.bos_token_id)] + row
        rows.append(row)
    check_length(model, len(rows[0]), "an unrelated context", with_bos=prepends_bos(model))
    return torch.tensor(rows, device=model.cfg.device)


@dataclasses.dataclass(frozen=True)
class OVectorTransfer(Result):
    """Answer ranks in unrelated contexts, before and with FFN outputs replaced by o."""

    kind: ClassVar[str] = "o_vector_transfer"

    model_name: str
    prepend_bos: bool
    protocol: str
    source: list[str]  # [subject, answer] of the prompt o comes from
    source_layer: int  # the FFN o is the output of
    layers: list[int]  # the FFNs whose outputs are replaced
    subjects: list[str]
    answers: list[str]
    contexts: list[str]  # decoded
    subject_rank: np.ndarray  # [context] the subject's rank with no intervention
    clean_rank: np.ndarray  # [context] the answer's rank with no intervention
    transfer_rank: np.ndarray  # [context] FFN outputs replaced by o
    zero_rank: np.ndarray  # [context] FFN outputs replaced by zero
    random_rank: np.ndarray  # [n_random, context] by random vectors of o's norm
    headline: list[str]  # [subject, answer] shown on its own (China -> Beijing)
    headline_context: str
    headline_clean_top: str
    headline_transfer_top: str

    @property
    def subject_top1(self) -> float:
        return float(np.mean(self.subject_rank == 1))

    @property
    def clean_accuracy(self) -> float:
        return float(np.mean(self.clean_rank == 1))

    @property
    def transfer_accuracy(self) -> float:
        return float(np.mean(self.transfer_rank == 1))

    @property
    def zero_accuracy(self) -> float:
        return float(np.mean(self.zero_rank == 1))

    @property
    def random_accuracy(self) -> float:
        return float(np.mean(self.random_rank == 1))

    def headline_summary(self) -> dict[str, Any]:
        """JSON-able numbers (and the per-context ranks) for tables and stored runs."""
        mrr = lambda r: float(np.mean(1.0 / np.asarray(r, dtype=float)))  # noqa: E731
        return {
            "protocol": self.protocol,
            "prepend_bos": self.prepend_bos,
            "source": self.source,
            "source_layer": self.source_layer,
            "layers": self.layers,
            "n_contexts": len(self.subjects),
            "subject_top1": self.subject_top1,
            "clean_accuracy": self.clean_accuracy,
            "transfer_accuracy": self.transfer_accuracy,
            "zero_accuracy": self.zero_accuracy,
            "random_accuracy": self.random_accuracy,
            "clean_mrr": mrr(self.clean_rank),
            "transfer_mrr": mrr(self.transfer_rank),
            "zero_mrr": mrr(self.zero_rank),
            "random_mrr": mrr(self.random_rank),
            "headline": self.headline,
            "headline_context": self.headline_context,
            "headline_clean_top": self.headline_clean_top,
            "headline_transfer_top": self.headline_transfer_top,
            "subjects": self.subjects,
            "answers": self.answers,
            "contexts": self.contexts,
            "clean_rank": np.asarray(self.clean_rank).tolist(),
            "transfer_rank": np.asarray(self.transfer_rank).tolist(),
            "zero_rank": np.asarray(self.zero_rank).tolist(),
        }

    def figure(self):
        return transfer_figure(self.headline_summary(), self.model_name)


def transfer_figure(summary: dict[str, Any], model_name: str = ""):
    """Answer top-1 and mean reciprocal rank in the unrelated contexts per condition."""
    import plotly.graph_objects as go

    conditions = {
        "no intervention": "clean",
        f"FFNs {layer_span(summary['layers'])} := o": "transfer",
        "FFNs := 0": "zero",
        "FFNs := random": "random",
    }
    fig = go.Figure()
    for metric, suffix in [("answer top-1", "accuracy"), ("answer MRR", "mrr")]:
        fig.add_trace(
            go.Bar(
                x=list(conditions),
                y=[summary[f"{key}_{suffix}"] for key in conditions.values()],
                name=metric,
            )
        )
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(
        title=f"o-vector transfer into unrelated contexts (Merullo et al.) — {model_name}",
        barmode="group",
    )
    return fig


def layer_span(layers: Sequence[int]) -> str:
    """``[18, 19, 20, 21, 22, 23]`` -> ``"18-23"``."""
    layers = list(layers)
    if not layers:
        return "none"
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(str(layer) for layer in layers)


def default_layers(source_layer: int, n_layers: int) -> list[int]:
    """The paper's span: from one layer before o's FFN to the last (FFN 19 -> 18..23)."""
    return list(range(max(0, source_layer - 1), n_layers))


def _replace_ffns(layers: Sequence[int], values: Tensor) -> list[Intervention]:
    """FFN outputs of ``layers`` set to ``values`` ([batch, d_model]) at every position."""
    return [Intervention(Component(layer, "mlp"), value=values[:, None, :]) for layer in layers]


@torch.no_grad()
def o_vector_transfer(
    model: Model,
    o_vector: Float[Tensor, " d_model"],
    pairs: Sequence[tuple[str, str]],
    *,
    source: tuple[str, str],
    source_layer: int,
    layers: Sequence[int] | None = None,
    n_random: int = 10,
    seed: int = 0,
    headline: tuple[str, str] | None = None,
) -> OVectorTransfer:
    """The protocol of the module docstring for ``pairs`` (subject, answer; each one token
    after a space) with ``o_vector`` (FFN ``source_layer``'s output on ``source``'s prompt).
    ``layers``: the FFNs replaced (default :func:`default_layers`); ``seed`` draws the
    fillers and the random vectors; ``headline``: the pair shown on its own (default the
    first)."""
    from interp.core.models import record_of
    from interp.core.tokens import prepends_bos, single_token_id, token_str

    pairs = [(str(s), str(a)) for s, a in pairs]
    if not pairs:
        raise InterpError("o-vector transfer needs at least one (subject, answer) pair")
    n_layers = model.cfg.n_layers
    if not 0 <= source_layer < n_layers:
        raise InterpError(f"source_layer {source_layer} is outside 0..{n_layers - 1}")
    layers = default_layers(source_layer, n_layers) if layers is None else sorted(set(layers))
    if not layers or not all(0 <= layer < n_layers for layer in layers):
        raise InterpError(f"FFN layers to replace must be within 0..{n_layers - 1}; got {layers}")
    if n_random < 1:
        raise InterpError("n_random must be at least 1")
    subject_ids = torch.tensor([single_token_id(model, s) for s, _ in pairs])
    answer_ids = torch.tensor([single_token_id(model, a) for _, a in pairs])
    tokens = unrelated_contexts(model, subject_ids, seed=seed)
    n = tokens.shape[0]

    clean = run_with(model, tokens, [])[:, -1]
    gen = torch.Generator().manual_seed(seed)
    o = o_vector.detach().to(clean.device)
    random = torch.randn(n_random, o.shape[0], generator=gen).to(o)
    random = random / random.norm(dim=1, keepdim=True) * o.norm()
    values = torch.cat(
        [o.expand(n, -1), torch.zeros_like(o).expand(n, -1), random.repeat_interleave(n, 0)]
    )
    batch = tokens.repeat(2 + n_random, 1)
    replaced = run_with(model, batch, _replace_ffns(layers, values))[:, -1]
    transfer, zero, rand = replaced.split([n, n, n * n_random])

    headline = headline if headline in pairs else pairs[0]
    h = pairs.index(headline)
    keep = lambda t: to_numpy(t).astype(np.int64)  # noqa: E731
    return OVectorTransfer(
        model_name=record_of(model).name,
        prepend_bos=prepends_bos(model),
        protocol=PROTOCOL,
        source=list(source),
        source_layer=int(source_layer),
        layers=[int(layer) for layer in layers],
        subjects=[s for s, _ in pairs],
        answers=[a for _, a in pairs],
        contexts=[model.tokenizer.decode(row) for row in tokens.tolist()],
        subject_rank=keep(ranks(clean, subject_ids)),
        clean_rank=keep(ranks(clean, answer_ids)),
        transfer_rank=keep(ranks(transfer, answer_ids)),
        zero_rank=keep(ranks(zero, answer_ids)),
        random_rank=keep(ranks(rand, answer_ids.repeat(n_random))).reshape(n_random, n),
        headline=list(headline),
        headline_context=model.tokenizer.decode(tokens[h].tolist()),
        headline_clean_top=token_str(model, int(clean[h].argmax())),
        headline_transfer_top=token_str(model, int(transfer[h].argmax())),
    )
