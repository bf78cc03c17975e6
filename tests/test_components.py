"""One vocabulary of components (heads, neurons, layers): one parser, one printer, usable as
the ``(layer, head)`` pairs older code passes around; the IOI classes defined once."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.core.components import (
    Component,
    Head,
    Layer,
    Neuron,
    heads_text,
    parse_component,
    parse_head,
    parse_heads,
)
from interp.core.errors import InterpError


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("L6H1", Head(6, 1)),
        ("l6h1", Head(6, 1)),
        ("6.1", Head(6, 1)),
        (" 6 1 ", Head(6, 1)),
        ((6, 1), Head(6, 1)),
        ([6, 1], Head(6, 1)),
        ((np.int64(6), np.int64(1)), Head(6, 1)),
        (Head(6, 1), Head(6, 1)),
        ("L5N123", Neuron(5, 123)),
        ("L3.attn", Layer(3, "attn")),
        ("L3.mlp", Layer(3, "mlp")),
        ("L2.resid", Layer(2, "resid")),
        (Component(6, "head", 1), Head(6, 1)),
    ],
)
def test_one_parser_reads_every_written_form(written, expected):
    part = parse_component(written)
    assert part == expected and type(part) is type(expected)


def test_one_printer_and_round_trip():
    assert [str(p) for p in (Head(6, 1), Neuron(5, 123), Layer(3, "attn"))] == [
        "L6H1", "L5N123", "L3.attn",
    ]  # fmt: skip
    for text in ("L6H1", "L5N123", "L3.attn", "L3.mlp", "L2.resid", "L10H11"):
        assert str(parse_component(text)) == text
    assert Head(6, 1).key == "6.1" and parse_head(Head(10, 7).key) == Head(10, 7)
    assert heads_text([[9, 6], "9.9", (10, 0)]) == "9.6, 9.9, 10.0"
    assert heads_text([]) == "-" and heads_text([(6, 1)], dotted=False) == "L6H1"


def test_heads_work_where_pairs_did():
    head = parse_head("L6H1")
    layer, h = head
    assert (layer, h) == (6, 1) and head == (6, 1) and {head} == {(6, 1)}
    assert head in [(6, 1), (6, 3)] and (6, 1) in {Head(6, 1): "nm"}
    assert sorted([Head(7, 0), Head(6, 3), Head(6, 1)]) == [(6, 1), (6, 3), (7, 0)]
    grid = np.arange(32).reshape(8, 4)
    assert grid[head] == grid[6, 1] == 25
    assert json.loads(json.dumps({"name_mover": [head]})) == {"name_mover": [[6, 1]]}
    assert parse_heads([[6, 1], [6, 3]]) == [Head(6, 1), Head(6, 3)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("head six", "cannot read head 'head six'"),
        ("L6N1", "names a neuron"),
        ("L3.mlp", r"names a layer \(L3.mlp\)"),
        ((6,), "cannot read head"),
        ([6.5, 1], "cannot read head"),
        ([-1, 2], "cannot read head"),
        (None, "cannot read head"),
    ],
)
def test_parse_head_rejects_clearly_and_lists_the_forms(bad, message):
    with pytest.raises(InterpError, match=message) as err:
        parse_head(bad)
    assert 'L6H1, "6.1"' in str(err.value) and "(6, 1)" in str(err.value)


def test_parse_component_rejects_clearly():
    for bad in ("L3.attention", "H6", "L6H", "", (1, 2, 3), True):
        with pytest.raises(InterpError, match="cannot read component") as err:
            parse_component(bad)
        assert "L5N123" in str(err.value) and "L2.resid" in str(err.value)


def test_component_is_the_vocabulary_for_interventions(ioi_model):
    """Component.parse / str keep their strings; a component made from a Head or any written
    form is the same intervention for the model."""
    from interp.core.interventions import Component as FromInterventions
    from interp.core.interventions import Intervention, run_with
    from interp.core.tokens import to_tokens

    assert FromInterventions is Component
    for text in ("L6H1", "L5N3", "L3.attn", "L3.mlp", "L2.resid"):
        assert str(Component.parse(text)) == text
    assert Component.parse("6.1") == Component.of(Head(6, 1)) == Component(6, "head", 1)
    assert Component.of("L5N3") == Component(5, "neuron", 3)
    assert Component(2, "resid").part == Layer(2, "resid")
    assert Component(6, "head", 1).part == (6, 1)
    with pytest.raises(InterpError, match="unknown component kind"):
        Component(2, "block")
    with pytest.raises(InterpError, match="needs an index"):
        Component(2, "head")
    tokens = to_tokens(ioi_model, "When Mary and John went to the store , John gave a drink to")
    by_component = run_with(ioi_model, tokens, [Intervention(Component(6, "head", 1))])
    by_head = run_with(ioi_model, tokens, [Intervention(Component.of(Head(6, 1)))])
    by_text = run_with(ioi_model, tokens, [Intervention(Component.parse("6.1"))])
    with torch.no_grad():
        clean = ioi_model(tokens)
    assert torch.equal(by_component, by_head) and torch.equal(by_head, by_text)
    assert not torch.allclose(by_head, clean, atol=1e-3)  # name mover 6.1 does matter


def test_cli_reads_a_neuron_in_either_form():
    from interp.commands.neurons import _neuron

    assert _neuron("L2N14", None) == Neuron(2, 14) == _neuron("L2", "N14") == _neuron("2", "14")
    assert str(_neuron("2", "14")) == "L2N14"
    with pytest.raises(InterpError, match="not a neuron"):
        _neuron("L2H1", None)


# -- the IOI classes, defined once ------------------------------------------------------------
def test_ioi_classes_are_defined_once():
    from interp.core import ioi_roles
    from interp.core.reference import ioi as reference
    from interp.figures.ioi import CLASS_COLORS
    from interp.studies import ioi_circuit
    from interp.views import circuit as view

    # the planted model draws random placements role by role in this order: it must not move
    assert reference.ROLES == ioi_roles.CLASSES == (
        "previous_token", "duplicate_token", "induction", "s_inhibition", "name_mover",
        "negative_name_mover", "backup_name_mover",
    )  # fmt: skip
    assert ioi_circuit.CLASSES == ioi_roles.DISCOVERY_ORDER
    assert ioi_circuit.PAPER_POSITIONS is ioi_roles.POSITIONS
    assert ioi_circuit.PAPER_GPT2_SMALL is ioi_roles.PAPER_GPT2_SMALL
    assert list(view.IOI_CLASSES) == list(CLASS_COLORS) == list(ioi_roles.CLASSES)
    assert view.IOI_PATHS == list(ioi_roles.PATHS) and view.PAPER_IOI is ioi_roles.PAPER_METRICS
    # the paper's circuit: 26 heads, each in one class; every path joins two known classes
    paper = [h for heads in ioi_roles.PAPER_GPT2_SMALL.values() for h in heads]
    assert len(paper) == len(set(paper)) == 26
    assert {c for path in ioi_roles.PATHS for c in path} == {*ioi_roles.CLASSES, "logits"}
    assert ioi_roles.POSITIONS == {
        "previous_token": "S1+1", "duplicate_token": "S2", "induction": "S2",
        "s_inhibition": "END", "name_mover": "END", "negative_name_mover": "END",
        "backup_name_mover": "END",
    }  # fmt: skip
    for written in ("Name movers", "name-mover", "name_movers", "Name mover heads"):
        assert ioi_roles.class_key(written) == "name_mover"
    assert ioi_roles.class_key("S-inhibition") == "s_inhibition"
    assert ioi_roles.class_key("duplicate") == "duplicate_token"
