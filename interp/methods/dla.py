"""Direct logit attribution: how much each component's output, read straight through the
final LayerNorm and the unembedding, pushes a chosen logit direction.

The final LayerNorm is not linear; as is standard (TransformerLens ``apply_ln_to_stack``),
each component's output is divided by the *cached* LN scale of the full forward pass at
that position, so the per-component terms, plus the embeddings' term, sum to the
(centred) logit difference. Requires weights processed with ``fold_ln`` so that LN has no
gain (recorded in the model record); with unprocessed weights the LN gain is applied here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.hooks import head_name, mlp_name

if TYPE_CHECKING:
    from interp.core.models import Model


def cache_names(n_layers: int, heads: bool = True, neurons: bool = False) -> set[str]:
    """Hooks that :func:`head_attribution` / :func:`neuron_attribution` read."""
    names = {"ln_final.hook_scale"}
    for layer in range(n_layers):
        if heads:
            names.add(head_name(layer, "z"))
        if neurons:
            names.add(mlp_name(layer, "post"))
    return names


def _at(x: Tensor, positions: Int[Tensor, " batch"]) -> Tensor:
    return x[torch.arange(x.shape[0], device=x.device), positions.to(x.device)]


def final_ln_gain(model: Model) -> Tensor | float:
    """The final LayerNorm's gain, or 1 when ``fold_ln`` has folded it into W_U."""
    ln = getattr(model, "ln_final", None)
    w = getattr(ln, "w", None) if ln is not None else None
    if w is None or model.cfg.layer_norm_folding:
        return 1.0
    return w


def head_attribution(
    model: Model,
    cache,
    directions: Float[Tensor, "batch d_model"],
    positions: Int[Tensor, " batch"],
) -> Float[Tensor, "batch layer head"]:
    """Each head's output at ``positions`` dotted with ``directions`` (e.g. W_U[:, IO] -
    W_U[:, S]), through the cached final-LN scale."""
    scale = _at(cache["ln_final.hook_scale"], positions)  # [batch, 1]
    out = []
    for layer in range(model.cfg.n_layers):
        z = _at(cache[head_name(layer, "z")], positions)  # [batch, head, d_head]
        per_head = torch.einsum("bhd,hdm->bhm", z, model.W_O[layer])  # [batch, head, d_model]
        out.append(torch.einsum("bhm,bm->bh", per_head * final_ln_gain(model), directions))
    return torch.stack(out, dim=1) / scale[:, None]


def neuron_attribution(
    model: Model,
    cache,
    layer: int,
    directions: Float[Tensor, "batch d_model"],
    positions: Int[Tensor, " batch"],
) -> Float[Tensor, "batch d_mlp"]:
    """activation x (value vector . direction) for every neuron of ``layer`` (Geva et al.'s
    sub-update of the output, projected on the target direction)."""
    scale = _at(cache["ln_final.hook_scale"], positions)
    acts = _at(cache[mlp_name(layer, "post")], positions)  # [batch, d_mlp]
    value_dot = torch.einsum("nm,bm->bn", model.W_out[layer] * final_ln_gain(model), directions)
    return acts * value_dot / scale


def logit_directions(
    model: Model, answers: Int[Tensor, " batch"], others: Int[Tensor, " batch"] | None
):
    """W_U[:, answer] - W_U[:, other] (or W_U[:, answer] alone): [batch, d_model]."""
    w_u = model.W_U
    d = w_u[:, answers].T
    if others is not None:
        d = d - w_u[:, others].T
    return d


def vector_attribution(
    model: Model,
    cache,
    vectors: Float[Tensor, "batch d_model"],
    directions: Float[Tensor, "batch d_model"],
    positions: Int[Tensor, " batch"],
) -> Float[Tensor, " batch"]:
    """Direct effect of any residual-stream term (the embeddings, the summed biases) at
    ``positions``, through the cached final-LN scale, like the heads' and neurons' terms."""
    scale = _at(cache["ln_final.hook_scale"], positions)[:, 0]  # [batch]
    return (vectors * final_ln_gain(model) * directions).sum(-1) / scale
