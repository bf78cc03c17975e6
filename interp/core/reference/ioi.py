"""``reference:ioi`` — a GPT-2 with the indirect-object circuit of Wang et al. 2022 planted.

For "When Mary and John went to the store, John gave a drink to" the model says " Mary",
by the paper's algorithm, each role at a configurable (layer, head):

* **previous-token** heads attend from every position to the one before and copy its name
  identity into a PREV subspace (at S1+1 it holds "S came before me");
* **duplicate-token** heads attend from a name to an earlier copy of the same name (self
  excluded) and write the name into a DUP subspace plus a DUPF flag ("I am repeated");
* **induction** heads match the current name against PREV (attending S2 -> S1+1) and write
  the same DUP/DUPF signal;
* **S-inhibition** heads attend from END to the DUPF-flagged position (S2) and copy DUP
  into an INH subspace;
* **name movers** attend from END to names (a constant query on an is-name key) minus the
  INH name, and copy the attended name's *output* direction: the IO logit rises;
* the **negative name mover** attends like a name mover and writes minus the copy;
* **backup name movers** attend like name movers but also away from whatever name the
  residual stream already says (the name movers' output): idle in the clean run, they take
  over (partly) when the name movers are ablated.

Names have an input identity ``e`` (read by queries and keys) and an output identity ``u``
(the logit direction), both in the tied embedding ``E[name] = e + u + ISNAME``, so what the
name movers write never changes what later heads match on. Every head not in the circuit has
small random QK weights (a diffuse pattern) and no OV circuit.

Layer order required by the algorithm: previous-token < induction < S-inhibition;
duplicate-token < S-inhibition; S-inhibition < name movers, negative; name movers < backups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interp.core.ioi_roles import CLASSES
from interp.core.reference.builder import FeatureSpace, ModelWriter
from interp.core.reference.tokenizer import BOS, vocabulary
from interp.core.reference.vocab import NAMES

PARAMETERS = {"placement", "placement_seed", "n_layers", "n_heads"}
#: the roles, in the order of :data:`interp.core.ioi_roles.CLASSES` (random placements draw
#: role by role in this order)
ROLES = CLASSES
#: heads per role (GPT-2 small has 2, 3, 4, 4, 3, 2, 8; scaled down)
ROLE_COUNTS = {
    "previous_token": 2,
    "duplicate_token": 2,
    "induction": 2,
    "s_inhibition": 2,
    "name_mover": 2,
    "negative_name_mover": 1,
    "backup_name_mover": 2,
}
#: the default placement, in the order GPT-2 small has them (layers scaled from 12 to 8)
DEFAULT_PLACEMENT: dict[str, list[tuple[int, int]]] = {
    "duplicate_token": [(0, 1), (2, 3)],
    "previous_token": [(1, 2), (2, 1)],
    "induction": [(3, 1), (3, 3)],
    "s_inhibition": [(4, 2), (5, 0)],
    "name_mover": [(6, 1), (6, 3)],
    "negative_name_mover": [(7, 2)],
    "backup_name_mover": [(7, 0), (7, 3)],
}
D_MODEL, N_CTX, D_MLP = 512, 64, 16
ANCHOR, TEMPERATURE = 30.0, 1.5
#: attention-score and OV magnitudes (score units are logits of the attention softmax)
SINK = 6.0  # score of BOS for heads that have nothing to attend to
PT_SCORE = 12.0
DT_SCORE, DT_SELF = 12.0, 12.0
IND_SCORE = 10.0
SI_SCORE = 5.0  # per unit of DUPF
NM_SCORE, NM_INHIBIT, NM_SINK = 10.0, 3.5, 3.0
BACKUP_INHIBIT = 3.0
BACKUP_EXTRA_INHIBIT = 9.0
NM_COPY, NEG_COPY, BACKUP_COPY = 2.5, 1.0, 1.0


def check_placement(
    placement: dict[str, list[tuple[int, int]]], n_layers: int, n_heads: int
) -> dict[str, list[tuple[int, int]]]:
    """Validate roles, ranges, uniqueness and the layer order the algorithm needs."""
    placement = {r: [(int(lh[0]), int(lh[1])) for lh in heads] for r, heads in placement.items()}
    if set(placement) != set(ROLES):
        raise ValueError(f"placement must give every role {ROLES}; got {sorted(placement)}")
    seen: set[tuple[int, int]] = set()
    for role, heads in placement.items():
        if not heads:
            raise ValueError(f"role {role} has no head")
        for layer, head in heads:
            if not (0 <= layer < n_layers and 0 <= head < n_heads):
                raise ValueError(f"{role} head {layer}.{head} outside {n_layers}x{n_heads}")
            if (layer, head) in seen:
                raise ValueError(f"head {layer}.{head} given two roles")
            seen.add((layer, head))
    layers = {r: [lh[0] for lh in heads] for r, heads in placement.items()}
    order = [
        ("previous_token", "induction"),
        ("induction", "s_inhibition"),
        ("duplicate_token", "s_inhibition"),
        ("s_inhibition", "name_mover"),
        ("s_inhibition", "negative_name_mover"),
        ("name_mover", "backup_name_mover"),
    ]
    for before, after in order:
        if max(layers[before]) >= min(layers[after]):
            raise ValueError(f"every {before} head must be in an earlier layer than every {after}")
    return placement


def random_placement(seed: int, n_layers: int = 8, n_heads: int = 4) -> dict[str, list]:
    """A random placement that respects the algorithm's layer order (rejection sampling)."""
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        # layer boundaries of the five stages: PT | IND | SI | NM | BACKUP
        cuts = np.sort(rng.choice(np.arange(1, n_layers), size=4, replace=False))
        stage = np.split(np.arange(n_layers), cuts)
        ranges = {
            "previous_token": stage[0],
            "induction": stage[1],
            "duplicate_token": np.concatenate([stage[0], stage[1]]),
            "s_inhibition": stage[2],
            "name_mover": stage[3],
            "negative_name_mover": np.concatenate([stage[3], stage[4]]),
            "backup_name_mover": stage[4],
        }
        free = {layer: list(rng.permutation(n_heads)) for layer in range(n_layers)}
        placement: dict[str, list] = {}
        try:
            for role in ROLES:
                heads = []
                for _ in range(ROLE_COUNTS[role]):
                    layer = int(rng.choice(ranges[role]))
                    heads.append((layer, int(free[layer].pop())))
                placement[role] = sorted(heads)
        except IndexError:  # a layer ran out of heads: draw again
            continue
        return check_placement(placement, n_layers, n_heads)
    raise RuntimeError("could not place the circuit")


def build(
    placement: dict[str, Any] | None = None,
    placement_seed: int | None = None,
    n_layers: int = 8,
    n_heads: int = 4,
) -> tuple[Any, dict[str, Any]]:
    if placement is not None and placement_seed is not None:
        raise ValueError("give either placement or placement_seed, not both")
    if placement is None:
        placement = (
            DEFAULT_PLACEMENT
            if placement_seed is None
            else random_placement(placement_seed, n_layers, n_heads)
        )
    placement = check_placement(placement, n_layers, n_heads)
    vocab = vocabulary()
    n_names = len(NAMES)

    sp = FeatureSpace(D_MODEL, seed=1)
    for name, n in [
        ("NAME_IN", n_names),  # e: input identity of names (read by QK)
        ("NAME_OUT", n_names),  # u: output identity of names (logit direction)
        ("WORD", 48),  # random identity of every other token
        ("ISNAME", 1),
        ("BOSF", 1),
        ("ANCHOR", 1),
        ("POS", N_CTX),
        ("PREV", n_names),
        ("DUP", n_names),
        ("DUPF", 1),
        ("INH", n_names),
    ]:
        sp.add(name, n)
    writer = ModelWriter(
        sp,
        n_layers=n_layers,
        n_heads=n_heads,
        n_ctx=N_CTX,
        vocab_size=len(vocab),
        d_mlp=D_MLP,
        anchor=ANCHOR,
        temperature=TEMPERATURE,
    )
    rng = np.random.default_rng(0)
    name_index = {name: i for i, name in enumerate(NAMES)}
    word_dirs = rng.standard_normal((len(vocab), 48))
    word_dirs /= np.linalg.norm(word_dirs, axis=1, keepdims=True)
    word_start, _ = sp.blocks["WORD"]
    for token, tid in vocab.items():
        if token == BOS:
            writer.embed[tid, sp.index("BOSF")] = 1.0
        elif token in name_index:
            i = name_index[token]
            writer.embed[tid] += sp.unit("NAME_IN", i) + sp.unit("NAME_OUT", i)
            writer.embed[tid] += sp.unit("ISNAME")
        else:
            writer.embed[tid, word_start : word_start + 48] = word_dirs[tid]
    pos = sp.block("POS")
    writer.pos += pos[:N_CTX]

    e_in, e_out = sp.block("NAME_IN"), sp.block("NAME_OUT")
    prev, dup, inh = sp.block("PREV"), sp.block("DUP"), sp.block("INH")
    anchor = sp.unit("ANCHOR") / ANCHOR  # reads 1.0 at every position
    bosf, isname, dupf = sp.unit("BOSF"), sp.unit("ISNAME"), sp.unit("DUPF")

    def sink(h, score=SINK):
        h.add_qk(anchor, bosf, score)

    for layer, head in placement["previous_token"]:
        h = writer.head(layer, head)
        h.add_qk(pos[1:], pos[:-1], PT_SCORE)  # query at p matches key at p-1
        h.add_ov(e_in, prev, 1.0 / len(placement["previous_token"]))
    n_dup_writers = len(placement["duplicate_token"]) + len(placement["induction"])
    for layer, head in placement["duplicate_token"]:
        h = writer.head(layer, head)
        h.add_qk(e_in, e_in, DT_SCORE)
        h.add_qk(pos, pos, -DT_SELF)  # not itself
        sink(h)
        h.add_ov(e_in, dup, 1.0 / n_dup_writers)
        h.add_ov(isname, dupf, 2.0 / n_dup_writers)
    for layer, head in placement["induction"]:
        h = writer.head(layer, head)
        h.add_qk(e_in, prev, IND_SCORE)  # current name matches "this name came before me"
        sink(h)
        h.add_ov(prev, dup, 1.0 / n_dup_writers)
        h.add_ov(prev.sum(0), dupf, 2.0 / n_dup_writers)
    for layer, head in placement["s_inhibition"]:
        h = writer.head(layer, head)
        h.add_qk(anchor, dupf, SI_SCORE)
        sink(h)
        h.add_ov(dup, inh, 1.0 / len(placement["s_inhibition"]))

    def name_mover_qk(h):
        h.add_qk(anchor, isname, NM_SCORE)
        h.add_qk(inh, e_in, -NM_INHIBIT)  # away from the inhibited (subject) name
        sink(h, NM_SINK)

    for layer, head in placement["name_mover"]:
        h = writer.head(layer, head)
        name_mover_qk(h)
        h.add_ov(e_in, e_out, NM_COPY)
    for layer, head in placement["negative_name_mover"]:
        h = writer.head(layer, head)
        name_mover_qk(h)
        h.add_ov(e_in, e_out, -NEG_COPY)
    for layer, head in placement["backup_name_mover"]:
        h = writer.head(layer, head)
        name_mover_qk(h)
        # away from the name the residual stream already predicts (query: output identity
        # written by the name movers; key: input identity, which no head writes) ...
        h.add_qk(e_out, e_in, -BACKUP_INHIBIT)
        # ... and, more firmly than a name mover, away from S: idle (on BOS) in a clean run
        h.add_qk(inh, e_in, -BACKUP_EXTRA_INHIBIT)
        h.add_ov(e_in, e_out, BACKUP_COPY)

    used = {lh for heads in placement.values() for lh in heads}
    for layer in range(n_layers):
        for head in range(n_heads):
            if (layer, head) not in used:  # a diffuse, inert head
                h = writer.head(layer, head)
                h.add_qk(
                    rng.standard_normal((8, sp.size)) * 0.15,
                    rng.standard_normal((8, sp.size)) * 0.15,
                    1.0,
                )

    planted = {
        "placement": {role: [list(lh) for lh in placement[role]] for role in ROLES},
        "n_layers": n_layers,
        "n_heads": n_heads,
        "description": "IOI circuit (Wang et al. 2022) planted at the given (layer, head)s",
        "names": list(NAMES),
    }
    return writer.to_hf(), planted
