"""One vocabulary for the parts of a transformer an analysis names: heads, neurons, layers.

* :class:`Head` ``(layer, head)`` — written ``L6H1``;
* :class:`Neuron` ``(layer, index)`` — an MLP neuron, written ``L5N123``;
* :class:`Layer` ``(layer, part)`` — a whole sublayer's output (``attn``, ``mlp``) or the
  residual stream entering the block (``resid``), written ``L3.attn``, ``L3.mlp``,
  ``L2.resid``.

:func:`parse_component` reads any of them from text or a tuple, :func:`parse_head` reads a
head (also in the dotted form ``6.1`` that stored runs use as keys), and ``str()`` prints the
one display form. Each is a small immutable tuple, so code written for ``(layer, head)``
pairs keeps working: ``layer, h = head``, ``array[head]``, sorting, hashing and
``Head(6, 1) == (6, 1)`` all behave as they do for the plain pair. (Being tuples, a head and
a neuron with the same numbers also compare equal; use ``.kind`` where both are mixed.)

:class:`Component` (re-exported by :mod:`interp.core.interventions`) is the same vocabulary
seen by the intervention machinery: ``(layer, kind, index)`` plus its hook point.

>>> from interp.core.components import Head, parse_component, parse_head
>>> str(parse_head("6.1")), str(parse_head([6, 1])), parse_head("L6H1") == (6, 1)
('L6H1', 'L6H1', True)
>>> layer, h = Head(6, 1)
>>> parse_component("L5N123"), parse_component("L3.mlp")
(Neuron(layer=5, index=123), Layer(layer=3, part='mlp'))
>>> Head(6, 1).key  # the dotted key stored runs use ("6.1" -> class, minimality, ...)
'6.1'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from interp.core.errors import InterpError

if TYPE_CHECKING:
    from torch import Tensor

#: the parts a :class:`Layer` can name
LAYER_PARTS = ("attn", "mlp", "resid")
#: what :func:`parse_component` accepts, for error messages
ACCEPTED = (
    'L6H1 or "6.1" or (6, 1) (head 1 of layer 6), L5N123 (neuron 123 of layer 5\'s MLP), '
    "L3.attn / L3.mlp (a sublayer's output), L2.resid (the residual stream into layer 2)"
)
HEAD_FORMS = 'L6H1, "6.1", "6 1", (6, 1) or [6, 1] (head 1 of layer 6)'

_TEXT = re.compile(
    r"^L(?P<layer>\d+)(?:H(?P<head>\d+)|N(?P<neuron>\d+)|\.(?P<part>attn|mlp|resid))$",
    re.IGNORECASE,
)
_PAIR = re.compile(r"^\(?\[?\s*(\d+)\s*(?:\.|,|\s)\s*(\d+)\s*\]?\)?$")


class Head(NamedTuple):
    """Attention head ``head`` of layer ``layer``; ``str()`` is ``L6H1``."""

    layer: int
    head: int

    @property
    def kind(self) -> str:
        return "head"

    def __str__(self) -> str:
        return f"L{self.layer}H{self.head}"

    @property
    def key(self) -> str:
        """The dotted form (``6.1``): the key stored runs and tables use for a head."""
        return f"{self.layer}.{self.head}"


class Neuron(NamedTuple):
    """Neuron ``index`` of layer ``layer``'s MLP (``hook_post``); ``str()`` is ``L5N123``."""

    layer: int
    index: int  # type: ignore[assignment]  # the neuron's index (hides tuple.index)

    @property
    def kind(self) -> str:
        return "neuron"

    def __str__(self) -> str:
        return f"L{self.layer}N{self.index}"


class Layer(NamedTuple):
    """A whole sublayer's output (``attn``, ``mlp``) or the residual stream into the block
    (``resid``); ``str()`` is ``L3.attn``."""

    layer: int
    part: str

    def __str__(self) -> str:
        return f"L{self.layer}.{self.part}"

    @property
    def kind(self) -> str:
        return self.part


Part = Head | Neuron | Layer
#: what a function taking a head accepts (read with :func:`parse_head`)
HeadLike = Head | tuple[int, int] | list[int] | str


def _integers(values: Iterable[Any], text: Any, forms: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | str) and not hasattr(v, "__index__"):
            raise InterpError(f"cannot read {text!r}; write {forms}")
        try:
            number = int(v) if not isinstance(v, str) else int(v.strip())
        except ValueError:
            raise InterpError(f"cannot read {text!r}; write {forms}") from None
        if number < 0:
            raise InterpError(f"{text!r}: layers and indices count from 0; write {forms}")
        out.append(number)
    return out


def parse_component(value: Any) -> Part:
    """A :class:`Head`, :class:`Neuron` or :class:`Layer` from any of its written forms:
    ``"L6H1"``, ``"6.1"``, ``(6, 1)``, ``[6, 1]`` (heads), ``"L5N123"`` (neurons),
    ``"L3.attn"``, ``"L3.mlp"``, ``"L2.resid"`` (layers), or an instance (returned as is).
    Anything else is an :class:`InterpError` naming the accepted forms.

    >>> parse_component("L2.resid"), parse_component((6, 1))
    (Layer(layer=2, part='resid'), Head(layer=6, head=1))
    """
    if isinstance(value, Head | Neuron | Layer):
        return value
    if isinstance(value, Component):
        return value.part
    if isinstance(value, str):
        text = value.strip()
        match = _TEXT.match(text)
        if match:
            layer = int(match["layer"])
            if match["head"] is not None:
                return Head(layer, int(match["head"]))
            if match["neuron"] is not None:
                return Neuron(layer, int(match["neuron"]))
            return Layer(layer, match["part"].lower())
        pair = _PAIR.match(text)
        if pair:
            return Head(int(pair[1]), int(pair[2]))
        raise InterpError(f"cannot read component {value!r}; write {ACCEPTED}")
    if isinstance(value, tuple | list) and len(value) == 2:
        layer, head = _integers(value, value, ACCEPTED)
        return Head(layer, head)
    raise InterpError(f"cannot read component {value!r}; write {ACCEPTED}")


def parse_head(value: Any) -> Head:
    """A :class:`Head` from ``"L6H1"``, ``"6.1"``, ``"6 1"``, ``(6, 1)``, ``[6, 1]`` or a
    Head; anything else (a neuron, a layer, text that names no head) is an
    :class:`InterpError` listing the accepted forms.

    >>> parse_head(" l10h7 "), parse_head([9, 6]).key
    (Head(layer=10, head=7), '9.6')
    """
    try:
        part = parse_component(value)
    except InterpError:
        raise InterpError(f"cannot read head {value!r}; write {HEAD_FORMS}") from None
    if not isinstance(part, Head):
        what = type(part).__name__.lower()
        raise InterpError(f"{value!r} names a {what} ({part}), not a head; write {HEAD_FORMS}")
    return part


def parse_heads(values: Iterable[Any]) -> list[Head]:
    """:func:`parse_head` of each value (e.g. a stored ``[[6, 1], [6, 3]]``)."""
    return [parse_head(v) for v in values]


def heads_text(heads: Iterable[Any], empty: str = "-", dotted: bool = True) -> str:
    """Heads as one line of text: ``"6.1, 6.3"`` (``dotted``, the form tables and the IOI
    script print) or ``"L6H1, L6H3"``; ``empty`` when there is none.

    >>> heads_text([[9, 6], (9, 9)]), heads_text([], "—"), heads_text([(6, 1)], dotted=False)
    ('9.6, 9.9', '—', 'L6H1')
    """
    parsed = parse_heads(heads)
    return ", ".join(h.key if dotted else str(h) for h in parsed) or empty


# -- the intervention machinery's view ---------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """A component as the intervention machinery sees it: ``(layer, kind, index)`` with
    ``kind`` in head, neuron, attn, mlp, resid, plus its hook point and its slice of the hook's
    activation. Written and read as the vocabulary's parts (``L6H1``, ``L5N123``, ``L3.attn``).

    >>> c = Component.parse("L6H1")
    >>> (c, c.part, c.hook)
    (Component(layer=6, kind='head', index=1), Head(layer=6, head=1), 'blocks.6.attn.hook_z')
    >>> Component.of(Head(6, 1)) == c
    True
    """

    layer: int
    kind: str  # "head" | "neuron" | "attn" | "mlp" | "resid"
    index: int | None = None

    def __post_init__(self) -> None:
        if self.kind in ("head", "neuron"):
            if self.index is None:
                raise InterpError(f"a {self.kind} component needs an index")
        elif self.kind not in LAYER_PARTS:
            raise InterpError(
                f"unknown component kind {self.kind!r}; use head, neuron, {', '.join(LAYER_PARTS)}"
            )

    @classmethod
    def parse(cls, text: Any) -> Component:
        """From any form :func:`parse_component` reads (``L6H1``, ``L5N123``, ``L3.mlp``...)."""
        return cls.of(parse_component(text))

    @classmethod
    def of(cls, value: Any) -> Component:
        """A Component from a Component, a :class:`Head` / :class:`Neuron` / :class:`Layer`
        or any of their written forms."""
        if isinstance(value, Component):
            return value
        part = parse_component(value)
        if isinstance(part, Head):
            return cls(part.layer, "head", part.head)
        if isinstance(part, Neuron):
            return cls(part.layer, "neuron", part.index)
        return cls(part.layer, part.part)

    @property
    def part(self) -> Part:
        """The vocabulary's part: a :class:`Head`, :class:`Neuron` or :class:`Layer`."""
        if self.kind == "head":
            return Head(self.layer, int(self.index))  # type: ignore[arg-type]
        if self.kind == "neuron":
            return Neuron(self.layer, int(self.index))  # type: ignore[arg-type]
        return Layer(self.layer, self.kind)

    def __str__(self) -> str:
        return str(self.part)

    @property
    def hook(self) -> str:
        from interp.core.hooks import block_out_name, head_name, mlp_name, resid_name

        return {
            "head": head_name(self.layer, "z"),
            "neuron": mlp_name(self.layer, "post"),
            "attn": block_out_name(self.layer, "attn_out"),
            "mlp": block_out_name(self.layer, "mlp_out"),
            "resid": resid_name(self.layer, "pre"),
        }[self.kind]

    def select(self, activation: Tensor) -> Tensor:
        """The component's slice of its hook's activation (a view)."""
        if self.kind == "head":
            return activation[:, :, self.index]  # [batch, pos, d_head]
        if self.kind == "neuron":
            return activation[..., self.index]  # [batch, pos]
        return activation  # [batch, pos, d_model]

    def validate(self, model: Any) -> None:
        """An :class:`InterpError` if the model has no such layer, head or neuron."""
        cfg = model.cfg
        index = -1 if self.index is None else self.index
        if not 0 <= self.layer < cfg.n_layers:
            raise InterpError(f"{self}: the model has layers 0..{cfg.n_layers - 1}")
        if self.kind == "head" and not 0 <= index < cfg.n_heads:
            raise InterpError(f"{self}: the model has heads 0..{cfg.n_heads - 1} per layer")
        if self.kind == "neuron" and not 0 <= index < cfg.d_mlp:
            raise InterpError(f"{self}: the model has neurons 0..{cfg.d_mlp - 1} per layer")
