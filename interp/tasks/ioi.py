"""The indirect-object identification task (Wang et al. 2022, "Interpretability in the Wild").

"When Mary and John went to the store, John gave a drink to" -> " Mary". The indirect object
(IO, Mary) appears once, the subject (S, John) twice (S1, S2); the model must name the one
that was *not* repeated. :func:`ioi_task` builds the paper's dataset p_IOI: its 15 BABA
templates ("Then, [S] and [IO] went to ...") and their ABBA mirrors ("Then, [IO] and [S] went
to ..."), filled with single-token names, places and objects, seeded and reproducible.

Names: the paper uses 100 single-token names; :data:`IOI_NAMES` holds 100 common English
first names, each one GPT-2 BPE token both after a space (" Mary") and at the start of a
text ("Mary"), checked against GPT-2's own tokenizer. The default pool
(:func:`default_words`) is the reference models' 40 names followed by the 68 of
:data:`IOI_NAMES` they lack; :func:`usable_names` keeps those that are single tokens *of the
model at hand* both ways (a word-level vocabulary's ``<unk>`` is no token of a name): GPT-2
keeps exactly :data:`IOI_NAMES` (8 of the reference names split at the start of a text), the
reference and trained models their 40, in the order they always had.

Corrupted distributions (same template, same length, so positions line up):

* ``abc`` — p_ABC: IO, S1 and S2 replaced by three distinct unrelated names (no name is
  repeated, so nothing marks a subject); the paper's reference for mean ablation and path
  patching;
* ``s2_swap`` — S2 replaced by IO: the repeated name is now IO, so the answer flips to S
  (the logit difference IO − S becomes about minus its clean value).

Named positions per prompt: ``IO``, ``S1``, ``S1+1``, ``S2``, ``END`` (the last token, whose
next-token prediction is scored). :func:`ioi_from_prompt` wraps one user prompt, inferring
IO and S (the name said once / twice) unless they are given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from interp.core.errors import InterpError, PromptError
from interp.core.tokens import _unk_id, is_single_token, single_token_id
from interp.tasks.base import Task, tokenize_padded

if TYPE_CHECKING:
    from interp.core.models import Model


#: the paper's 15 BABA templates (subject first); the prompt stops before the answer
BABA_TEMPLATES = [
    "Then, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] had a lot of fun at the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] were working at the [PLACE]. [S] decided to give a [OBJECT] to",
    "Then, [S] and [IO] were thinking about going to the [PLACE]. [S] wanted to give a [OBJECT] to",
    "Then, [S] and [IO] had a long argument, and afterwards [S] said to",
    "After [S] and [IO] went to the [PLACE], [S] gave a [OBJECT] to",
    "When [S] and [IO] got a [OBJECT] at the [PLACE], [S] decided to give it to",
    "When [S] and [IO] got a [OBJECT] at the [PLACE], [S] decided to give the [OBJECT] to",
    "While [S] and [IO] were working at the [PLACE], [S] gave a [OBJECT] to",
    "While [S] and [IO] were commuting to the [PLACE], [S] gave a [OBJECT] to",
    "After the lunch, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Afterwards, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] had a long argument. Afterwards [S] said to",
    "The [PLACE] [S] and [IO] went to had a [OBJECT]. [S] gave it to",
    "Friends [S] and [IO] found a [OBJECT] at the [PLACE]. [S] gave it to",
]


def abba(template: str) -> str:
    """The ABBA mirror of a BABA template: the first S and IO change places."""
    return template.replace("[S]", "[TMP]", 1).replace("[IO]", "[S]", 1).replace("[TMP]", "[IO]", 1)


ABBA_TEMPLATES = [abba(t) for t in BABA_TEMPLATES]
ORDERS = ("ABBA", "BABA")
CORRUPTIONS = ("abc", "s2_swap")


#: 100 common English first names (Wang et al. 2022 use 100), each a single GPT-2 BPE token
#: both with a leading space and at the start of a text (tests/test_ioi_task.py checks them
#: against GPT-2's tokenizer): the 32 reference-vocabulary names that are, then 68 more
IOI_NAMES: tuple[str, ...] = tuple(
    "Mary John Alice Bob Tom Anna James Sarah David Michael Laura Daniel Kate Paul Lisa Mark "
    "Peter Rachel Chris Amy Steven Robert Kevin Jessica Andrew Emily Brian Rose Eric Jason "
    "Adam Ryan "
    "William Richard Thomas Charles Joseph George Edward Henry Frank Jack Joe Jim Mike Steve "
    "Sam Ben Dan Tim Matt Max Luke Jake Scott Justin Brandon Tyler Kyle Sean Patrick Anthony "
    "Jeff Greg Gary Larry Jerry Carl Roger Simon Alex Martin Tony Nick Josh Ian Louis Arthur "
    "Harry Fred Dean Neil Ross Jordan Taylor Morgan Susan Elizabeth Jennifer Maria Jane Ann "
    "Michelle Kelly Anne Eva Victoria Ruby Jamie Marie".split()
)


def default_words(kind: str) -> list[str]:
    """The default candidates of ``kind`` (names, places, objects), before the per-model
    filter: names are the reference vocabulary's 40, then the rest of :data:`IOI_NAMES`."""
    from interp.core.reference import vocab

    if kind == "names":
        return list(dict.fromkeys([*vocab.NAMES, *IOI_NAMES]))
    return list({"places": vocab.PLACES, "objects": vocab.OBJECTS}[kind])


def is_name_token(model: Model, name: str) -> bool:
    """Is ``name`` one token of ``model`` both after a space and at the start of a text (and
    not the word-level vocabulary's ``<unk>``)? GPT-2: " Emma" is one token, "Emma" two.

    >>> from interp.core.models import load
    >>> model = load("reference:ioi")
    >>> is_name_token(model, "Mary"), is_name_token(model, "William")  # not in its vocabulary
    (True, False)
    """
    return is_single_token(model, name) and _bare_single_token(model, name)


def usable_names(model: Model) -> list[str]:
    """The default names (:func:`default_words`) that are single tokens of ``model`` in both
    positions (:func:`is_name_token`), in order."""
    return [n for n in default_words("names") if is_name_token(model, n)]


def fill(template: str, io: str, s1: str, s2: str, place: str = "", obj: str = "") -> str:
    """Fill a template; S1 and S2 are given separately so corrupted prompts can differ."""
    if template.count("[S]") != 2 or template.count("[IO]") != 1:
        raise InterpError(f"an IOI template needs [IO] once and [S] twice: {template!r}")
    text = template.replace("[IO]", io).replace("[S]", s1, 1).replace("[S]", s2, 1)
    return text.replace("[PLACE]", place).replace("[OBJECT]", obj)


def _single_token_words(
    model: Model, words: Sequence[str] | None, kind: str, need: int
) -> list[str]:
    """User lists must be single tokens (clear error); default lists are filtered."""
    if words is None:
        fits = is_name_token if kind == "names" else is_single_token
        kept = [w for w in default_words(kind) if fits(model, w)]
        if len(kept) < need:
            raise InterpError(
                f"only {len(kept)} of the default {kind} are single tokens for this model; "
                f"give at least {need} single-token {kind}"
            )
        return kept
    words = [w.strip() for w in words]
    if len(words) < need:
        raise InterpError(
            f"the IOI task needs at least {need} distinct {kind}; got {len(words)}"
            + (" (an empty list)" if not words else "")
        )
    bad = [w for w in words if not is_single_token(model, w)]
    if bad:
        single_token_id(model, bad[0])  # raises TokenizationError with the details
    if len(set(words)) != len(words):
        raise InterpError(f"the {kind} list has duplicates")
    return words


def _find(row: list[int], ids: set[int], start: int = 0) -> int:
    for i in range(start, len(row)):
        if row[i] in ids:
            return i
    return -1


def _name_ids(model: Model, name: str) -> set[int]:
    """Token ids of ``name`` after a space and, if it is one token, at the very start."""
    ids = {single_token_id(model, name)}
    bare = model.tokenizer(name, add_special_tokens=False)["input_ids"]
    if len(bare) == 1 and bare[0] != _unk_id(model):
        ids.add(int(bare[0]))
    return ids


def _positions(
    model: Model, tokens: torch.Tensor, ends: torch.Tensor, ios: list[str], ss: list[str]
) -> dict[str, torch.Tensor]:
    io_pos, s1_pos, s2_pos = [], [], []
    for b, row in enumerate(tokens.tolist()):
        io_ids, s_ids = _name_ids(model, ios[b]), _name_ids(model, ss[b])
        io = _find(row, io_ids)
        s1 = _find(row, s_ids)
        s2 = _find(row, s_ids, s1 + 1) if s1 >= 0 else -1
        if min(io, s1, s2) < 0:
            raise PromptError(
                f"could not find IO {ios[b]!r} once and S {ss[b]!r} twice in prompt {b} "
                "after tokenisation"
            )
        io_pos.append(io)
        s1_pos.append(s1)
        s2_pos.append(s2)
    as_t = lambda x: torch.tensor(x, device=tokens.device)  # noqa: E731
    s1_t = as_t(s1_pos)
    return {"IO": as_t(io_pos), "S1": s1_t, "S1+1": s1_t + 1, "S2": as_t(s2_pos), "END": ends}


def check_has_heads(model: Model) -> None:
    """The IOI analyses need attention heads; refuse a model without any, clearly."""
    if int(getattr(model.cfg, "n_heads", 0) or 0) <= 0:
        raise InterpError(
            "this model has no attention heads, so it cannot move names between positions "
            "and the IOI circuit analysis does not apply; use a GPT-2-family model"
        )


def ioi_task(
    model: Model,
    n_prompts: int = 100,
    seed: int = 0,
    corruption: str = "abc",
    orders: Sequence[str] = ORDERS,
    templates: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    places: Sequence[str] | None = None,
    objects: Sequence[str] | None = None,
) -> Task:
    """``n_prompts`` IOI prompts (100 by default, the paper's size), alternating ABBA and
    BABA, over the paper's templates (or the template indices ``templates``), with a
    corrupted twin of each (``corruption``). Default names: :func:`usable_names`.

    >>> from interp import load
    >>> task = ioi_task(load("reference:ioi"), n_prompts=8)
    >>> task.prompts[0]
    'Then, Chris and Robert had a long argument. Afterwards Robert said to'
    >>> task.corrupted_prompts[0]  # ABC: three unrelated names
    'Then, Alice and Mary had a long argument. Afterwards James said to'
    >>> task.position_names()
    ['IO', 'S1', 'S1+1', 'S2', 'END']
    """
    check_has_heads(model)
    if n_prompts < 1:
        raise InterpError(f"n_prompts must be at least 1; got {n_prompts}")
    if corruption not in CORRUPTIONS:
        raise InterpError(f"unknown corruption {corruption!r}; choose one of {CORRUPTIONS}")
    orders = list(orders)
    if not orders or any(o not in ORDERS for o in orders):
        raise InterpError(f"orders must be a non-empty subset of {ORDERS}; got {orders}")
    template_ids = list(range(len(BABA_TEMPLATES))) if templates is None else list(templates)
    if not template_ids or any(not 0 <= t < len(BABA_TEMPLATES) for t in template_ids):
        raise InterpError(f"template indices must be in 0..{len(BABA_TEMPLATES) - 1}")
    names = _single_token_words(model, names, "names", 5)
    places = _single_token_words(model, places, "places", 1)
    objects = _single_token_words(model, objects, "objects", 1)

    rng = np.random.default_rng(seed)
    clean, corrupt, ios, ss, groups, used_orders = [], [], [], [], [], []
    for i in range(n_prompts):
        order = orders[i % len(orders)]
        t = int(rng.choice(template_ids))
        template = (ABBA_TEMPLATES if order == "ABBA" else BABA_TEMPLATES)[t]
        io, s = (str(x) for x in rng.choice(names, 2, replace=False))
        place, obj = str(rng.choice(places)), str(rng.choice(objects))
        others = [n for n in names if n not in (io, s)]
        x, y, z = (str(n) for n in rng.choice(others, 3, replace=False))
        clean.append(fill(template, io, s, s, place, obj))
        if corruption == "abc":
            corrupt.append(fill(template, x, y, z, place, obj))
        else:
            corrupt.append(fill(template, io, s, io, place, obj))
        ios.append(io)
        ss.append(s)
        groups.append(t + (len(BABA_TEMPLATES) if order == "ABBA" else 0))
        used_orders.append(order)
    return _build(
        model,
        "ioi",
        clean,
        corrupt,
        ios,
        ss,
        groups,
        info={
            "seed": seed,
            "corruption": corruption,
            "orders": used_orders,
            "templates": [(BABA_TEMPLATES + ABBA_TEMPLATES)[g] for g in sorted(set(groups))],
        },
    )


def _build(model: Model, name, clean, corrupt, ios, ss, groups, info) -> Task:
    clean_tokens, ends = tokenize_padded(model, clean)
    corrupted_tokens, corrupt_ends = tokenize_padded(model, corrupt)
    if corrupted_tokens.shape != clean_tokens.shape or not torch.equal(ends, corrupt_ends):
        raise PromptError(
            "a corrupted prompt has a different number of tokens from its clean prompt; "
            "every name must be a single token"
        )
    positions = _positions(model, clean_tokens, ends, ios, ss)
    answers = torch.tensor([single_token_id(model, n) for n in ios], device=clean_tokens.device)
    wrong = torch.tensor([single_token_id(model, n) for n in ss], device=clean_tokens.device)
    return Task(
        name=name,
        prompts=tuple(clean),
        corrupted_prompts=tuple(corrupt),
        clean_tokens=clean_tokens,
        corrupted_tokens=corrupted_tokens,
        answer_ids=answers,
        wrong_ids=wrong,
        positions=positions,
        groups=torch.tensor(groups, device=clean_tokens.device),
        info={**info, "io": list(ios), "s": list(ss)},
    )


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def infer_names(prompt: str, names: Sequence[str] | None = None) -> tuple[str, str]:
    """(IO, S) of an IOI prompt: among known names (or capitalised words that are not the
    first word of a sentence), S is said twice and IO once."""
    words = _WORD.findall(prompt)
    if names is not None:
        known = set(names)
        candidates = [w for w in words if w in known]
    else:
        sentence_starts = {m.group(1) for m in re.finditer(r"(?:^|[.!?]\s+)([A-Za-z]+)", prompt)}
        candidates = [w for w in words if w[0].isupper() and w not in sentence_starts]
    counts = {w: candidates.count(w) for w in dict.fromkeys(candidates)}
    twice = [w for w, c in counts.items() if c == 2]
    once = [w for w, c in counts.items() if c == 1]
    if len(twice) != 1 or len(once) != 1:
        raise PromptError(
            "cannot tell the indirect object from the subject in this prompt (expected one "
            f"name said once and one said twice; found {counts or 'no names'}); "
            "give io= and s= explicitly"
        )
    return once[0], twice[0]


def _starts_bare(prompt: str, word: str, index: int) -> bool:
    """Is the ``index``-th occurrence of ``word`` in ``prompt`` preceded by no space (the
    text's start, a quote, a newline), so that it is tokenized without a leading space?"""
    matches = list(re.finditer(rf"\b{re.escape(word)}\b", prompt))
    if index >= len(matches):
        return False
    start = matches[index].start()
    return start == 0 or prompt[start - 1] != " "


def _bare_single_token(model: Model, word: str) -> bool:
    """Is ``word`` one token when it has no leading space (at the start of a text)? A
    word-level vocabulary's ``<unk>`` is not the word's token."""
    ids = model.tokenizer(word, add_special_tokens=False)["input_ids"]
    return len(ids) == 1 and ids[0] != _unk_id(model)


def _pick_distinct(rng: np.random.Generator, pools: Sequence[Sequence[str]]) -> list[str]:
    """One name from each pool, all different (most constrained pool first)."""
    chosen: dict[int, str] = {}
    for i in sorted(range(len(pools)), key=lambda j: len(pools[j])):
        left = [n for n in pools[i] if n not in chosen.values()]
        if not left:
            raise InterpError(
                "not enough names that are single tokens in the positions of the prompt's "
                "names (at the start of a sentence a name has no leading space) for the "
                "corrupted prompt; give more names with names="
            )
        chosen[i] = str(left[int(rng.integers(len(left)))])
    return [chosen[i] for i in range(len(pools))]


def ioi_from_prompt(
    model: Model,
    prompt: str,
    io: str | None = None,
    s: str | None = None,
    corruption: str = "abc",
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Task:
    """A one-prompt IOI task from ``prompt`` (which stops before the answer), e.g.
    "When Mary and John went to the store, John gave a drink to"."""
    check_has_heads(model)
    if not prompt or not prompt.strip():
        raise PromptError("the prompt is empty; type an IOI sentence that stops before the answer")
    if corruption not in CORRUPTIONS:
        raise InterpError(f"unknown corruption {corruption!r}; choose one of {CORRUPTIONS}")
    pool = _single_token_words(model, names, "names", 5) if names is not None else None
    if io is None or s is None:
        guess_io, guess_s = infer_names(prompt, pool or default_words("names"))
        io, s = io or guess_io, s or guess_s
    for who, word in (("IO", io), ("S", s)):
        single_token_id(model, word)
        count = len(re.findall(rf"\b{re.escape(word)}\b", prompt))
        if count != (1 if who == "IO" else 2):
            raise PromptError(
                f"{who} {word!r} must appear {'once' if who == 'IO' else 'twice'} in the "
                f"prompt; it appears {count} times"
            )
    pool = pool or usable_names(model)
    others = [n for n in pool if n not in (io, s) and not re.search(rf"\b{n}\b", prompt)]
    if len(others) < 3:
        raise InterpError("need three more single-token names for the corrupted prompt")
    # a name that starts the text (or follows no space) is tokenized without its leading
    # space, where GPT-2's BPE splits some names ("Kristen" -> "K", "rist", "en"): each
    # replacement must be one token in the position it takes
    bare = {
        "IO": _starts_bare(prompt, io, 0),
        "S1": _starts_bare(prompt, s, 0),
        "S2": _starts_bare(prompt, s, 1),
    }
    rng = np.random.default_rng(seed)
    x, y, z = (str(n) for n in rng.choice(others, 3, replace=False))
    if any(bare.values()):
        fits = {
            role: [n for n in others if not at_start or _bare_single_token(model, n)]
            for role, at_start in bare.items()
        }
        x, y, z = _pick_distinct(rng, [fits["IO"], fits["S1"], fits["S2"]])
    # replace occurrences in order: IO -> x, first S -> y, second S -> z (or IO for s2_swap)
    template = re.sub(rf"\b{re.escape(io)}\b", "[IO]", prompt)
    template = re.sub(rf"\b{re.escape(s)}\b", "[S]", template)
    corrupt = fill(template, x, y, z) if corruption == "abc" else fill(template, io, s, io)
    return _build(
        model,
        "ioi",
        [prompt],
        [corrupt],
        [io],
        [s],
        [0],
        info={"seed": seed, "corruption": corruption, "templates": [template]},
    )
