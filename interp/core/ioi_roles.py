"""The head classes of the IOI circuit (Wang et al. 2022, "Interpretability in the Wild"),
defined once: their order, the position each acts at, the paths between them (the paper's
figure 2) and the circuit the paper found in GPT-2 small.

Everything that names an IOI class imports it from here: the planted model
(``reference:ioi``), circuit discovery and evaluation (:mod:`interp.studies.ioi_circuit`),
the IOI run (:mod:`interp.studies.ioi_run`), its figures and the dashboard.

>>> from interp.core.ioi_roles import CLASSES, POSITIONS, PATHS, class_key, label
>>> CLASSES[0], POSITIONS["induction"], ("s_inhibition", "name_mover") in PATHS
('previous_token', 'S2', True)
>>> class_key("Name Mover Heads"), label("s_inhibition")
('name_mover', 'S-inhibition')
"""

from __future__ import annotations

from dataclasses import dataclass

from interp.core.components import Head


@dataclass(frozen=True)
class Role:
    """One class of IOI heads: its key, the named position it acts at (the query position
    of its attention) and a line on what it does."""

    name: str
    position: str
    label: str
    does: str


#: the classes in the order information flows through the circuit. The order is also the
#: order ``reference:ioi`` places them in (its random placements draw role by role): keep it.
ROLES: tuple[Role, ...] = (
    Role("previous_token", "S1+1", "previous-token", "copies the previous token (S1) into S1+1"),
    Role("duplicate_token", "S2", "duplicate-token", "at S2, attends to S1: 'S is repeated'"),
    Role("induction", "S2", "induction", "at S2, attends to S1+1: 'S is repeated'"),
    Role("s_inhibition", "END", "S-inhibition", "at END, moves 'S is repeated' into the query"),
    Role("name_mover", "END", "name mover", "at END, attends to IO and copies it to the logits"),
    Role(
        "negative_name_mover",
        "END",
        "negative name mover",
        "copies the name it attends to with a minus sign (hedging)",
    ),  # fmt: skip
    Role(
        "backup_name_mover",
        "END",
        "backup name mover",
        "idle until the name movers are ablated, then takes over their job",
    ),  # fmt: skip
)
#: class keys, in the order information flows
CLASSES: tuple[str, ...] = tuple(r.name for r in ROLES)
#: the order the paper finds them in (name movers first, backups last): the order the
#: discovery fills a circuit and the order tables and scripts print it
DISCOVERY_ORDER: tuple[str, ...] = (
    "name_mover",
    "negative_name_mover",
    "s_inhibition",
    "induction",
    "duplicate_token",
    "previous_token",
    "backup_name_mover",
)
#: the named position where each class acts (the paper keeps each class only there when it
#: evaluates the circuit with positions)
POSITIONS: dict[str, str] = {r.name: r.position for r in ROLES}
#: the paths of the paper's circuit diagram (Wang et al. 2022, figure 2): sender -> receiver
PATHS: tuple[tuple[str, str], ...] = (
    ("previous_token", "induction"),
    ("induction", "s_inhibition"),
    ("duplicate_token", "s_inhibition"),
    ("s_inhibition", "name_mover"),
    ("s_inhibition", "backup_name_mover"),
    ("s_inhibition", "negative_name_mover"),
    ("name_mover", "logits"),
    ("backup_name_mover", "logits"),
    ("negative_name_mover", "logits"),
)
#: the published 26-head circuit of GPT-2 small (Wang et al. 2022; /work/shared/PAPERS.md),
#: in :data:`DISCOVERY_ORDER`; labelled "paper" wherever it is shown, never as measured
PAPER_GPT2_SMALL: dict[str, list[Head]] = {
    "name_mover": [Head(9, 6), Head(9, 9), Head(10, 0)],
    "negative_name_mover": [Head(10, 7), Head(11, 10)],
    "s_inhibition": [Head(7, 3), Head(7, 9), Head(8, 6), Head(8, 10)],
    "induction": [Head(5, 5), Head(5, 8), Head(5, 9), Head(6, 9)],
    "duplicate_token": [Head(0, 1), Head(0, 10), Head(3, 0)],
    "previous_token": [Head(2, 2), Head(4, 11)],
    "backup_name_mover": [
        Head(9, 0),
        Head(9, 7),
        Head(10, 1),
        Head(10, 2),
        Head(10, 6),
        Head(10, 10),
        Head(11, 2),
        Head(11, 9),
    ],  # fmt: skip
}
#: the paper's headline numbers on GPT-2 small (PAPERS.md), by quantity: "paper", not measured
PAPER_METRICS: dict[str, str] = {
    "logit difference IO − S": "3.56",
    "IO > S": "99.3%",
    "P(IO)": "0.49",
    "faithfulness F(C)/F(M)": "87%",
}
#: model names whose runs are shown beside :data:`PAPER_GPT2_SMALL` and :data:`PAPER_METRICS`
PAPER_MODELS = ("gpt2-small", "gpt2")

_ROLE = {r.name: r for r in ROLES}
_ALIASES = {
    "s_inhibit": "s_inhibition",
    "duplicate": "duplicate_token",
    "prev_token": "previous_token",
}


def class_key(name: str) -> str:
    """A class's key from the ways people write it: ``"Name mover"``, ``"name-mover"``,
    ``"name_movers"``, ``"S-inhibition heads"`` -> ``"name_mover"`` / ``"s_inhibition"``.
    Names that are no IOI class come back normalised the same way."""
    key = "_".join(str(name).lower().replace("-", " ").replace("heads", "").split())
    key = key.removesuffix("s") if key.removesuffix("s") in _ROLE else key
    return _ALIASES.get(key, key)


def label(cls: str) -> str:
    """The class as prose: ``"s_inhibition"`` -> ``"S-inhibition"`` (unknown keys: spaces)."""
    role = _ROLE.get(class_key(cls))
    return role.label if role else cls.replace("_", " ")


assert set(DISCOVERY_ORDER) == set(CLASSES) == set(PAPER_GPT2_SMALL)
