"""A GPT-2 forward written in the edge graph's terms: writers, readers and edges.

Edge attribution needs what a plain forward never exposes: the output of every writer
(input, each head's ``z_h W_O[h]``, each MLP) and the gradient of the metric with respect to
the input of every reader (each head's query, key and value input separately, each MLP's
input, the logits). :class:`GraphForward` runs the model's own arithmetic (the weights and
layer norms of its transformer-lens bridge, read through
:class:`interp.core.resume.Resumer`) with each head's three inputs as separate tensors, so

* :meth:`GraphForward.gradients` gives every writer's output and, with one backward, the
  metric's gradient at every reader (EAP; EAP-IG over interpolated inputs);
* :meth:`GraphForward.circuit_metric` runs circuits: each reader's input is the sum of its
  kept edges' *current* writer outputs and its other edges' *corrupted* (or mean) ones,
  many circuits batched in one forward (MIB's evaluation).

Numbers equal the bridge's forward to float rounding (tests/test_edges.py).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.core.errors import InterpError
from interp.core.resume import Resumer
from interp.methods.graph import EdgeGraph


def _affine(module: Callable[[Tensor], Tensor], d_in: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """``module`` as ``x @ W + b`` (``W``: ``[d_in, d_out]``), read off its outputs."""
    with torch.no_grad():
        zero = torch.zeros(1, d_in, device=like.device, dtype=like.dtype)
        bias = module(zero)[0]
        weight = module(torch.eye(d_in, device=like.device, dtype=like.dtype)) - bias
    return weight.detach(), bias.detach()


@dataclasses.dataclass(frozen=True)
class _Layer:
    ln1: Callable[[Tensor], Tensor]
    w_qkv: Tensor  # [3, n_heads, d_model, d_head]
    b_qkv: Tensor  # [3, n_heads, d_head]
    w_o: Tensor  # [n_heads, d_head, d_model]
    b_o: Tensor  # [d_model]
    ln2: Callable[[Tensor], Tensor]
    mlp_in: torch.nn.Module
    act: torch.nn.Module
    mlp_out: torch.nn.Module


@dataclasses.dataclass
class Writers:
    """Every writer's output on one batch (rows may be several copies of it):
    ``input`` ``[rows, pos, d_model]``, ``heads[l]`` ``[rows, pos, n_heads, d_model]``,
    ``mlps[l]`` ``[rows, pos, d_model]``."""

    input: Tensor
    heads: list[Tensor]
    mlps: list[Tensor]

    def stacked(self) -> Float[Tensor, "rows pos n_sources d_model"]:
        """All writers in the graph's source order (input, then per layer heads and MLP)."""
        parts = [self.input[:, :, None]]
        for heads, mlp in zip(self.heads, self.mlps):
            parts += [heads, mlp[:, :, None]]
        return torch.cat(parts, 2)

    def map(self, fn: Callable[[Tensor], Tensor]) -> Writers:
        return Writers(fn(self.input), [fn(h) for h in self.heads], [fn(m) for m in self.mlps])


_FORWARDS: weakref.WeakKeyDictionary[torch.nn.Module, GraphForward] = weakref.WeakKeyDictionary()


class GraphForward:
    """The model's forward with separate reader inputs (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.graph = EdgeGraph.of(model)
        resumer = Resumer.of(model)
        if resumer is None:
            raise InterpError(
                "edge-level circuits need a GPT-2-architecture model without hooks attached "
                f"(got {type(model).__name__}); load one with interp.load"
            )
        self.resumer = resumer
        cfg = model.cfg
        self.n_layers, self.n_heads, self.d_head = cfg.n_layers, cfg.n_heads, cfg.d_head
        self.d_model = cfg.d_model
        like = next(iter(model.parameters()))
        layers = []
        for b in resumer.blocks:
            ws, bs = [], []
            for proj in (b.q, b.k, b.v):
                w, bias = _affine(proj, self.d_model, like)
                ws.append(w.view(self.d_model, self.n_heads, self.d_head).transpose(0, 1))
                bs.append(bias.view(self.n_heads, self.d_head))
            w_o, b_o = _affine(b.o, self.n_heads * self.d_head, like)
            layers.append(
                _Layer(
                    b.ln1,
                    torch.stack(ws),
                    torch.stack(bs),
                    w_o.view(self.n_heads, self.d_head, self.d_model),
                    b_o,
                    b.ln2,
                    b.mlp_in,
                    b.act,
                    b.mlp_out,
                )  # fmt: skip
            )
        self.layers = layers

    @classmethod
    def of(cls, model: Any) -> GraphForward:
        """The forward for ``model`` (built once, kept beside it in a weak-keyed table)."""
        try:
            return _FORWARDS[model]
        except KeyError:
            forward = _FORWARDS[model] = cls(model)
            return forward

    # -- pieces -----------------------------------------------------------------------------
    def embed(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.resumer.embeddings(tokens)

    def heads(
        self, layer: int, q_in: Tensor, k_in: Tensor, v_in: Tensor
    ) -> Float[Tensor, "rows pos n_heads d_model"]:
        """Each head's output ``z_h W_O[h]`` from its own ``[rows, pos, n_heads, d_model]``
        query, key and value inputs (before the layer norm)."""
        lyr = self.layers[layer]
        q, k, v = (
            torch.einsum("rphd,hde->rphe", lyr.ln1(x), lyr.w_qkv[i]) + lyr.b_qkv[i]
            for i, x in enumerate((q_in, k_in, v_in))
        )
        scores = torch.einsum("rqhe,rkhe->rhqk", q, k) * self.d_head**-0.5
        pos = q.shape[1]
        causal = torch.ones(pos, pos, dtype=torch.bool, device=q.device).triu(1)
        pattern = torch.softmax(scores.masked_fill(causal, -torch.inf), -1)
        z = torch.einsum("rhqk,rkhe->rqhe", pattern, v)
        return torch.einsum("rphe,hed->rphd", z, lyr.w_o)

    def mlp(self, layer: int, x: Float[Tensor, "rows pos d_model"]) -> Tensor:
        lyr = self.layers[layer]
        return lyr.mlp_out(lyr.act(lyr.mlp_in(lyr.ln2(x))))

    def final_logits(self, final: Float[Tensor, "rows d_model"]) -> Float[Tensor, "rows vocab"]:
        return self.resumer.unembed(self.resumer.ln_final(final[:, None]))[:, 0]

    # -- runs -------------------------------------------------------------------------------
    def run(
        self, x0: Float[Tensor, "rows pos d_model"], end: Int[Tensor, " rows"]
    ) -> tuple[Float[Tensor, "rows vocab"], Writers]:
        """The plain forward from the input embeddings: logits at ``end`` and every writer."""
        resid, heads, mlps = x0, [], []
        for layer in range(self.n_layers):
            inp = resid[:, :, None].expand(-1, -1, self.n_heads, -1)
            out = self.heads(layer, inp, inp, inp)
            resid = resid + out.sum(2) + self.layers[layer].b_o
            m = self.mlp(layer, resid)
            resid = resid + m
            heads.append(out)
            mlps.append(m)
        rows = torch.arange(resid.shape[0], device=resid.device)
        return self.final_logits(resid[rows, end]), Writers(x0, heads, mlps)

    def gradients(
        self,
        x0: Float[Tensor, "rows pos d_model"],
        end: Int[Tensor, " rows"],
        metric: Callable[[Tensor], Tensor],
    ) -> tuple[Tensor, Writers, Float[Tensor, "rows pos n_destinations d_model"]]:
        """One forward and one backward: the metric (a scalar of the ``[rows, vocab]``
        logits at ``end``), every writer's output, and the metric's gradient with respect
        to every reader's input, in the graph's destination order."""
        x0 = x0.detach()
        rows, pos, _ = x0.shape
        shape = (rows, pos, self.n_heads, self.d_model)
        leaves: list[Tensor] = []
        with torch.enable_grad():
            resid, heads, mlps = x0, [], []
            for layer in range(self.n_layers):
                q, k, v = (torch.zeros(shape, device=x0.device, dtype=x0.dtype,
                                       requires_grad=True) for _ in range(3))  # fmt: skip
                base = resid[:, :, None]
                out = self.heads(layer, base + q, base + k, base + v)
                resid = resid + out.sum(2) + self.layers[layer].b_o
                dm = torch.zeros_like(resid, requires_grad=True)
                m = self.mlp(layer, resid + dm)
                resid = resid + m
                heads.append(out.detach())
                mlps.append(m.detach())
                leaves += [q, k, v, dm]
            dl = torch.zeros_like(resid, requires_grad=True)
            final = resid + dl
            at = torch.arange(rows, device=x0.device)
            value = metric(self.final_logits(final[at, end]))
            grads = torch.autograd.grad(value, leaves + [dl])
        parts = []
        for layer in range(self.n_layers):
            q, k, v, dm = grads[4 * layer : 4 * layer + 4]
            parts += [q, k, v, dm[:, :, None]]
        parts.append(grads[-1][:, :, None])
        return value.detach(), Writers(x0, heads, mlps), torch.cat(parts, 2)

    @torch.no_grad()
    def circuit_metric(
        self,
        x0: Float[Tensor, "batch pos d_model"],
        end: Int[Tensor, " batch"],
        replacement: Writers,
        keep: Bool[Tensor, "circuits n_sources n_destinations"],
        readout: Callable[[Tensor], Tensor],
    ) -> Float[Tensor, "circuits batch"]:
        """The metric with each circuit of ``keep``: every reader's input is the sum of its
        kept edges' outputs in this run and its other edges' ``replacement`` outputs
        (the corrupted run's, or means), plus the attention output biases. ``readout``
        maps ``[circuits * batch, vocab]`` logits to ``[circuits * batch]`` values."""
        g = self.graph
        n_c, batch = keep.shape[0], x0.shape[0]
        keep = keep.to(x0.device, x0.dtype)
        rep = replacement.map(lambda t: t.unsqueeze(0))  # [1, batch, pos, ...]
        diffs: list[Tensor] = []  # per source: current - replacement, [c, batch, pos, d]
        diffs.append((x0.unsqueeze(0) - rep.input).expand(n_c, -1, -1, -1))
        base = rep.input[0]  # the replacement residual stream so far, [batch, pos, d]

        def reader_input(dests: list[int], resid: Tensor) -> Tensor:
            n = len(diffs)
            stacked = torch.stack(diffs, 3)  # [c, batch, pos, n, d]
            mix = torch.einsum("cbpnd,cnk->cbpkd", stacked, keep[:, :n, dests])
            return resid[None, :, :, None] + mix  # [c, batch, pos, k, d]

        def flat(x: Tensor) -> Tensor:
            return x.reshape(n_c * batch, *x.shape[2:])

        for layer in range(self.n_layers):
            dests = [g.head_destination(layer, h, x) for x in "qkv" for h in range(self.n_heads)]
            inputs = reader_input(dests, base).split(self.n_heads, 3)
            out = self.heads(layer, *(flat(x) for x in inputs))  # [c*batch, pos, H, d]
            out = out.view(n_c, batch, *out.shape[1:])
            for h in range(self.n_heads):
                diffs.append(out[:, :, :, h] - rep.heads[layer][:, :, :, h])
            base = base + replacement.heads[layer].sum(2) + self.layers[layer].b_o
            m_in = reader_input([g.mlp_destination(layer)], base)[:, :, :, 0]
            m = self.mlp(layer, flat(m_in)).view(n_c, batch, *m_in.shape[2:])
            diffs.append(m - rep.mlps[layer])
            base = base + replacement.mlps[layer]
        final = reader_input([g.logits_destination], base)[:, :, :, 0]  # [c, batch, pos, d]
        at = torch.arange(batch, device=x0.device)
        logits = self.final_logits(final[:, at, end].reshape(n_c * batch, -1))
        return readout(logits).view(n_c, batch)
