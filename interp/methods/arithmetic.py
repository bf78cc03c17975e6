"""Word-vector arithmetic in a model's token embedding (Mikolov et al. 2013, word2vec).

``biggest - big + small ~= smallest``; ``Paris - France + Germany ~= Berlin``: the analogy
``a - b + c`` is answered by the token whose embedding is nearest by cosine, *excluding the
three input tokens* (as in Mikolov et al.'s evaluation; otherwise ``c`` itself usually
wins). Merullo et al. (2023) show that GPT-2's FFNs apply the same kind of offset inside the
model; here it is measured on the input embedding ``W_E`` (or the unembedding ``W_U``).
Words go through :func:`interp.core.tokens.single_token_id`, so GPT-2's " Paris" and the word-level
"Paris" are handled alike; all questions are answered with one matrix product.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.errors import InterpError, TokenizationError
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


#: the seed examples: a - b + c ~= expected
SEED_ANALOGIES = [
    ("biggest", "big", "small", "smallest"),
    ("Paris", "France", "Germany", "Berlin"),
]


def embedding_matrix(model: Model, matrix: str = "W_E") -> Float[Tensor, "vocab d_model"]:
    if matrix == "W_E":
        return model.W_E.detach()
    if matrix == "W_U":
        return model.W_U.detach().T
    raise InterpError(f"unknown embedding matrix {matrix!r}; choose W_E or W_U")


@dataclasses.dataclass(frozen=True)
class AnalogyResult(Result):
    """Nearest tokens to ``a - b + c`` for each question, and the top-1 accuracy."""

    kind: ClassVar[str] = "analogies"

    model_name: str
    matrix: str
    questions: list[list[str]]  # [a, b, c, expected]
    dropped: list[dict[str, str]]  # questions with a word that is not one token
    predictions: list[str]  # top-1 (inputs excluded)
    top_tokens: list[list[str]]  # top-k
    top_cosines: np.ndarray  # [question, k]
    expected_cosine: np.ndarray  # [question]
    expected_rank: np.ndarray  # [question], 1 = nearest (inputs excluded)
    correct: np.ndarray  # [question] bool
    accuracy: float

    def figure(self):
        import plotly.graph_objects as go

        labels = [f"{a} − {b} + {c} → {e}" for a, b, c, e in self.questions]
        colours = ["#2a9d8f" if ok else "#e76f51" for ok in self.correct]
        fig = go.Figure(
            go.Bar(
                x=self.expected_cosine,
                y=labels,
                orientation="h",
                marker_color=colours,
                text=[f"#{r} (top: {p})" for r, p in zip(self.expected_rank, self.predictions)],
                hovertemplate="%{y}<br>cosine %{x:.3f}<br>%{text}<extra></extra>",
            )
        )
        fig.update_layout(
            title=f"Analogies in {self.matrix} of {self.model_name}: top-1 {self.accuracy:.0%}",
            xaxis_title="cosine of the expected token with a − b + c",
            height=max(300, 22 * len(labels) + 120),
        )
        return fig


def nearest(
    model: Model,
    vectors: Float[Tensor, "n d_model"],
    exclude: Sequence[Sequence[int]] = (),
    k: int = 5,
    matrix: str = "W_E",
) -> tuple[Tensor, Tensor, Tensor]:
    """Cosine of every token with each vector (excluded ids at -inf): (cosines [n, vocab],
    top-k ids [n, k], top-k cosines [n, k])."""
    return cosine_nearest(vectors, embedding_matrix(model, matrix), exclude, k)


def cosine_nearest(
    vectors: Float[Tensor, "n d_model"],
    emb: Float[Tensor, "vocab d_model"],
    exclude: Sequence[Sequence[int]] = (),
    k: int = 5,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`nearest` against any matrix of token vectors (one row per token id): the
    embedding, the unembedding or residual vectors (:mod:`interp.methods.words`)."""
    emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-8)
    vec = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-8)
    cos = vec @ emb.T
    for row, ids in enumerate(exclude):
        cos[row, list(ids)] = -torch.inf
    top_cos, top_ids = cos.topk(k, dim=1)
    return cos, top_ids, top_cos


@torch.no_grad()
def analogies(
    model: Model,
    questions: Sequence[Sequence[str]],
    k: int = 5,
    matrix: str = "W_E",
) -> AnalogyResult:
    """Answer every ``(a, b, c, expected)``: ``a - b + c`` by nearest cosine, inputs excluded.
    Questions with a word that is not a single token are dropped (and listed)."""
    from interp.core.models import record_of
    from interp.core.tokens import single_token_id, token_str

    kept, dropped, ids = [], [], []
    for q in questions:
        if len(q) != 4:
            raise InterpError(
                f"an analogy is (a, b, c, expected), meaning a - b + c = expected; got {q}"
            )
        try:
            ids.append([single_token_id(model, w) for w in q])
        except TokenizationError as err:
            dropped.append({"question": " ".join(q), "reason": str(err)})
            continue
        kept.append([str(w) for w in q])
    if not kept:
        raise InterpError("no analogy question has all four words as single tokens")
    idx = torch.tensor(ids)
    emb = embedding_matrix(model, matrix)
    vectors = emb[idx[:, 0]] - emb[idx[:, 1]] + emb[idx[:, 2]]
    cos, top_ids, top_cos = nearest(model, vectors, exclude=idx[:, :3].tolist(), k=k, matrix=matrix)
    expected = idx[:, 3].to(cos.device)
    expected_cos = cos.gather(1, expected[:, None])[:, 0]
    rank = 1 + (cos > expected_cos[:, None]).sum(1)
    correct = (top_ids[:, 0] == expected).cpu().numpy()
    return AnalogyResult(
        model_name=record_of(model).name,
        matrix=matrix,
        questions=kept,
        dropped=dropped,
        predictions=[token_str(model, i) for i in top_ids[:, 0].tolist()],
        top_tokens=[[token_str(model, i) for i in row] for row in top_ids.tolist()],
        top_cosines=to_numpy(top_cos),
        expected_cosine=to_numpy(expected_cos),
        expected_rank=to_numpy(rank),
        correct=correct,
        accuracy=float(correct.mean()),
    )
