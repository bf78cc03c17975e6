"""Write a GPT-2 whose weights implement mechanisms specified in a readable feature space.

The reference models are real ``GPT2LMHeadModel`` s, built like Tracr-compiled programs:
every role is written down as a *term* between named subspaces of the residual stream
("head h of layer l matches query subspace NAME against key subspace PREV", "neuron n
reads the COUNTRY type and writes the CAPITAL-minus-COUNTRY vector"), then compiled.

Three choices make GPT-2's LayerNorm harmless, so that a planted circuit works as written:

1. Features live in a space orthogonal to the all-ones direction of the residual stream
   (a fixed random rotation maps features into ``d_model``); LayerNorm's mean-subtraction
   is then the identity on everything the model writes.
2. Every position carries a large constant *anchor* feature (norm ``anchor``), so ``|x|``
   hardly changes as heads write small signals, and LN is close to a constant rescaling.
   The LN gains undo that rescaling (``gain = anchor / sqrt(d_model)``), so that layers
   read ``LN(x) ~= x`` in feature coordinates.
3. The final LN gain also sets the logit temperature: logits ~= ``temperature * E @ x``.

Attention terms are given factored (``score = scale * (A x_q) . (B x_k)``) so compiling is
a few matrix products, not an SVD per head; ``to_hf`` checks each head's rank fits d_head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np


class FeatureSpace:
    """Named blocks of feature coordinates and their embedding into the residual stream."""

    def __init__(self, d_model: int, seed: int = 0):
        self.d_model = d_model
        self.blocks: dict[str, tuple[int, int]] = {}
        self.size = 0
        rng = np.random.default_rng(seed)
        # orthonormal basis of the complement of the all-ones vector, randomly rotated
        ones = np.ones((d_model, 1)) / np.sqrt(d_model)
        raw = rng.standard_normal((d_model, d_model))
        raw[:, :1] = ones
        q, _ = np.linalg.qr(raw)
        self.rotation = q[:, 1:]  # [d_model, d_model - 1], columns orthogonal to ones

    def add(self, name: str, n: int) -> None:
        if name in self.blocks:
            raise ValueError(f"feature block {name!r} defined twice")
        if self.size + n > self.d_model - 1:
            raise ValueError(f"feature space overflow: {self.size + n} > {self.d_model - 1}")
        self.blocks[name] = (self.size, n)
        self.size += n

    def index(self, name: str, i: int = 0) -> int:
        start, n = self.blocks[name]
        if not 0 <= i < n:
            raise IndexError(f"{name}[{i}] out of range ({n})")
        return start + i

    def unit(self, name: str, i: int = 0) -> np.ndarray:
        v = np.zeros(self.size)
        v[self.index(name, i)] = 1.0
        return v

    def block(self, name: str) -> np.ndarray:
        """Rows are the unit vectors of the block: [n, size]."""
        start, n = self.blocks[name]
        m = np.zeros((n, self.size))
        m[np.arange(n), start + np.arange(n)] = 1.0
        return m

    def to_model(self, feats: np.ndarray) -> np.ndarray:
        """Map feature vectors (last axis ``size``) into the residual stream (``d_model``)."""
        return feats @ self.rotation[:, : self.size].T

    def to_features(self, resid: np.ndarray) -> np.ndarray:
        return resid @ self.rotation[:, : self.size]


@dataclass
class HeadSpec:
    qk: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    ov: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_qk(self, query: np.ndarray, key: np.ndarray, scale: float) -> None:
        """score(x_q, x_k) += scale * sum_r (query[r] . x_q) (key[r] . x_k)."""
        query, key = np.atleast_2d(query), np.atleast_2d(key)
        self.qk.append((query, scale * key))

    def add_ov(self, read: np.ndarray, write: np.ndarray, scale: float) -> None:
        """output += scale * sum_r (read[r] . x_k) write[r], averaged by attention."""
        read, write = np.atleast_2d(read), np.atleast_2d(write)
        self.ov.append((read, scale * write))

    def rank(self) -> tuple[int, int]:
        return sum(a.shape[0] for a, _ in self.qk), sum(a.shape[0] for a, _ in self.ov)


class ModelWriter:
    """Collect embeddings, heads and neurons in feature space; compile to a GPT2LMHeadModel."""

    def __init__(
        self,
        space: FeatureSpace,
        *,
        n_layers: int,
        n_heads: int,
        n_ctx: int,
        vocab_size: int,
        d_mlp: int,
        anchor: float,
        temperature: float,
    ):
        self.space = space
        self.n_layers, self.n_heads, self.n_ctx = n_layers, n_heads, n_ctx
        self.vocab_size, self.d_mlp = vocab_size, d_mlp
        self.anchor, self.temperature = anchor, temperature
        self.embed = np.zeros((vocab_size, space.size))
        self.pos = np.zeros((n_ctx, space.size))
        self.pos[:, space.index("ANCHOR")] = anchor
        self.heads: dict[tuple[int, int], HeadSpec] = {}
        self.mlp_in = np.zeros((n_layers, space.size, d_mlp))
        self.mlp_bias = np.zeros((n_layers, d_mlp))
        self.mlp_out = np.zeros((n_layers, d_mlp, space.size))

    def head(self, layer: int, head: int) -> HeadSpec:
        return self.heads.setdefault((layer, head), HeadSpec())

    def neuron(
        self, layer: int, index: int, key: np.ndarray, bias: float, value: np.ndarray
    ) -> None:
        """pre = key . x + bias; the neuron writes gelu(pre) * value."""
        self.mlp_in[layer, :, index] = key
        self.mlp_bias[layer, index] = bias
        self.mlp_out[layer, index, :] = value

    def to_hf(self):
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
        from transformers.models.gpt2.modeling_gpt2 import GPT2Block

        d, sp = self.space.d_model, self.space
        d_head = d // self.n_heads
        config = GPT2Config(
            vocab_size=self.vocab_size,
            n_positions=self.n_ctx,
            n_embd=d,
            n_layer=self.n_layers,
            n_head=self.n_heads,
            n_inner=self.d_mlp,
            activation_function="gelu_new",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=0,
            eos_token_id=0,
            tie_word_embeddings=True,
        )
        model = GPT2LMHeadModel(config)
        gain = self.anchor / np.sqrt(d)
        c_attn = np.zeros((self.n_layers, d, 3 * d))
        c_proj = np.zeros((self.n_layers, d, d))
        for (layer, h), spec in self.heads.items():
            rq, ro = spec.rank()
            if max(rq, ro) > d_head:
                raise ValueError(f"head {layer}.{h}: rank {max(rq, ro)} exceeds d_head {d_head}")
            cols = slice(h * d_head, (h + 1) * d_head)
            if spec.qk:
                q_feat = np.concatenate([a for a, _ in spec.qk]).T  # [size, r]
                k_feat = np.concatenate([b for _, b in spec.qk]).T * np.sqrt(d_head)
                c_attn[layer][:, cols][:, :rq] = sp.to_model(q_feat.T).T
                c_attn[layer][:, d : 2 * d][:, cols][:, :rq] = sp.to_model(k_feat.T).T
            if spec.ov:
                v_feat = np.concatenate([r for r, _ in spec.ov])  # [r, size]
                o_feat = np.concatenate([w for _, w in spec.ov])  # [r, size]
                c_attn[layer][:, 2 * d : 3 * d][:, cols][:, :ro] = sp.to_model(v_feat).T
                c_proj[layer][cols][:ro] = sp.to_model(o_feat)
        with torch.no_grad():
            t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
            model.transformer.wte.weight.copy_(t(sp.to_model(self.embed)))
            model.transformer.wpe.weight.copy_(t(sp.to_model(self.pos)))
            for layer, module in enumerate(model.transformer.h):
                block = cast(GPT2Block, module)  # a ModuleList yields plain Modules
                for ln in (block.ln_1, block.ln_2):
                    ln.weight.fill_(gain)
                    ln.bias.zero_()
                block.attn.c_attn.weight.copy_(t(c_attn[layer]))
                block.attn.c_attn.bias.zero_()
                block.attn.c_proj.weight.copy_(t(c_proj[layer]))
                block.attn.c_proj.bias.zero_()
                block.mlp.c_fc.weight.copy_(t(sp.to_model(self.mlp_in[layer].T).T))
                block.mlp.c_fc.bias.copy_(t(self.mlp_bias[layer]))
                block.mlp.c_proj.weight.copy_(t(sp.to_model(self.mlp_out[layer])))
                block.mlp.c_proj.bias.zero_()
            model.transformer.ln_f.weight.fill_(gain * self.temperature)
            model.transformer.ln_f.bias.zero_()
        model.tie_weights()
        return model.eval()
