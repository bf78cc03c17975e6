"""Relation-recall tasks: country -> capital and present -> past tense (Merullo et al. 2023).

A :class:`Relation` is a word-pair list with its question and fact templates. The prompt is
few-shot, as in the paper's seed example::

    Q: What is the capital of France? A: Paris Q: What is the capital of Poland? A:

and the answer is the next token (" Warsaw"). Pairs are filtered per tokenizer: a subject
and an answer must each be one token after a space (GPT-2's BPE splits "Bogota", the
reference vocabulary lacks "Mexico"); :func:`usable_pairs` reports each dropped pair and
why. :func:`relation_task` builds a :class:`~interp.tasks.base.Task`: clean prompts ask
about each kept subject (with the relation's example pair as the shot, or its alternate for
the example subject itself), the corrupted prompt of row i asks about subject i+1, the
metric is ``logit[answer] - logit[subject]`` (has the subject turned into its answer?), and
named positions are ``SUBJ`` (the queried subject) and ``END``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from interp.core.errors import InterpError, TokenizationError
from interp.core.reference.vocab import CAPITALS, PAST_TENSE
from interp.tasks.base import Task

if TYPE_CHECKING:
    from interp.core.models import Model


@dataclasses.dataclass(frozen=True)
class Relation:
    name: str
    pairs: tuple[tuple[str, str], ...]
    question: str  # "Q: What is the capital of {subject}? A:"
    fact: str  # "The capital of {subject} is {answer}."
    example: tuple[str, str]  # the few-shot pair
    alternate: tuple[str, str]  # the shot used when the example's subject is asked
    headline: tuple[str, str]  # source of the o-vector (Poland -> Warsaw)
    headline_target: tuple[str, str]  # where it is transferred (China -> Beijing)

    def prompt(self, subject: str, example: tuple[str, str] | None = None) -> str:
        ex_subject, ex_answer = example or (
            self.alternate if subject == self.example[0] else self.example
        )
        shot = self.question.format(subject=ex_subject)
        return f"{shot} {ex_answer} {self.question.format(subject=subject)}"

    def fact_prompt(self, subject: str, answer: str, example: tuple[str, str] | None = None) -> str:
        return f"{self.fact.format(subject=subject, answer=answer)} {self.prompt(subject, example)}"


#: a few pairs beyond the reference vocabulary, so the filter report is never empty-by-design
_EXTRA_CAPITALS = (("Brazil", "Brasilia"), ("India", "New Delhi"), ("Argentina", "Buenos Aires"))

RELATIONS: dict[str, Relation] = {
    "capital": Relation(
        name="capital",
        pairs=tuple(CAPITALS) + _EXTRA_CAPITALS,
        question="Q: What is the capital of {subject}? A:",
        fact="The capital of {subject} is {answer}.",
        example=("France", "Paris"),
        alternate=("Germany", "Berlin"),
        headline=("Poland", "Warsaw"),
        headline_target=("China", "Beijing"),
    ),
    "past_tense": Relation(
        name="past_tense",
        pairs=tuple(PAST_TENSE),
        question="Q: What is the past tense of {subject}? A:",
        fact="The past tense of {subject} is {answer}.",
        example=("walk", "walked"),
        alternate=("play", "played"),
        headline=("jump", "jumped"),
        headline_target=("cook", "cooked"),
    ),
}


def get_relation(name: str) -> Relation:
    if name not in RELATIONS:
        raise InterpError(f"unknown relation {name!r}; known: {', '.join(sorted(RELATIONS))}")
    return RELATIONS[name]


def usable_pairs(
    model: Model, relation: Relation
) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    """Pairs whose subject and answer are single tokens for ``model``'s tokenizer, and the
    dropped ones as ``{"subject", "answer", "reason"}``."""
    from interp.core.tokens import single_token_id

    kept, dropped, seen = [], [], set()
    for subject, answer in relation.pairs:
        try:
            ids = (single_token_id(model, subject), single_token_id(model, answer))
        except TokenizationError as err:
            dropped.append({"subject": subject, "answer": answer, "reason": str(err)})
            continue
        if ids[0] == ids[1] or ids in seen:
            dropped.append({"subject": subject, "answer": answer, "reason": "duplicate token"})
            continue
        seen.add(ids)
        kept.append((subject, answer))
    return kept, dropped


def relation_task(
    model: Model, relation: str | Relation = "capital", n_prompts: int | None = None, seed: int = 0
) -> Task:
    """The relation's few-shot prompts over its usable pairs (all of them unless
    ``n_prompts``; the order is fixed, ``seed`` only matters when subsampling)."""
    from interp.core.tokens import single_token_id, to_tokens

    rel = get_relation(relation) if isinstance(relation, str) else relation
    kept, dropped = usable_pairs(model, rel)
    if rel.example not in kept or rel.alternate not in kept:
        raise InterpError(
            f"relation {rel.name!r}: the few-shot pairs {rel.example} and {rel.alternate} must "
            f"be single tokens for this model"
        )
    if len(kept) < 2:
        raise InterpError(f"relation {rel.name!r} has fewer than 2 usable pairs for this model")
    if n_prompts is not None and n_prompts < len(kept):
        order = torch.randperm(len(kept), generator=torch.Generator().manual_seed(seed))
        kept = [kept[i] for i in sorted(order[:n_prompts].tolist())]
    prompts = [rel.prompt(s) for s, _ in kept]
    corrupted = [rel.prompt(kept[(i + 1) % len(kept)][0]) for i in range(len(kept))]
    clean_tokens = to_tokens(model, prompts)
    corrupted_tokens = to_tokens(model, corrupted)
    n, length = clean_tokens.shape
    subj = single_token_id
    subject_ids = torch.tensor([subj(model, s) for s, _ in kept])
    answer_ids = torch.tensor([subj(model, a) for _, a in kept])
    # the queried subject is the last occurrence of its token
    is_subj = clean_tokens.cpu() == subject_ids[:, None]
    subj_pos = length - 1 - is_subj.flip(1).int().argmax(1)
    device = clean_tokens.device
    return Task(
        name=rel.name,
        prompts=tuple(prompts),
        corrupted_prompts=tuple(corrupted),
        clean_tokens=clean_tokens,
        corrupted_tokens=corrupted_tokens,
        answer_ids=answer_ids.to(device),
        wrong_ids=subject_ids.to(device),
        positions={
            "SUBJ": subj_pos.to(device),
            "END": torch.full((n,), length - 1, dtype=torch.long, device=device),
        },
        groups=torch.zeros(n, dtype=torch.long, device=device),
        info={
            "relation": rel.name,
            "pairs": [list(p) for p in kept],
            "dropped": dropped,
            "example": list(rel.example),
            "n_dropped": len(dropped),
        },
    )


def fact_tokens(model: Model, task: Task, relation: str | Relation) -> torch.Tensor:
    """The task's clean prompts with the fact stated first ("The capital of Poland is
    Warsaw. Q: ..."): the answer is then in the context."""
    from interp.core.tokens import to_tokens

    rel = get_relation(relation) if isinstance(relation, str) else relation
    prompts = [rel.fact_prompt(s, a) for s, a in task.info["pairs"]]
    return to_tokens(model, prompts)


def analogy_questions(pairs: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """``(a, b, c, expected)`` meaning ``a - b + c ~= expected``, from consecutive pairs:
    (Paris, France, Germany, Berlin) for (France, Paris), (Germany, Berlin)."""
    out = []
    for i, (x, y) in enumerate(pairs):
        x2, y2 = pairs[(i + 1) % len(pairs)]
        out.append((y, x, x2, y2))
    return out


def capital_task(model: Model, n_prompts: int | None = None, seed: int = 0) -> Task:
    """Country -> capital, in the :func:`interp.tasks.make_task` builder signature."""
    return relation_task(model, "capital", n_prompts=n_prompts, seed=seed)


def past_tense_task(model: Model, n_prompts: int | None = None, seed: int = 0) -> Task:
    """Present -> past tense, in the :func:`interp.tasks.make_task` builder signature."""
    return relation_task(model, "past_tense", n_prompts=n_prompts, seed=seed)
