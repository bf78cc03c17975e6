"""Polysemy and homonymy in the residual stream: does a word's vector separate its senses?

A word's input embedding is one vector whatever it means: ``bank`` is the same row of
``W_E`` by a river and at a cash machine. Contextual models rewrite it: by the upper layers
the residual at "bank" should be closer to other *river* banks than to *financial* banks
(Ethayarajh 2019, *How contextual are contextualized word representations?*; Wiedemann et
al. 2019 on sense clustering in BERT). For each sense-labelled set of
:mod:`interp.tasks.senses` this reads the target word's residual stream at every layer (the
layers of :mod:`interp.methods.words`: 0 = the token embedding alone, without the position
embedding; ``l`` = after block ``l - 1``) in every context, at the word's **last token** when
the tokenizer splits it, and averages the cosine similarity of

* **same-sense** pairs: two contexts of the word with the same meaning, and
* **different-sense** pairs: two contexts of the word with different meanings,

per word, then over words. At layer 0 the two are equal by construction (one token vector:
every cosine is 1, the gap is 0); a gap that opens with depth is contextual sense
information. Raw residual cosines of small GPT-2s are high everywhere (a shared mean
direction); ``center=True`` subtracts, per layer, the mean residual over every context of
every word first, which shows the same gap on a wider scale.

>>> from interp.core.models import load
>>> result = sense_similarity(load("trained:text"))
>>> float(result.gap()[0]), bool(result.gap()[-1] > 0)
(0.0, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from jaxtyping import Float

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError
from interp.methods.words import context_vectors, space_label
from interp.results.base import Result
from interp.tasks.senses import SENSE_SETS, SenseSet

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.core.models import Model


@dataclasses.dataclass(frozen=True)
class SenseSimilarity(Result):
    """Mean cosine of same-sense and different-sense pairs, ``[word, layer]`` and over words."""

    kind: ClassVar[str] = "sense_similarity"
    model_name: str
    words: list[str]
    word_kinds: list[str]  # homonym | polyseme, per word
    senses: list[list[str]]  # sense labels per word
    split: list[list[str]]  # per word: its tokens when split into several ([] when one token)
    skipped: list[dict[str, str]]  # sets that could not be read on this model, and why
    layers: list[str]  # layer labels, 0 .. n_layers
    centered: bool
    same: Float[np.ndarray, "word layer"]
    different: Float[np.ndarray, "word layer"]
    same_mean: Float[np.ndarray, " layer"]
    different_mean: Float[np.ndarray, " layer"]
    n_same_pairs: int
    n_different_pairs: int

    def gap(self) -> np.ndarray:
        """Same-sense minus different-sense mean cosine, per layer."""
        return self.same_mean - self.different_mean

    def kind_means(self, word_kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(same, different) per layer over the words of one kind."""
        mask = np.array([k == word_kind for k in self.word_kinds])
        if not mask.any():
            raise InterpError(f"no {word_kind} was measured")
        return self.same[mask].mean(0), self.different[mask].mean(0)

    def rows(self) -> list[dict[str, Any]]:
        """One row per layer: the two means and their gap."""
        gap = self.gap()
        return [
            {
                "layer": label,
                "same sense": round(float(s), 4),
                "different sense": round(float(d), 4),
                "gap": round(float(g), 4),
            }
            for label, s, d, g in zip(self.layers, self.same_mean, self.different_mean, gap)
        ]

    def figure(self) -> go.Figure:
        from interp.figures.words import sense_figure

        return sense_figure(self)


def _pair_means(
    unit: Float[torch.Tensor, "layer n d_model"], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    cos = unit @ unit.transpose(1, 2)  # [layer, n, n]
    lab = np.array(labels)
    upper = np.triu(np.ones((len(lab), len(lab)), dtype=bool), 1)
    same = (lab[:, None] == lab[None, :]) & upper
    diff = (lab[:, None] != lab[None, :]) & upper
    c = to_numpy(cos).astype(np.float64)
    return c[:, same].mean(1), c[:, diff].mean(1), int(same.sum()), int(diff.sum())


@torch.no_grad()
def sense_similarity(
    model: Model, sets: Sequence[SenseSet] = SENSE_SETS, center: bool = False
) -> SenseSimilarity:
    """Same- vs different-sense cosine of each set's word at every layer (module docstring).
    A set whose contexts this model cannot tokenise (a word-level vocabulary without one of
    the words) is skipped and listed in ``skipped``.

    >>> from interp.core.models import load
    >>> from interp.tasks.senses import sense_set
    >>> bank = sense_similarity(load("trained:text"), [sense_set("bank")])
    >>> bank.words, bank.n_same_pairs, bank.n_different_pairs  # 2 senses x 4 contexts
    (['bank'], 12, 16)
    >>> [round(float(g), 3) for g in bank.gap()]  # same - different, layer 0 .. 2
    [0.0, 0.004, 0.021]
    """
    layers = list(range(model.cfg.n_layers + 1))
    kept: list[tuple[SenseSet, list[str], torch.Tensor]] = []
    skipped: list[dict[str, str]] = []
    for s in sets:
        labelled = s.labelled()
        try:
            vectors = context_vectors(
                model, [c for _, c in labelled], [s.word] * len(labelled), layers
            )
        except InterpError as err:
            skipped.append({"word": s.word, "reason": str(err)})
            continue
        kept.append((s, [label for label, _ in labelled], vectors.transpose(0, 1)))
    if not kept:
        raise InterpError(
            "no sense set could be read on this model: "
            + "; ".join(f"{d['word']}: {d['reason']}" for d in skipped)
        )
    if center:
        mean = torch.cat([v for _, _, v in kept], 1).mean(1, keepdim=True)  # [layer, 1, d]
        kept = [(s, lab, v - mean) for s, lab, v in kept]
    same, diff, n_same, n_diff = [], [], 0, 0
    for _, labels, v in kept:
        unit = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        s_mean, d_mean, ns, nd = _pair_means(unit.double(), labels)
        same.append(s_mean)
        diff.append(d_mean)
        n_same += ns
        n_diff += nd
    same_arr, diff_arr = np.stack(same), np.stack(diff)
    from interp.core.models import record_of

    def split_of(word: str) -> list[str]:
        ids = model.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        return model.tokenizer.convert_ids_to_tokens(ids) if len(ids) > 1 else []

    return SenseSimilarity(
        model_name=record_of(model).name,
        words=[s.word for s, _, _ in kept],
        word_kinds=[s.kind for s, _, _ in kept],
        senses=[list(s.senses) for s, _, _ in kept],
        split=[split_of(s.word) for s, _, _ in kept],
        skipped=skipped,
        layers=[space_label(layer) for layer in layers],
        centered=center,
        same=same_arr,
        different=diff_arr,
        same_mean=same_arr.mean(0),
        different_mean=diff_arr.mean(0),
        n_same_pairs=n_same,
        n_different_pairs=n_diff,
    )
