"""Where a relation's answer is recalled, and whether one FFN vector does it
(Merullo, Eickhoff & Pavlick 2023, "Language Models Implement Simple Word2Vec-style Vector
Arithmetic").

For the few-shot prompts of a relation task (:mod:`interp.tasks.relations`):

1. **Logit lens** (final LN recomputed per layer, :mod:`interp.methods.logit_lens`) of
   ``resid_post`` of every layer at the last position: the *subject layer* is the first layer
   where the subject (" Poland") is the top-1 token in at least half the prompts
   (:data:`THRESHOLD`), the *answer layer* the first where the answer (" Warsaw") is
   (:data:`LAYER_RULE`); none when no layer reaches the threshold. On the headline prompt
   alone (what Merullo et al. report for GPT-2 medium: " Poland" top-1 around layers 14-18,
   " Warsaw" from FFN 19 on), the layers where its subject is top-1 and the first where its
   answer is.
2. The **o-vector** ``o_L``: the output of FFN ``L`` at the last position of the headline
   prompt (Poland). ``L`` is the answer layer unless given; when no layer reaches the
   threshold, the FFN that raises the answer's mean reciprocal rank most (from ``resid_mid``
   to ``resid_post`` of its layer), and the rule says so.
3. **Same-template last-position transfer** (*not* the paper's protocol): with FFN ``L``
   ablated at the last position of every other prompt of the same few-shot template, add
   ``o_L`` there instead; count top-1 answers (China -> Beijing is the headline). Baseline:
   random vectors of the same norm (seeded), same protocol.
4. **Ablation**: FFN ``L`` at the last position set to zero, or to its **mean over the other
   relation's prompts** (same template, same position, where this relation is not active;
   without a second relation, over the corrupted prompts), loses the answer.
5. **In context**: stating the fact first ("The capital of Poland is Warsaw.") brings the
   answer back with FFN ``L`` still zero-ablated: answers present in the context are copied
   by attention, not recalled by the FFN.
6. **The paper's transfer** (:mod:`interp.studies.transfer`): ``o_L`` replaces the outputs of
   FFNs ``L-1`` .. last at every position of *unrelated* contexts ("table mug free China
   table mug free China table mug free"); the answer's top-1 rate there is the quantity of
   Merullo et al.'s 21.3% (capitals, GPT-2 medium).

Steps 3-5 intervene at the last position only (where the answer is read out), through
:mod:`interp.core.interventions`; every condition is one batched forward pass.
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
from interp.core.errors import InterpError
from interp.core.interventions import Component, Intervention, run_with
from interp.results.base import Result
from interp.studies.transfer import o_vector_transfer, ranks
from interp.tasks.base import Task

if TYPE_CHECKING:
    from interp.core.models import Model


#: a layer "shows" a token when it is top-1 in at least this fraction of the prompts
THRESHOLD = 0.5
#: how the answer layer is defined (printed with every table)
LAYER_RULE = (
    f"answer layer = first layer whose resid_post at the last position has the answer top-1 "
    f"in >= {THRESHOLD:.0%} of the prompts (logit lens); likewise the subject layer"
)
NO_LAYER = f"no layer: the answer is top-1 in >= {THRESHOLD:.0%} of the prompts nowhere"


@dataclasses.dataclass(frozen=True)
class RelationRecallResult(Result):
    """Layers, o-vector transfer, ablation and in-context restoration for one relation."""

    kind: ClassVar[str] = "relation_recall"

    relation: str
    model_name: str
    weight_processing: dict[str, bool]
    ln_treatment: str
    subjects: list[str]
    answers: list[str]
    dropped: list[dict[str, str]]
    layers: list[int]  # resid_post layers decoded (-1 = embeddings)
    subject_top1: np.ndarray  # [layer] fraction of prompts whose top-1 is the subject
    answer_top1: np.ndarray  # [layer] fraction whose top-1 is the answer
    answer_mrr: np.ndarray  # [layer] mean reciprocal rank of the answer
    subject_layer: int | None
    answer_layer: int | None
    ffn_layer: int  # the FFN whose output is the o-vector
    ffn_layer_rule: str  # how it was chosen
    headline: list[str]  # [subject, answer] of the o-vector's source prompt
    headline_target: list[str]  # [subject, answer] of the headline transfer
    o_vector: np.ndarray  # [d_model]
    # the answer's rank (1 = top) per prompt under each condition; transfer and random on the
    # held-out prompts (all but the headline source), the others on all prompts
    held_out: list[str]
    clean_rank: np.ndarray  # [prompt]
    transfer_rank: np.ndarray  # [held_out]
    random_rank: np.ndarray  # [n_random, held_out]
    ablated_rank: np.ndarray  # [prompt] FFN L zero-ablated
    mean_ablated_rank: np.ndarray  # [prompt] FFN L set to its mean over mean_reference
    in_context_rank: np.ndarray  # [prompt] fact stated first, FFN L zero-ablated
    clean_accuracy: float
    transfer_accuracy: float
    random_baseline_accuracy: float
    ablated_accuracy: float
    mean_ablated_accuracy: float
    in_context_accuracy: float
    headline_transfer_top: str  # top-1 of the target prompt with o_L added (" Beijing")
    clean_correct: bool  # headline prompt
    ablated_correct: bool
    mean_ablated_correct: bool
    in_context_restored_correct: bool
    mean_reference: str
    # defaults: runs stored before these existed
    layer_rule: str = LAYER_RULE
    headline_subject_layers: list[int] = dataclasses.field(default_factory=list)
    headline_answer_layer: int | None = None  # first layer the headline answer is top-1
    prepend_bos: bool = True
    #: Merullo et al.'s transfer into unrelated contexts (OVectorTransfer.headline_summary())
    unrelated_transfer: dict[str, Any] = dataclasses.field(default_factory=dict)

    def figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(
            rows=1,
            cols=2,
            subplot_titles=("logit lens, last position", "answer top-1 accuracy"),
            column_widths=[0.6, 0.4],
        )
        x = ["embed" if lay < 0 else f"L{lay}" for lay in self.layers]
        fig.add_trace(go.Scatter(x=x, y=self.subject_top1, name="subject top-1"), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=self.answer_top1, name="answer top-1"), 1, 1)
        fig.add_trace(
            go.Scatter(x=x, y=self.answer_mrr, name="answer MRR", line={"dash": "dot"}), 1, 1
        )
        bars = {
            "clean": self.clean_accuracy,
            f"same-template o_L{self.ffn_layer}": self.transfer_accuracy,
            "random vector": self.random_baseline_accuracy,
            "FFN zero-ablated": self.ablated_accuracy,
            "FFN mean-ablated": self.mean_ablated_accuracy,
            "in context, ablated": self.in_context_accuracy,
        }
        unrelated = self.unrelated_transfer
        if unrelated:
            bars["unrelated: no intervention"] = unrelated["clean_accuracy"]
            bars["unrelated: FFNs := o (paper)"] = unrelated["transfer_accuracy"]
            bars["unrelated: FFNs := 0"] = unrelated["zero_accuracy"]
        fig.add_trace(go.Bar(x=list(bars), y=list(bars.values()), showlegend=False), 1, 2)
        fig.update_yaxes(range=[0, 1.05])
        fig.update_layout(title=f"{self.relation}: recall in {self.model_name}")
        return fig

    def headline_summary(self) -> dict[str, Any]:
        return {
            "relation": self.relation,
            "subject_layer": self.subject_layer,
            "answer_layer": self.answer_layer,
            "ffn_layer": self.ffn_layer,
            "ffn_layer_rule": self.ffn_layer_rule,
            "layer_rule": self.layer_rule,
            "headline_subject_layers": list(self.headline_subject_layers),
            "headline_answer_layer": self.headline_answer_layer,
            "prepend_bos": self.prepend_bos,
            "clean_accuracy": self.clean_accuracy,
            "transfer_accuracy": self.transfer_accuracy,
            "random_baseline_accuracy": self.random_baseline_accuracy,
            "ablated_accuracy": self.ablated_accuracy,
            "mean_ablated_accuracy": self.mean_ablated_accuracy,
            "in_context_accuracy": self.in_context_accuracy,
            "transfer_mrr": float(np.mean(1.0 / self.transfer_rank)),
            "random_mrr": float(np.mean(1.0 / self.random_rank)),
            "ablated_mrr": float(np.mean(1.0 / self.ablated_rank)),
            "ablated_correct": self.ablated_correct,
            "mean_ablated_correct": self.mean_ablated_correct,
            "in_context_restored_correct": self.in_context_restored_correct,
            "headline": self.headline,
            "headline_target": self.headline_target,
            "headline_transfer_top": self.headline_transfer_top,
            "o_vector_norm": float(np.linalg.norm(self.o_vector)),
            "n_pairs": len(self.subjects),
            "n_dropped": len(self.dropped),
            "unrelated_transfer": {
                k: v
                for k, v in self.unrelated_transfer.items()
                if k
                not in (
                    "subjects",
                    "answers",
                    "contexts",
                    "clean_rank",
                    "transfer_rank",
                    "zero_rank",
                )
            },
        }


@dataclasses.dataclass(frozen=True)
class CapitalsResult(RelationRecallResult):
    """The capitals experiment: the country -> capital result plus the second relation's
    headline numbers."""

    kind: ClassVar[str] = "capitals"

    second_relation: dict[str, Any] = dataclasses.field(default_factory=dict)


def _last(model: Model, tokens: Tensor, interventions=()) -> Tensor:
    return run_with(model, tokens, interventions)[:, -1]


def first_layer(
    fraction: np.ndarray, layers: list[int], threshold: float = THRESHOLD
) -> int | None:
    hits = np.flatnonzero(fraction >= threshold)
    return int(layers[hits[0]]) if hits.size else None


@torch.no_grad()
def ffn_output(model: Model, tokens: Tensor, layer: int) -> Float[Tensor, "batch d_model"]:
    """FFN ``layer``'s output at the last position."""
    from interp.core.hooks import block_out_name

    name = block_out_name(layer, "mlp_out")
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == name)
    return cache[name][:, -1]


def _ffn_at_last(layer: int, last: int, value: Tensor | None = None) -> list[Intervention]:
    """FFN ``layer`` ablated at ``last``; ``value`` ([d_model] or [batch, d_model]) put there."""
    mlp = Component(layer, "mlp")
    if value is None:
        return [Intervention(mlp, scale=0.0, positions=[last])]
    value = value if value.ndim == 2 else value[None]
    return [Intervention(mlp, value=value[:, None, :], positions=[last])]


@torch.no_grad()
def relation_recall(
    model: Model,
    task: Task,
    fact_tokens: Tensor,
    *,
    headline: tuple[str, str],
    headline_target: tuple[str, str],
    mean_tokens: Int[Tensor, "batch pos2"],
    mean_reference: str,
    layer: int | None = None,
    n_random: int = 10,
    seed: int = 0,
    transfer_layers: Sequence[int] | None = None,
    progress: bool = False,
) -> RelationRecallResult:
    """Run steps 1-6 of the module docstring on ``task`` (see
    :func:`interp.tasks.relations.relation_task`). ``fact_tokens``: the same prompts with the
    fact stated first; ``mean_tokens``: prompts where the relation is not active (any length:
    FFN ``layer``'s output at their last position is averaged), described by
    ``mean_reference``; ``layer``: the FFN to examine (default: the answer layer);
    ``transfer_layers``: the FFNs the paper's transfer replaces (default ``layer - 1`` to the
    last)."""
    from interp.core.models import record_of
    from interp.core.progress import progress as bar
    from interp.core.tokens import token_str
    from interp.methods.logit_lens import LN_TREATMENT, collect, decode, track

    tokens = task.clean_tokens
    n, length = tokens.shape
    if not bool((task.end == length - 1).all()):
        raise InterpError("relation prompts must all have the same length (single-token pairs)")
    pairs = [tuple(p) for p in task.info["pairs"]]
    subjects = [s for s, _ in pairs]
    if fact_tokens.shape[0] != n:
        raise InterpError(f"fact_tokens has {fact_tokens.shape[0]} prompts; the task has {n}")
    headline = (headline[0], headline[1])
    headline_target = (headline_target[0], headline_target[1])
    if headline not in pairs:
        headline = pairs[0]
    if headline_target not in pairs or headline_target == headline:
        headline_target = next(p for p in pairs if p != headline)
    src, tgt = pairs.index(headline), pairs.index(headline_target)
    answers, subject_ids = task.answer_ids, task.wrong_ids
    steps = bar(total=5, desc=f"{task.name}: recall", disable=not progress or None)

    # 1. logit lens of resid_post (and resid_mid, for the FFN-only fallback) at the last
    # position; every FFN output cached on the way
    n_layers = model.cfg.n_layers
    streams = ["embed"] + [f"L{i}.resid_post" for i in range(n_layers)]
    mids = [f"L{i}.resid_mid" for i in range(n_layers)]
    mlp_streams = [f"L{i}.mlp_out" for i in range(n_layers)]
    cached = collect(model, tokens, streams + mids + mlp_streams, positions=[length - 1])
    cached = cached[:, :, 0]
    k_res, k_mid = len(streams), len(streams) + n_layers
    resid, mid, ffn_out = cached[:k_res], cached[k_res:k_mid], cached[k_mid:]  # [s, batch, d]
    targets = torch.stack([subject_ids, answers], 1)
    lens = track(model, resid, targets)
    layers = [-1] + list(range(n_layers))
    top1 = lens["top1"].cpu()
    subject_hit = (top1 == subject_ids.cpu()).float()  # [stream, batch]
    answer_hit = (top1 == answers.cpu()).float()
    subject_top1 = subject_hit.mean(1).numpy()
    answer_top1 = answer_hit.mean(1).numpy()
    answer_mrr = to_numpy((1.0 / lens["rank"][:, :, 1].float()).mean(1))
    subject_layer = first_layer(subject_top1, layers)
    answer_layer = first_layer(answer_top1, layers)
    headline_subject_layers = [layers[i] for i in np.flatnonzero(subject_hit[:, src].numpy())]
    headline_answer_layer = first_layer(answer_hit[:, src].numpy(), layers, threshold=1.0)
    steps.update()
    if layer is not None:
        rule = "given"
    elif answer_layer is not None and answer_layer >= 0:
        layer, rule = answer_layer, f"first layer where the answer is top-1 in >= {THRESHOLD:.0%}"
    else:  # e.g. a weak model: the FFN that raises the answer's reciprocal rank most
        mid_rank = track(model, mid, targets)["rank"][:, :, 1].float()
        rise = to_numpy((1.0 / lens["rank"][1:, :, 1].float() - 1.0 / mid_rank).mean(1))
        layer = int(np.argmax(rise))
        rule = (
            f"{NO_LAYER}; FFN {layer} raises the answer's mean reciprocal rank most "
            f"(resid_mid -> resid_post: {rise[layer]:+.4f})"
        )
    if not 0 <= layer < n_layers:
        raise InterpError(f"layer {layer} is outside 0..{n_layers - 1}")
    clean_rank = ranks(decode(model, resid[-1]), answers)

    # 2. the o-vector, the random vectors of its norm, the mean for mean-ablation
    o_vector = ffn_out[layer, src]
    gen = torch.Generator().manual_seed(seed)
    random = torch.randn(n_random, o_vector.shape[0], generator=gen).to(o_vector)
    random = random / random.norm(dim=1, keepdim=True) * o_vector.norm()
    mean = ffn_output(model, mean_tokens, layer).mean(0)
    steps.update()

    # 3-4. transfer, random baseline, zero- and mean-ablation: one batched forward, each row
    # with its own value for FFN L at the last position
    held = [i for i in range(n) if i != src]
    k = len(held)
    blocks = [
        (tokens[held], o_vector.expand(k, -1)),  # transfer
        (tokens[held].repeat(n_random, 1), random.repeat_interleave(k, 0)),  # random
        (tokens, torch.zeros_like(o_vector).expand(n, -1)),  # zero-ablated
        (tokens, mean.expand(n, -1)),  # mean-ablated
    ]
    logits = _last(
        model,
        torch.cat([t for t, _ in blocks]),
        _ffn_at_last(layer, length - 1, torch.cat([v for _, v in blocks])),
    )
    transfer_logits, random_logits, zero_logits, mean_logits = logits.split([k, k * n_random, n, n])
    transfer_rank = ranks(transfer_logits, answers[held])
    random_rank = ranks(random_logits, answers[held].repeat(n_random)).reshape(n_random, k)
    headline_transfer = transfer_logits[held.index(tgt)].argmax().item()
    ablated_rank = ranks(zero_logits, answers)
    mean_rank = ranks(mean_logits, answers)
    steps.update()

    # 5. the fact in context, FFN still ablated
    in_context_rank = ranks(
        _last(model, fact_tokens, _ffn_at_last(layer, fact_tokens.shape[1] - 1)), answers
    )
    steps.update()

    # 6. the paper's protocol: o_L into FFNs L-1 .. last of unrelated contexts
    unrelated = o_vector_transfer(
        model,
        o_vector,
        [pairs[i] for i in held],
        source=headline,
        source_layer=layer,
        layers=transfer_layers,
        n_random=n_random,
        seed=seed,
        headline=headline_target,
    )
    steps.update()
    steps.close()

    record = record_of(model)
    acc = lambda ranks: float((ranks == 1).float().mean())  # noqa: E731
    return RelationRecallResult(
        relation=task.name,
        model_name=record.name,
        weight_processing=dict(record.weight_processing),
        ln_treatment=LN_TREATMENT,
        subjects=subjects,
        answers=[a for _, a in pairs],
        dropped=list(task.info.get("dropped", [])),
        layers=layers,
        subject_top1=subject_top1,
        answer_top1=answer_top1,
        answer_mrr=answer_mrr,
        subject_layer=subject_layer,
        answer_layer=answer_layer,
        ffn_layer=int(layer),
        ffn_layer_rule=rule,
        headline=list(headline),
        headline_target=list(headline_target),
        o_vector=to_numpy(o_vector),
        held_out=[subjects[i] for i in held],
        clean_rank=to_numpy(clean_rank),
        transfer_rank=to_numpy(transfer_rank),
        random_rank=to_numpy(random_rank),
        ablated_rank=to_numpy(ablated_rank),
        mean_ablated_rank=to_numpy(mean_rank),
        in_context_rank=to_numpy(in_context_rank),
        clean_accuracy=acc(clean_rank),
        transfer_accuracy=acc(transfer_rank),
        random_baseline_accuracy=acc(random_rank),
        ablated_accuracy=acc(ablated_rank),
        mean_ablated_accuracy=acc(mean_rank),
        in_context_accuracy=acc(in_context_rank),
        headline_transfer_top=token_str(model, headline_transfer),
        clean_correct=bool(clean_rank[src] == 1),
        ablated_correct=bool(ablated_rank[src] == 1),
        mean_ablated_correct=bool(mean_rank[src] == 1),
        in_context_restored_correct=bool(in_context_rank[src] == 1),
        mean_reference=mean_reference,
        layer_rule=LAYER_RULE,
        headline_subject_layers=[int(x) for x in headline_subject_layers],
        headline_answer_layer=headline_answer_layer,
        prepend_bos=record.prepend_bos,
        unrelated_transfer=unrelated.headline_summary(),
    )


def recall_relation(
    model: Model,
    relation: str,
    other: str,
    mean_reference: str | None = None,
    **kwargs: Any,
) -> RelationRecallResult:
    """:func:`relation_recall` on a named relation's task and in-context facts, with FFN
    mean-ablation values taken over the ``other`` relation's prompts (where this relation's
    FFN vector is not active).

    Merullo et al. 2023 on ``reference:recall``: the capital appears at layer 5 (the planted
    FFN), ablating that FFN loses it, and the fact stated in the prompt brings it back:

    >>> from interp import load
    >>> found = recall_relation(load("reference:recall"), "capital", "past_tense", n_random=2)
    >>> found.answer_layer, found.clean_accuracy, found.ablated_accuracy
    (5, 1.0, 0.0)
    >>> found.in_context_accuracy, found.headline_transfer_top  # Poland's o-vector on China
    (1.0, 'Beijing')
    """
    from interp.tasks.relations import fact_tokens, get_relation, relation_task

    rel = get_relation(relation)
    task = relation_task(model, rel)
    return relation_recall(
        model,
        task,
        fact_tokens(model, task, rel),
        headline=rel.headline,
        headline_target=rel.headline_target,
        mean_tokens=relation_task(model, other).clean_tokens,
        mean_reference=mean_reference or f"mean over the {other} prompts at their last position",
        **kwargs,
    )
