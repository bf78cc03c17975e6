"""Resuming a GPT-2 forward pass from a cached residual stream, lean enough for sweeps.

A patching sweep runs many forwards that agree with one base run up to some block. Running
them through the bridge's hooked blocks is exact but slow for small batches: each block call
costs ~0.7 ms of Python (hook points, wrappers), more than its arithmetic on one IOI prompt.
:class:`Resumer` runs the same arithmetic with the bridge's own submodules (the Hugging Face
linear layers, layer norms and activation that the bridge wraps, holding the processed
weights), in plain tensor code, with patch points named like transformer-lens hooks. It
saves what an exact answer allows:

* **start late**: a copy first patched in block ``l`` starts there from the cached
  residual stream (blocks before it would recompute the base run), and at that block's head
  outputs when nothing earlier in the block is patched. Copies with different starts share
  one forward: each block is called once, on every copy started by then (:class:`Entry`);
* **stop early**: when the readout needs one position per prompt (a metric at ``END``),
  the last block computes keys and values at every position but queries, attention output,
  MLP, final LayerNorm and unembedding only at that position;
* **skip the shared prefix**: positions before the first one where any copy can differ
  from the base run keep the base run's keys and values (causal attention: nothing there
  can change), so only the later positions are computed.

Supported: the GPT-2 architecture (learned positions, LayerNorm, MHA with a causal mask,
GELU MLP). :meth:`Resumer.of` returns None for anything else and callers fall back to the
bridge's blocks. Results agree with the bridge to float rounding (tests/test_resume.py).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

if TYPE_CHECKING:
    from interp.core.models import Model

#: hook points inside block ``l`` that :class:`Resumer` fires (``blocks.{l}.`` + suffix)
BLOCK_HOOKS = (
    "hook_resid_pre",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_pattern",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
)
#: hooks of the last block that the readout-only shortcut leaves intact (they are computed
#: at every position); a patch or capture at any other hook there disables the shortcut
_FULL_IN_LAST = ("hook_resid_pre", "attn.hook_k", "attn.hook_v")

Edit = Callable[[str, Tensor], Tensor]


@dataclasses.dataclass(frozen=True)
class _Block:
    ln1: Callable[[Tensor], Tensor]
    q: torch.nn.Module
    k: torch.nn.Module
    v: torch.nn.Module
    o: torch.nn.Module
    ln2: Callable[[Tensor], Tensor]
    mlp_in: torch.nn.Module
    act: torch.nn.Module
    mlp_out: torch.nn.Module


@dataclasses.dataclass(frozen=True)
class Entry:
    """Rows that join a forward at one block: the residual stream entering it and,
    optionally, the block's head outputs before ``hook_z`` (the rows then skip the block's
    queries, keys, values and attention: valid when nothing before ``hook_z`` is edited)."""

    resid: Float[Tensor, "rows pos d_model"]
    z: Float[Tensor, "rows pos n_heads d_head"] | None = None


@dataclasses.dataclass(frozen=True)
class Prefix:
    """The base run's keys and values at the first ``length`` positions of every block
    (``[batch, length, n_heads, d_head]``), which no copy can change."""

    length: int
    keys: list[Tensor]
    values: list[Tensor]


def _norm(bridge: Any, cfg: Any) -> Callable[[Tensor], Tensor] | None:
    """The arithmetic of a NormalizationBridge: Hugging Face's LayerNorm when the bridge
    defers to it, else the bridge's own (centre, divide by the RMS, weight, bias)."""
    hf = bridge.original_component
    if hf is None or getattr(bridge, "uses_rms_norm", False):
        return None
    if getattr(bridge, "uses_weight_offset", False):
        return None
    if bridge.use_native_layernorm_autograd or getattr(cfg, "layer_norm_folding", False):
        return hf
    eps = getattr(cfg, "eps", 1e-5)

    def norm(x: Tensor) -> Tensor:
        dtype = x.dtype
        if dtype not in (torch.float32, torch.float64):  # the bridge normalises in float32
            x = x.float()
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * bridge.weight
        return (x + hf.bias if hf.bias is not None else x).to(dtype)

    return norm


def _block_of(b: Any, cfg: Any) -> _Block | None:
    """The Hugging Face parts of one bridge block, or None when one is missing."""
    ln1, ln2 = _norm(b.ln1, cfg), _norm(b.ln2, cfg)
    parts = (
        b.attn.q.original_component,
        b.attn.k.original_component,
        b.attn.v.original_component,
        b.attn.o.original_component,
        getattr(b.mlp, "in").original_component,
        b.mlp.original_component.act,
        b.mlp.out.original_component,
    )
    if ln1 is None or ln2 is None or any(x is None for x in parts):
        return None
    q, k, v, o, mlp_in, act, mlp_out = parts
    return _Block(ln1, q, k, v, o, ln2, mlp_in, act, mlp_out)


#: model -> its Resumer (None: it cannot be mirrored); weak keys, so an entry goes with its
#: model (a Resumer holds the model's submodules, never the model itself)
_RESUMERS: weakref.WeakKeyDictionary[torch.nn.Module, Resumer | None] = weakref.WeakKeyDictionary()


class Resumer:
    """The bridge's GPT-2 computation from block ``start`` on, with named patch points."""

    def __init__(
        self,
        model: Model,
        embed: torch.nn.Module,
        pos_embed: torch.nn.Module,
        blocks: list[_Block],
        ln_final: Callable[[Tensor], Tensor],
        unembed: torch.nn.Module,
    ) -> None:
        cfg = model.cfg
        self.n_layers, self.n_heads, self.d_head = cfg.n_layers, cfg.n_heads, cfg.d_head
        self.scale = self.d_head**-0.5
        self.embed, self.pos_embed = embed, pos_embed
        self.blocks, self.ln_final, self.unembed = blocks, ln_final, unembed
        self.points = list(set(getattr(model, "hook_dict", {}).values()))

    @classmethod
    def of(cls, model: Model) -> Resumer | None:
        """The resumer for ``model`` (built once, kept beside the model in a weak-keyed table,
        never on it), or None when the model is not a GPT-2-architecture bridge whose
        computation this module mirrors, or has hooks attached that this module would not
        run (checked on every call: the bridge's options and hooks can change)."""
        if not cls.mirrors(model):
            return None
        try:
            cached = _RESUMERS[model]
        except KeyError:
            cached = _RESUMERS[model] = cls._build(model)
        return None if cached is None or cached.hooked() else cached

    @staticmethod
    def mirrors(model: Any) -> bool:
        """Whether ``model`` computes what :class:`Resumer` computes: a GPT-2 bridge without
        the options that change its attention (per-head results, split inputs)."""
        cfg = getattr(model, "cfg", None)
        hf = getattr(model, "original_model", None)
        config = getattr(hf, "config", None)
        if cfg is None or getattr(config, "model_type", None) != "gpt2":
            return False
        changed = ("use_attn_result", "use_split_qkv_input", "use_attn_in", "use_hook_mlp_in")
        if any(getattr(cfg, flag, False) for flag in changed):
            return False
        upcast = ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn")
        return not any(getattr(config, flag, False) for flag in upcast)

    def hooked(self) -> bool:
        """Whether a hook is attached to the bridge (a permanent one, or a ``with
        model.hooks(...)`` around the call): it must take effect, and only the bridge runs
        it."""
        return any(point.fwd_hooks or point.bwd_hooks for point in self.points)

    @classmethod
    def _build(cls, model: Model) -> Resumer | None:
        cfg = model.cfg
        try:
            blocks = [_block_of(b, cfg) for b in model.blocks]
            ln_final, unembed = _norm(model.ln_final, cfg), model.unembed.original_component
            embed, pos_embed = model.embed.original_component, model.pos_embed.original_component
        except AttributeError:
            return None
        if embed is None or pos_embed is None or ln_final is None or unembed is None:
            return None
        if any(b is None for b in blocks):
            return None
        return cls(model, embed, pos_embed, [b for b in blocks if b is not None], ln_final, unembed)

    def supports(self, names: Collection[str]) -> bool:
        """Whether every hook in ``names`` is one this forward fires."""
        for name in names:
            parts = name.split(".", 2)
            if parts[0] != "blocks" or len(parts) < 3 or parts[2] not in BLOCK_HOOKS:
                return False
        return True

    def embeddings(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The residual stream entering block 0: token plus position embeddings."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.embed(tokens) + self.pos_embed(positions)

    @torch.no_grad()
    def run_with_cache(
        self, tokens: Int[Tensor, "batch pos"], names: Collection[str]
    ) -> tuple[Float[Tensor, "batch pos d_vocab"], dict[str, Tensor]]:
        """The full forward on ``tokens`` with the activations ``names`` (like the bridge's
        ``run_with_cache`` with a names filter, without its per-call overhead)."""
        cache: dict[str, Tensor] = {}

        def keep(name: str, act: Tensor) -> Tensor:
            cache[name] = act
            return act

        logits = self.run({0: Entry(self.embeddings(tokens))}, names, keep)
        return logits, cache

    def prefix(self, k: list[Tensor], v: list[Tensor], length: int) -> Prefix:
        """A :class:`Prefix` from the base run's cached ``hook_k`` / ``hook_v`` per block."""
        return Prefix(length, [x[:, :length] for x in k], [x[:, :length] for x in v])

    @torch.no_grad()
    def run(
        self,
        entries: Mapping[int, Entry],
        names: Collection[str] = (),
        edit: Edit | None = None,
        readout: Int[Tensor, " rows"] | None = None,
        prefix: Prefix | None = None,
        columns: Int[Tensor, "rows k"] | None = None,
    ) -> Float[Tensor, "rows out_pos d_vocab"]:
        """Blocks from the first entry's on, then the final LayerNorm and unembedding.

        ``entries[l]``: rows that join at block ``l`` (appended after the rows already
        running): one forward runs copies that start at different blocks, each block called
        once on every row that has started. At each hook in ``names`` the activation (of
        the running rows) is replaced by ``edit(name, activation)`` (shapes as
        transformer-lens's).

        ``readout``: one position per row (of all rows); the logits are then
        ``[rows, 1, d_vocab]`` at those positions only. ``prefix``: the first
        ``prefix.length`` positions are not computed (entries hold only the later ones;
        activations passed to ``edit`` too) and keys/values there come from ``prefix``,
        whose batch the rows repeat. ``columns``: only these logits per row
        (``[rows, out_pos, k]``), e.g. a logit difference's two tokens."""
        names = set(names)
        offset = prefix.length if prefix is not None else 0
        last = self.n_layers - 1
        own = {n.split(".", 2)[2] for n in names if n.startswith(f"blocks.{last}.")}
        late = entries.get(last)
        shortcut = (
            readout is not None and own <= set(_FULL_IN_LAST) and (late is None or late.z is None)
        )
        x: Tensor | None = None
        for layer in range(min(entries), self.n_layers):
            at_end = readout is not None and shortcut and layer == last
            only = readout - offset if at_end and readout is not None else None
            x = self._block(layer, x, entries.get(layer), names, edit, only, prefix)
        if x is None:
            raise ValueError(f"entries {sorted(entries)} start after the last block")
        if readout is not None and not shortcut:
            rows = torch.arange(x.shape[0], device=x.device)
            x = x[rows, readout - offset][:, None]
        x = self.ln_final(x)
        if columns is None:
            return self.unembed(x)
        if not isinstance(self.unembed, torch.nn.Linear):
            logits = self.unembed(x)
            return logits.gather(-1, columns[:, None].expand(-1, logits.shape[1], -1))
        logits = torch.einsum("rpd,rkd->rpk", x, self.unembed.weight[columns])
        bias = self.unembed.bias
        return logits if bias is None else logits + bias[columns][:, None]

    def _block(
        self,
        layer: int,
        x: Tensor | None,
        entry: Entry | None,
        names: set[str],
        edit: Edit | None,
        only: Tensor | None,
        prefix: Prefix | None,
    ) -> Tensor:
        b = self.blocks[layer]
        stem = f"blocks.{layer}."

        def hook(name: str, act: Tensor) -> Tensor:
            full = stem + name
            return edit(full, act) if edit is not None and full in names else act

        if entry is not None and entry.z is None:  # joins before the attention
            x = entry.resid if x is None else torch.cat([x, entry.resid])
        z = None
        if x is not None:
            x, z = self._attend(b, x, hook, only, prefix, layer)
        if entry is not None and entry.z is not None:  # joins at the head outputs
            x = entry.resid if x is None else torch.cat([x, entry.resid])
            z = entry.z if z is None else torch.cat([z, entry.z])
        if x is None or z is None:
            raise ValueError(f"no rows reach block {layer}: give an entry at or before it")
        z = hook("attn.hook_z", z)
        attn_out = hook("hook_attn_out", b.o(z.reshape(*z.shape[:2], -1)))
        x = hook("hook_resid_mid", x + attn_out)
        pre = hook("mlp.hook_pre", b.mlp_in(b.ln2(x)))
        post = hook("mlp.hook_post", b.act(pre))
        x = x + hook("hook_mlp_out", b.mlp_out(post))
        return hook("hook_resid_post", x)

    def _attend(
        self,
        b: _Block,
        x: Tensor,
        hook: Callable[[str, Tensor], Tensor],
        only: Tensor | None,
        prefix: Prefix | None,
        layer: int,
    ) -> tuple[Tensor, Tensor]:
        """Queries, keys, values and attention up to the head outputs (before ``hook_z``);
        returns the residual stream (cut to the readout positions with ``only``) and z."""
        rows, pos, _ = x.shape
        x = hook("hook_resid_pre", x)
        h = b.ln1(x)
        heads = (rows, pos, self.n_heads, self.d_head)
        k = hook("attn.hook_k", b.k(h).view(heads))
        v = hook("attn.hook_v", b.v(h).view(heads))
        if only is not None:  # the last block, read at one position per row
            at = torch.arange(rows, device=x.device)
            x, h = x[at, only][:, None], h[at, only][:, None]
        q = hook("attn.hook_q", b.q(h).view(x.shape[0], x.shape[1], self.n_heads, self.d_head))
        if prefix is not None and prefix.length:
            copies = rows // prefix.keys[layer].shape[0]
            k = torch.cat([prefix.keys[layer].repeat(copies, 1, 1, 1), k], 1)
            v = torch.cat([prefix.values[layer].repeat(copies, 1, 1, 1), v], 1)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        n_k = k.shape[-2]
        q_pos = (
            (only + (n_k - pos))[:, None, None, None]  # [rows, 1, 1, 1]
            if only is not None
            else torch.arange(n_k - pos, n_k, device=x.device)[:, None]
        )
        masked = torch.arange(n_k, device=x.device) > q_pos
        pattern = torch.softmax(scores.masked_fill(masked, -torch.inf), dim=-1)
        pattern = hook("attn.hook_pattern", pattern)
        return x, torch.matmul(pattern, v).transpose(1, 2)
