"""The one intervention mechanism: components, scaling, replacement, per-prompt positions."""

from __future__ import annotations

import pytest
import torch

from interp.core.errors import InterpError
from interp.core.hooks import head_name
from interp.core.interventions import Component, Intervention, hooks_for, parse_components, run_with
from interp.core.tokens import to_tokens

PROMPTS = [
    "When Mary and John went to the store , John gave a drink to",
    "After Alice and Bob went to the park , Bob gave a book to",
]


def test_parse_and_validate(ioi_model):
    assert [str(c) for c in parse_components(ioi_model, ["L6H1", "L5N3", "L3.mlp"])] == [
        "L6H1", "L5N3", "L3.mlp",
    ]  # fmt: skip
    with pytest.raises(InterpError, match="heads 0..3"):
        parse_components(ioi_model, ["L6H9"])
    with pytest.raises(InterpError, match="cannot read"):
        Component.parse("head six")


def test_per_prompt_position_equals_a_full_shape_value(ioi_model):
    """``at`` replaces one position per prompt and leaves every other position alone."""
    tokens = torch.cat([to_tokens(ioi_model, PROMPTS[0]), to_tokens(ioi_model, PROMPTS[1])])
    name = head_name(6, "z")
    with torch.no_grad():
        clean, cache = ioi_model.run_with_cache(tokens, names_filter=lambda n: n == name)
    z = cache[name][:, :, 1]  # [batch, pos, d_head]
    replacement = torch.randn_like(z)
    at = torch.tensor([13, 9])  # a different position in each prompt
    by_at = run_with(
        ioi_model, tokens, [Intervention(Component(6, "head", 1), value=replacement, at=at)]
    )
    full = z.clone()
    full[torch.arange(2), at] = replacement[torch.arange(2), at]
    by_value = run_with(ioi_model, tokens, [Intervention(Component(6, "head", 1), value=full)])
    assert torch.allclose(by_at, by_value, atol=1e-5)
    assert not torch.allclose(by_at, clean, atol=1e-3)
    # only positions at or after the replaced one can change
    assert torch.allclose(by_at[1, :9], clean[1, :9], atol=1e-5)


def test_scale_and_grouped_hooks(ioi_model):
    tokens = to_tokens(ioi_model, PROMPTS[0])
    both = [Intervention(Component(6, "head", 1)), Intervention(Component(6, "head", 3))]
    assert len(hooks_for(both)) == 1  # one hook function per hook point
    zeroed = run_with(ioi_model, tokens, both)
    layer = run_with(ioi_model, tokens, [Intervention(Component(6, "attn"))])
    assert torch.allclose(zeroed, layer, atol=1e-4)  # layer 6's output is its two name movers
    unchanged = run_with(ioi_model, tokens, [Intervention(Component(6, "head", 1), scale=1.0)])
    with torch.no_grad():
        assert torch.allclose(unchanged, ioi_model(tokens), atol=1e-5)
