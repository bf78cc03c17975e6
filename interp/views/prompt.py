"""The model and the prompt: the model record as rows, the planted roles of a reference
model's heads, and the prompt's tokens with the model's top next-token predictions."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interp.results.base import Result

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from transformer_lens.model_bridge import TransformerBridge


# -- the model and the prompt ----------------------------------------------------------------
def model_rows(model: TransformerBridge) -> list[dict[str, str]]:
    """The model record as (property, value) rows."""
    from interp.core.models import record_of

    rec = record_of(model)
    processing = ", ".join(k for k, v in rec.weight_processing.items() if v) or "none"
    rows = [
        ("name", rec.name),
        ("source", f"{rec.source}: {rec.location}"),
        ("layers x heads", f"{rec.n_layers} x {rec.n_heads}"),
        ("d_model / d_head / d_mlp", f"{rec.d_model} / {rec.d_head} / {rec.d_mlp}"),
        ("vocabulary", str(rec.d_vocab)),
        ("context window", f"{rec.n_ctx} tokens"),
        ("device / dtype", f"{rec.device} / {rec.dtype}"),
        ("weight processing", processing),
    ]
    return [{"property": k, "value": v} for k, v in rows]


#: planted single heads of a reference model's record -> the role shown for them
_PLANTED_HEADS = {"mover_head": "subject_mover", "retrieval_head": "retrieval"}


def planted_roles(model: TransformerBridge) -> dict[tuple[int, int], str]:
    """(layer, head) -> planted role, for reference models with planted heads: the IOI
    circuit's placement, and reference:recall's subject mover and retrieval head.

    Example::

        >>> from interp.core.models import load
        >>> planted_roles(load("reference:recall", device="cpu"))
        {(1, 2): 'subject_mover', (2, 1): 'retrieval'}
    """
    from interp.core.models import record_of

    planted = record_of(model).reference or {}
    roles = {
        (int(layer), int(head)): role
        for role, heads in (planted.get("placement") or {}).items()
        for layer, head in heads
    }
    for key, role in _PLANTED_HEADS.items():
        if planted.get(key):
            layer, head = planted[key]
            roles[(int(layer), int(head))] = role
    return roles


def planted_placement(model: TransformerBridge) -> dict[str, list[list[int]]]:
    """Planted role -> its [layer, head]s, for reference models with a planted circuit
    (empty for other models): what :func:`interp.views.circuit_figure` draws."""
    from interp.core.models import record_of

    planted = record_of(model).reference or {}
    return {
        role: [list(h) for h in heads] for role, heads in (planted.get("placement") or {}).items()
    }


@dataclasses.dataclass(frozen=True)
class PromptView(Result):
    """A prompt as the model sees it, and what it predicts next."""

    kind: ClassVar[str] = "prompt_view"
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_tokens: list[str]
    top_probs: np.ndarray  # [k]
    top_logits: np.ndarray  # [k]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"rank": i + 1, "token": t, "probability": float(p), "logit": float(lg)}
            for i, (t, p, lg) in enumerate(zip(self.top_tokens, self.top_probs, self.top_logits))
        ]

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=self.top_probs[::-1], y=self.top_tokens[::-1], orientation="h"))
        fig.update_layout(
            title="next-token probabilities",
            xaxis_title="probability",
            height=80 + 24 * len(self.top_tokens),
            margin=dict(l=10, r=10, t=40, b=40),
        )
        return fig


def prompt_view(model: TransformerBridge, prompt: str, k: int = 10) -> PromptView:
    """Tokenise (with the library's checks) and run the prompt once; top-``k`` next tokens."""
    import torch

    from interp.core.tokens import to_tokens, token_str

    tokens = to_tokens(model, prompt)
    with torch.no_grad():
        logits = model(tokens)[0, -1].float()
    probs = logits.softmax(-1)
    top = probs.topk(min(k, probs.shape[-1]))
    ids = tokens[0].tolist()
    return PromptView(
        prompt=prompt,
        tokens=[token_str(model, t) for t in ids],
        token_ids=ids,
        top_tokens=[token_str(model, t) for t in top.indices.tolist()],
        top_probs=top.values.cpu().numpy(),
        top_logits=logits[top.indices].cpu().numpy(),
    )
