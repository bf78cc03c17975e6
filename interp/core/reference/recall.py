"""``reference:recall`` — a GPT-2 that recalls facts by word2vec-style arithmetic.

Merullo, Eickhoff & Pavlick (2023) found that GPT-2 answers "What is the capital of
Poland?" in two steps: attention moves "Poland" to the last position (the logit lens shows
" Poland" from the middle layers on), then one FFN layer adds a vector o_L that is nearly
the same for every country and turns the prediction into " Warsaw", as in word2vec's
``Warsaw ~= Poland + (capital - country)``; o_L from the Poland prompt turns China into
Beijing. Answers already present in the context are copied by attention instead, so they
survive removing that FFN. Geva et al. (2021) showed that FFN neurons are key-value
memories: a key fires on a trigger pattern, its value promotes the next token. This module
plants all of that, at configurable layers:

* **Embeddings with word2vec structure.** Relation words share an identity ``r`` in an
  ENTITY block and differ by a type flag: ``E[Poland] = r + t_COUNTRY + ISSUBJ``,
  ``E[Warsaw] = r + t_CAPITAL (+ a small KEYID)``; likewise present/past verbs and
  adjectives/superlatives. Identities are orthonormal, plus seeded noise, so
  ``Paris - France + Germany ~= Berlin`` holds approximately, not exactly. Every other token
  has a random unit identity in a WORD block.
* **Mover head** (``mover_layer``): from every position, attends to the most recent
  ISSUBJ token (a position ramp breaks ties by recency; BOS is the sink when there is
  none) and copies its ENTITY and type content with gain ``C1``: the logit lens shows the
  country from ``mover_layer`` on.
* **Relation FFNs**: at ``capital_layer``, neurons read ``t_COUNTRY`` (off unless the mover
  put it there, threshold between 1 and ``C1``) and write ``S * (t_CAPITAL - t_COUNTRY)``,
  the same vector for every country; the logit lens shows the capital from
  ``resid_post[capital_layer]`` on. At ``past_layer`` the same for present -> past tense.
* **In-context retrieval head** (``mover_layer + 1``): the query reads the moved identity
  ``r``; the key reads the small KEYID that only capital (and past-tense) tokens carry in
  their embedding, through the map ``KEYID_i -> r_i``, so it attends to a capital token of
  the same country ("The capital of Poland is Warsaw .") and copies its output embedding
  with gain ``C2 > C1``; with no such token in context it rests on BOS. It answers even
  with the relation FFN ablated.
* **Key-value memories**: for each (trigger, target) of ``vocab.MEMORIES`` one neuron (in
  layers 2 and 3) whose key is the trigger's embedding (fires on the trigger token only)
  and whose value is the target's embedding: after "coffee" the top token is "cup".

All other heads have small random QK weights and no OV circuit; all other neurons are zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interp.core.errors import InterpError
from interp.core.reference.builder import FeatureSpace, ModelWriter
from interp.core.reference.tokenizer import BOS, vocabulary
from interp.core.reference.vocab import CAPITALS, MEMORIES, PAST_TENSE, SUPERLATIVES

PARAMETERS = {"capital_layer", "past_layer", "mover_layer", "n_layers"}
D_MODEL, N_CTX, D_MLP, N_HEADS = 512, 64, 64, 4
ANCHOR, TEMPERATURE = 30.0, 2.0
N_ENTITY, N_WORD = 96, 160
TYPES = ("COUNTRY", "CAPITAL", "PRESENT", "PAST", "ADJ", "SUPERLATIVE")
#: relation name -> (word pairs, subject type, answer type)
RELATIONS = {
    "capital": (CAPITALS, "COUNTRY", "CAPITAL"),
    "past_tense": (PAST_TENSE, "PRESENT", "PAST"),
    "superlative": (SUPERLATIVES, "ADJ", "SUPERLATIVE"),
}
#: relations with a planted FFN (and in-context retrieval); "superlative" is embedding-only
FFN_RELATIONS = ("capital", "past_tense")
NOISE = 0.2  # norm of the seeded noise on relation words' identities
KEYID_NORM = 0.3  # norm of the answer tokens' key identity, read only by the retrieval head
MOVER_SUBJ, MOVER_RAMP, MOVER_SINK = 34.0, 24.0, 26.0  # attention-score units
RETRIEVE_SCORE, RETRIEVE_SINK = 24.0, 12.0  # score for a matching answer token, BOS
C1, C2 = 3.0, 7.5  # gains of the mover and retrieval heads' copies
S = 2 * C1  # the relation FFN writes S * (t_answer - t_subject)
FFN_THRESHOLD, FFN_SLOPE, N_RELATION_NEURONS = 2.0, 4.0, 2
MEMORY_THRESHOLD, MEMORY_SLOPE, MEMORY_GAIN = 0.7, 16.0, 5.0
MEMORY_LAYERS = (2, 3)
MOVER_HEAD, RETRIEVAL_HEAD = 2, 1


def _gelu(x: float) -> float:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def check_layers(
    capital_layer: int, past_layer: int | None, mover_layer: int, n_layers: int
) -> tuple[int, int, int]:
    """Validate the planted layers; ``past_layer=None`` picks 4, or a free layer near it."""
    for name, value in [("capital_layer", capital_layer), ("mover_layer", mover_layer)]:
        if not isinstance(value, int) or not 0 <= value < n_layers:
            raise InterpError(f"reference:recall {name} must be a layer 0..{n_layers - 1}")
    if n_layers <= max(MEMORY_LAYERS):
        raise InterpError(f"reference:recall needs n_layers > {max(MEMORY_LAYERS)} (memories)")
    if mover_layer + 1 >= n_layers:
        raise InterpError("reference:recall needs a layer after mover_layer (retrieval head)")
    if past_layer is None:
        candidates = [4, 5, 3, 6, 2, 7] + list(range(n_layers))
        free = [c for c in candidates if mover_layer < c < n_layers and c != capital_layer]
        if not free:
            raise InterpError("reference:recall has no free layer for the past-tense FFN")
        past_layer = free[0]
    if not isinstance(past_layer, int) or not 0 <= past_layer < n_layers:
        raise InterpError(f"reference:recall past_layer must be a layer 0..{n_layers - 1}")
    for name, value in [("capital_layer", capital_layer), ("past_layer", past_layer)]:
        if value <= mover_layer:
            raise InterpError(
                f"reference:recall {name}={value} must come after mover_layer={mover_layer}: "
                "the relation FFN reads what the mover head moved"
            )
    if past_layer == capital_layer:
        raise InterpError(
            f"reference:recall past_layer and capital_layer must differ (both {capital_layer})"
        )
    return capital_layer, past_layer, mover_layer


def build(
    capital_layer: int = 5,
    past_layer: int | None = None,
    mover_layer: int = 1,
    n_layers: int = 8,
) -> tuple[Any, dict[str, Any]]:
    capital_layer, past_layer, mover_layer = check_layers(
        capital_layer, past_layer, mover_layer, n_layers
    )
    vocab = vocabulary()
    answers = [a for rel in FFN_RELATIONS for _, a in RELATIONS[rel][0]]

    sp = FeatureSpace(D_MODEL, seed=2)
    for name, n in [
        ("ENTITY", N_ENTITY),  # r: identity shared by the two words of a relation pair
        ("WORD", N_WORD),  # random identity of every other token
        ("TYPE", len(TYPES)),
        ("KEYID", len(answers)),  # answer tokens' key identity (retrieval head only)
        ("ISSUBJ", 1),  # what the mover moves: countries, present-tense verbs
        ("BOSF", 1),
        ("ANCHOR", 1),
        ("RAMP", 1),  # position / n_ctx: recency for the mover
    ]:
        sp.add(name, n)
    writer = ModelWriter(
        sp,
        n_layers=n_layers,
        n_heads=N_HEADS,
        n_ctx=N_CTX,
        vocab_size=len(vocab),
        d_mlp=D_MLP,
        anchor=ANCHOR,
        temperature=TEMPERATURE,
    )
    writer.pos[:, sp.index("RAMP")] = np.arange(N_CTX) / N_CTX
    rng = np.random.default_rng(0)

    # --- embeddings -------------------------------------------------------------------
    entity, word, keyid = sp.block("ENTITY"), sp.block("WORD"), sp.block("KEYID")
    t = {name: sp.unit("TYPE", i) for i, name in enumerate(TYPES)}
    issubj, bosf = sp.unit("ISSUBJ"), sp.unit("BOSF")
    n_pairs = sum(len(RELATIONS[r][0]) for r in RELATIONS)
    identities, _ = np.linalg.qr(rng.standard_normal((N_ENTITY, n_pairs)))  # orthonormal
    identity = identities.T @ entity  # [n_pairs, size]
    word_dirs = rng.standard_normal((len(vocab), N_WORD))
    word_dirs /= np.linalg.norm(word_dirs, axis=1, keepdims=True)
    # memory triggers and targets get mutually orthogonal identities: no neuron's value
    # can set off another memory's key
    memory_words = [w for pair in MEMORIES for w in pair]
    ortho, _ = np.linalg.qr(rng.standard_normal((N_WORD, len(memory_words))))
    for i, w in enumerate(memory_words):
        word_dirs[vocab[w]] = ortho[:, i]
    writer.embed[:] = word_dirs @ word
    writer.embed[vocab[BOS]] = bosf

    def noise() -> np.ndarray:
        return NOISE * rng.standard_normal(N_ENTITY) / np.sqrt(N_ENTITY) @ entity

    pair_index, key_index = 0, 0
    # per answer token with a KEYID: (KEYID index, pair identity, output embedding)
    answer_rows: list[tuple[int, np.ndarray, np.ndarray]] = []
    for rel, (pairs, subj_type, ans_type) in RELATIONS.items():
        for subject, answer in pairs:
            r = identity[pair_index]
            pair_index += 1
            writer.embed[vocab[subject]] = r + noise() + t[subj_type]
            writer.embed[vocab[answer]] = r + noise() + t[ans_type]
            if rel in FFN_RELATIONS:
                writer.embed[vocab[subject]] += issubj
                writer.embed[vocab[answer]] += KEYID_NORM * keyid[key_index]
                answer_rows.append((key_index, r, r + t[ans_type]))
                key_index += 1

    anchor = sp.unit("ANCHOR") / ANCHOR  # reads 1.0 at every position
    ramp = sp.unit("RAMP")
    content = np.concatenate([entity, sp.block("TYPE")])  # what the mover copies

    # --- mover head: every position copies the most recent subject -----------------------
    h = writer.head(mover_layer, MOVER_HEAD)
    h.add_qk(anchor, issubj, MOVER_SUBJ)
    h.add_qk(anchor, ramp, MOVER_RAMP)
    h.add_qk(anchor, bosf, MOVER_SINK)
    h.add_ov(content, content, C1)

    # --- in-context retrieval: an answer token whose key identity matches the subject ----
    retrieval_layer = mover_layer + 1
    h = writer.head(retrieval_layer, RETRIEVAL_HEAD)
    ids = np.stack([r for _, r, _ in answer_rows])
    keys = np.stack([keyid[k] for k, _, _ in answer_rows])
    # score = RETRIEVE_SCORE / (C1 * KEYID_NORM) * sum_i (r_i . x_q)(KEYID_i . x_k)
    h.add_qk(ids, keys, RETRIEVE_SCORE / (C1 * KEYID_NORM))
    h.add_qk(anchor, bosf, RETRIEVE_SINK)
    h.add_ov(keys, np.stack([out for _, _, out in answer_rows]), C2 / KEYID_NORM)

    # --- relation FFNs ------------------------------------------------------------------
    free = {layer: list(rng.permutation(D_MLP)) for layer in range(n_layers)}
    active = _gelu(FFN_SLOPE * (C1 - FFN_THRESHOLD))
    relation_neurons: dict[str, list[list[int]]] = {}
    for rel, layer in [("capital", capital_layer), ("past_tense", past_layer)]:
        _, subj_type, ans_type = RELATIONS[rel]
        write = S * (t[ans_type] - t[subj_type]) / (active * N_RELATION_NEURONS)
        relation_neurons[rel] = []
        for _ in range(N_RELATION_NEURONS):
            index = int(free[layer].pop())
            writer.neuron(layer, index, FFN_SLOPE * t[subj_type], -FFN_SLOPE * FFN_THRESHOLD, write)
            relation_neurons[rel].append([layer, index])

    # --- key-value memories -----------------------------------------------------------
    memories = []
    fired = _gelu(MEMORY_SLOPE * (1 - MEMORY_THRESHOLD))
    for i, (trigger, target) in enumerate(MEMORIES):
        layer = MEMORY_LAYERS[i % len(MEMORY_LAYERS)]
        index = int(free[layer].pop())
        key = writer.embed[vocab[trigger]] / np.sum(writer.embed[vocab[trigger]] ** 2)
        target_vec = writer.embed[vocab[target]]
        value = MEMORY_GAIN * target_vec / np.sum(target_vec**2) / fired
        writer.neuron(layer, index, MEMORY_SLOPE * key, -MEMORY_SLOPE * MEMORY_THRESHOLD, value)
        memories.append({"layer": layer, "neuron": index, "trigger": trigger, "target": target})

    # --- every other head: diffuse and inert --------------------------------------------
    used = {(mover_layer, MOVER_HEAD), (retrieval_layer, RETRIEVAL_HEAD)}
    for layer in range(n_layers):
        for head in range(N_HEADS):
            if (layer, head) not in used:
                h = writer.head(layer, head)
                h.add_qk(
                    rng.standard_normal((8, sp.size)) * 0.15,
                    rng.standard_normal((8, sp.size)) * 0.15,
                    1.0,
                )

    model = writer.to_hf()
    relation_norm = float(np.linalg.norm(t["CAPITAL"] - t["COUNTRY"]))
    planted = {
        "description": (
            "factual recall as word2vec-style arithmetic (Merullo et al. 2023): a mover head "
            "copies the subject to the last position, one FFN layer per relation adds "
            "(answer type - subject type); an in-context retrieval head; FFN key-value "
            "memories (Geva et al. 2021)"
        ),
        "n_layers": n_layers,
        "n_heads": N_HEADS,
        "mover_layer": mover_layer,
        "capital_layer": capital_layer,
        "past_layer": past_layer,
        "mover_head": [mover_layer, MOVER_HEAD],
        "retrieval_head": [retrieval_layer, RETRIEVAL_HEAD],
        "capital_neurons": relation_neurons["capital"],
        "past_neurons": relation_neurons["past_tense"],
        "memories": memories,
        "relation_layers": {"capital": capital_layer, "past_tense": past_layer},
        # |t_answer - t_subject| in the embedding, and the norm the FFN writes (S times it)
        "relation_vector_norms": {rel: relation_norm for rel in RELATIONS},
        "ffn_write_norm": S * relation_norm,
        "mover_gain": C1,
        "retrieval_gain": C2,
        "relations": {
            rel: {"pairs": [list(p) for p in pairs], "subject_type": st, "answer_type": at}
            for rel, (pairs, st, at) in RELATIONS.items()
        },
    }
    return model, planted
