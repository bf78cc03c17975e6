"""Word vectors for the dashboard's Words page: nearest neighbours in the embedding or the
residual stream, analogies with the answer's rank, a PCA map of chosen words, same- vs
different-sense similarity by layer (:mod:`interp.methods.polysemy`), and induction heads
over a trained model's shipped checkpoints (:mod:`interp.studies.induction`).

Pure functions of the model and hashable arguments (so the page can cache them); the
starting words are chosen among those that are one token for the selected model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interp.core.errors import InterpError

if TYPE_CHECKING:
    from interp.core.models import Model
    from interp.methods.polysemy import SenseSimilarity
    from interp.methods.words import WordAnalogy, WordNeighbours, WordProjection
    from interp.studies.induction import InductionOverTraining

#: words the neighbour box starts with: the first one that is one token for the model
START_WORDS = ("river", "Paris", "Mary", "water", "the")
#: analogies the analogy box starts with (a - b + c = expected): the first all one token
START_ANALOGIES = (
    ("biggest", "big", "small", "smallest"),
    ("larger", "large", "small", "smaller"),
    ("Paris", "France", "Germany", "Berlin"),
    ("women", "woman", "man", "men"),
    ("she", "he", "his", "her"),
)
#: groups of words the PCA map starts with (each group one colour); words that are not one
#: token for the model are left out
START_MAP = (
    "France Paris; Germany Berlin; Poland Warsaw; Italy Rome",
    "man woman boy girl; father mother son daughter; dog cat horse bird; red green blue yellow",
)
#: induction over training: at most this many checkpoints are measured for the page
PAGE_CHECKPOINTS = 12


def space_options(n_layers: int) -> dict[str, str | int]:
    """Label -> space for the page's selectors: W_E, W_U, and every residual layer."""
    from interp.methods.words import space_label

    options: dict[str, str | int] = {"embedding (W_E)": "W_E", "unembedding (W_U)": "W_U"}
    for layer in range(n_layers + 1):
        options[f"residual: {space_label(layer)}"] = layer
    return options


def single_tokens(model: Model, words: list[str]) -> list[str]:
    from interp.core.tokens import is_single_token

    return [w for w in words if is_single_token(model, w)]


def start_word(model: Model) -> str:
    """The first of :data:`START_WORDS` that is one token for ``model``."""
    found = single_tokens(model, list(START_WORDS))
    return found[0] if found else ""


def start_analogy(model: Model) -> tuple[str, str, str, str]:
    """The first of :data:`START_ANALOGIES` whose four words are one token each."""
    for q in START_ANALOGIES:
        if len(single_tokens(model, list(q))) == 4:
            return q
    return ("", "", "", "")


def parse_groups(text: str) -> tuple[list[str], list[str]]:
    """``"France Paris; Poland Warsaw"`` -> words and a group label per word (groups are
    separated by ``;`` or new lines, words by spaces or commas; one group: no labels)."""
    chunks = [c for c in text.replace("\n", ";").split(";") if c.strip()]
    words, groups = [], []
    for chunk in chunks:
        members = [w for w in chunk.replace(",", " ").split() if w]
        words += members
        label = " ".join(members[:2]) + ("…" if len(members) > 2 else "")
        groups += [label if len(chunks) > 1 else ""] * len(members)
    return words, groups


def start_map(model: Model) -> str:
    """The first :data:`START_MAP` text with at least four single-token words (the others
    dropped)."""
    for text in START_MAP:
        kept = []
        for chunk in text.split(";"):
            members = single_tokens(model, chunk.split())
            if members:
                kept.append(" ".join(members))
        if sum(len(c.split()) for c in kept) >= 4:
            return "; ".join(kept)
    return ""


def nearest_words(
    model: Model, word: str, space: str | int, k: int = 10, context: str = ""
) -> WordNeighbours:
    from interp.methods.words import neighbours

    return neighbours(model, word, space=space, k=k, context=context or None)


def word_analogy(
    model: Model, a: str, b: str, c: str, expected: str = "", space: str | int = "W_E", k: int = 10
) -> WordAnalogy:
    from interp.methods.words import analogy

    if not (a.strip() and b.strip() and c.strip()):
        raise InterpError("type the three words a, b and c of a - b + c")
    return analogy(model, a, b, c, expected=expected or None, space=space, k=k)


def word_map(model: Model, text: str, space: str | int = "W_E") -> WordProjection:
    """The PCA map of the words in ``text`` (:func:`parse_groups`)."""
    from interp.methods.words import projection

    words, groups = parse_groups(text)
    return projection(model, words, space=space, groups=groups)


def sense_curves(model: Model, center: bool = False) -> SenseSimilarity:
    """Same- vs different-sense similarity of the shipped sense sets, by layer."""
    from interp.methods.polysemy import sense_similarity

    return sense_similarity(model, center=center)


def trained_kind(model_name: str) -> str | None:
    """``KIND`` of a ``trained:KIND`` name that ships checkpoints, else None."""
    from interp.core.trained import TRAINED_MODELS, TRAINED_PREFIX, checkpoints

    if not model_name.startswith(TRAINED_PREFIX):
        return None
    kind = model_name[len(TRAINED_PREFIX) :]
    if kind not in TRAINED_MODELS or not checkpoints(kind):
        return None
    return kind


def induction_curve(
    model_name: str,
    device: str = "auto",
    probe: str = "random",
    max_checkpoints: int = PAGE_CHECKPOINTS,
) -> InductionOverTraining | None:
    """Induction heads over the shipped checkpoints of a ``trained:KIND`` model (at most
    ``max_checkpoints``, evenly spread), scored on repeated random tokens or (``probe=
    "text"``) on its repeated held-out text (40-token spans), or None for a model without
    checkpoints."""
    from interp.studies.induction import shipped_induction

    kind = trained_kind(model_name)
    if kind is None:
        return None
    return shipped_induction(kind, max_checkpoints=max_checkpoints, device=device, probe=probe,
                             seq_len=40 if probe == "text" else 10)  # fmt: skip


def skipped_note(result: SenseSimilarity) -> str:
    """One line on the sense sets this model could not read, or ""."""
    if not result.skipped:
        return ""
    words = ", ".join(d["word"] for d in result.skipped)
    return f"Skipped {len(result.skipped)} sets this model cannot tokenise: {words}."


def split_note(result: SenseSimilarity) -> str:
    """Which words the tokenizer split (read at their last token), or ""."""
    split: list[Any] = [(w, s) for w, s in zip(result.words, result.split) if s]
    if not split:
        return ""
    shown = "; ".join(f"{w} = {' + '.join(s)}" for w, s in split)
    return f"Split into several tokens and read at the last one: {shown}."
