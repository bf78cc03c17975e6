"""Sense-labelled contexts for polysemy and homonymy: one word, two meanings, several short
sentences per meaning.

A **homonym** has unrelated meanings that happen to share a spelling (a river *bank* and a
savings *bank*; a *bat* that flies and one that hits a ball); a **polyseme** has related
meanings of one word (a *magazine* you read and the *magazine* that employs its editors;
*glass* the material and a *glass* you drink from). WordNet lists both as separate senses
(synsets) of one lemma. Every context here is a short sentence in the style of a WordNet
gloss and its usage example, written for this set (not copied from WordNet), so that a model
trained on the glosses sees familiar English without having memorised these sentences.

Each target word is one token after a space for GPT-2's BPE (``" bank"``), so its token
vector is the same in every context; the analyses take the residual stream at the word's
*last* token when a tokenizer splits it (documented in :mod:`interp.methods.polysemy`). The
word appears once in each context, never first (so it always follows a space).

>>> bank = SENSE_SETS[0]
>>> bank.word, bank.kind, list(bank.senses)
('bank', 'homonym', ['river', 'finance'])
>>> len(bank.contexts("river"))
4
"""

from __future__ import annotations

import dataclasses

from interp.core.errors import InterpError

HOMONYM = "homonym"
POLYSEME = "polyseme"


@dataclasses.dataclass(frozen=True)
class SenseSet:
    """A word and its senses: ``senses[label] = (gloss, contexts)``."""

    word: str
    kind: str  # HOMONYM or POLYSEME
    senses: dict[str, tuple[str, tuple[str, ...]]]

    def __post_init__(self) -> None:
        if self.kind not in (HOMONYM, POLYSEME):
            raise InterpError(f"kind must be {HOMONYM!r} or {POLYSEME!r}; got {self.kind!r}")
        if len(self.senses) < 2:
            raise InterpError(f"{self.word!r} needs at least two senses to compare")
        for label, (_, contexts) in self.senses.items():
            if len(contexts) < 2:
                raise InterpError(f"sense {label!r} of {self.word!r} needs two or more contexts")

    def contexts(self, sense: str) -> tuple[str, ...]:
        return self.senses[sense][1]

    def gloss(self, sense: str) -> str:
        return self.senses[sense][0]

    def labelled(self) -> list[tuple[str, str]]:
        """Every (sense, context), sense by sense."""
        return [(label, c) for label, (_, cs) in self.senses.items() for c in cs]


def _set(word: str, kind: str, **senses: tuple[str, list[str]]) -> SenseSet:
    return SenseSet(word, kind, {k: (g, tuple(cs)) for k, (g, cs) in senses.items()})


#: the shipped sense sets: 8 homonyms and 6 polysemes, 2 senses x 4 contexts each
SENSE_SETS: tuple[SenseSet, ...] = (
    _set(
        "bank",
        HOMONYM,
        river=(
            "sloping land beside a body of water",
            [
                "they pulled the canoe up on the bank of the river",
                "the river overflowed its bank after the heavy rain",
                "we sat on the grassy bank and watched the boats go by",
                "turtles rest in the sun on the muddy bank of the stream",
            ],
        ),
        finance=(
            "a financial institution that accepts deposits and lends money",
            [
                "he cashed a check at the bank on his way to work",
                "she borrowed money from the bank to buy a house",
                "the bank raised its interest rates on loans",
                "he opened a savings account at the local bank",
            ],
        ),
    ),
    _set(
        "bat",
        HOMONYM,
        animal=(
            "a nocturnal flying mammal",
            [
                "a bat flew out of the cave at dusk",
                "the bat uses echoes to find insects in the dark",
                "a small brown bat hung upside down from the roof of the barn",
                "the fruit bat feeds on ripe figs and nectar",
            ],
        ),
        club=(
            "a club used for hitting the ball in cricket or baseball",
            [
                "he swung the bat hard and hit the ball over the fence",
                "the player gripped the wooden bat and waited",
                "she hit the ball with the bat and ran to first base",
                "a heavy bat made of ash wood",
            ],
        ),
    ),
    _set(
        "bark",
        HOMONYM,
        tree=(
            "the tough protective covering of the trunk of a tree",
            [
                "the bark of the old oak was rough and cracked",
                "beetles live under the bark of dead trees",
                "the bark of the birch peels off in thin white strips",
                "a medicine made from the bark of the willow",
            ],
        ),
        dog=(
            "the sound made by a dog",
            [
                "the bark of the dog woke the baby",
                "we heard a loud bark from the yard next door",
                "the puppy gave a sharp bark when the door opened",
                "a deep bark warned the farmer of strangers",
            ],
        ),
    ),
    _set(
        "pen",
        HOMONYM,
        writing=(
            "an implement for writing or drawing with ink",
            [
                "she signed the form with a black pen",
                "he wrote his name with a blue pen",
                "the ink in my pen ran out",
                "a fountain pen with a gold nib",
            ],
        ),
        enclosure=(
            "a fenced enclosure for animals",
            [
                "the farmer drove the sheep into the pen",
                "the pigs were kept in a muddy pen behind the barn",
                "a small pen for the calves",
                "the goats escaped from their pen",
            ],
        ),
    ),
    _set(
        "bill",
        HOMONYM,
        beak=(
            "the horny projecting jaws of a bird",
            [
                "the duck dipped its bill into the water",
                "the pelican has a long bill with a pouch",
                "a bird with a curved yellow bill",
                "the heron caught a fish in its bill",
            ],
        ),
        invoice=(
            "a statement of money owed for goods or services",
            [
                "the waiter brought the bill after dinner",
                "he paid the electricity bill at the end of the month",
                "the bill for the repairs was very high",
                "she forgot to pay the phone bill",
            ],
        ),
    ),
    _set(
        "scale",
        HOMONYM,
        fish=(
            "a thin horny plate protecting the skin of fishes and reptiles",
            [
                "each scale on the fish shone like silver",
                "a loose scale fell from the skin of the snake",
                "the lizard lost a scale from its tail",
                "the carp had a large golden scale near its fin",
            ],
        ),
        weighing=(
            "a measuring instrument for weighing",
            [
                "she weighed the flour on a kitchen scale",
                "the scale in the bathroom showed his weight",
                "the grocer put the apples on the scale",
                "a scale for weighing letters and parcels",
            ],
        ),
    ),
    _set(
        "mole",
        HOMONYM,
        animal=(
            "a small burrowing mammal with tiny eyes and strong forefeet",
            [
                "the mole dug tunnels under the lawn",
                "a mole pushed up a small heap of soil in the garden",
                "the blind mole eats worms and grubs",
                "the gardener set a trap for the mole",
            ],
        ),
        skin=(
            "a small dark spot on the human skin",
            [
                "the doctor examined a mole on her arm",
                "he had a large mole on his cheek",
                "a new mole that changes shape should be checked",
                "the mole on his neck was harmless",
            ],
        ),
    ),
    _set(
        "sole",
        HOMONYM,
        fish=(
            "a flatfish valued as food",
            [
                "we had grilled sole with lemon for lunch",
                "the fishermen caught a large sole in their net",
                "a sole lies flat on the sandy bottom of the sea",
                "the chef cooked the sole in butter",
            ],
        ),
        foot=(
            "the underside of the foot or of a shoe",
            [
                "the sole of his boot was worn through",
                "a thorn pierced the sole of her foot",
                "she bought shoes with a thick rubber sole",
                "the sole of the shoe came loose",
            ],
        ),
    ),
    _set(
        "magazine",
        POLYSEME,
        publication=(
            "a periodic paperback publication with articles and pictures",
            [
                "she read a magazine on the train",
                "the magazine had a photograph of the actor on its cover",
                "he left an old magazine on the table in the waiting room",
                "a glossy magazine about gardening lay on the chair",
            ],
        ),
        publisher=(
            "a business firm that publishes periodicals",
            [
                "the magazine hired a new editor last year",
                "the magazine was sued for libel by the senator",
                "he works as a writer for a magazine in new york",
                "the magazine went bankrupt and dismissed its staff",
            ],
        ),
    ),
    _set(
        "paper",
        POLYSEME,
        material=(
            "a material made of cellulose pulp, used for writing and wrapping",
            [
                "she wrapped the gift in brown paper",
                "he wrote the address on a sheet of white paper",
                "the box was made of thick paper",
                "the children folded the paper into a boat",
            ],
        ),
        essay=(
            "a scholarly article describing the results of research",
            [
                "the professor published a paper on genetics",
                "she presented her paper at the conference",
                "the paper describes a new method for measuring heat",
                "he wrote a paper about the history of rome",
            ],
        ),
    ),
    _set(
        "head",
        POLYSEME,
        body=(
            "the upper part of the body that contains the brain",
            [
                "she turned her head to look at the door",
                "he hit his head on the low beam",
                "the hat was too small for his head",
                "the dog rested its head on my knee",
            ],
        ),
        leader=(
            "a person who is in charge of an organization",
            [
                "the head of the department signed the form",
                "she was appointed head of the school",
                "the head of state gave a long speech",
                "he became the head of the family business",
            ],
        ),
    ),
    _set(
        "mouth",
        POLYSEME,
        body=(
            "the opening through which food is taken in",
            [
                "he put a spoon of soup in his mouth",
                "she opened her mouth to speak",
                "the baby put the toy in its mouth",
                "keep your mouth closed when you chew",
            ],
        ),
        river=(
            "the point where a stream flows into a larger body of water",
            [
                "the town lies at the mouth of the river",
                "ships anchored at the mouth of the bay",
                "the river widens near its mouth",
                "a sandbar formed at the mouth of the creek",
            ],
        ),
    ),
    _set(
        "letter",
        POLYSEME,
        character=(
            "a written symbol that represents a speech sound",
            [
                "the word begins with a capital letter",
                "the letter a is the first in the alphabet",
                "each letter of the alphabet has its own sound",
                "she wrote the first letter of her name",
            ],
        ),
        message=(
            "a written message addressed to a person",
            [
                "he mailed a letter to his mother",
                "she received a long letter from her friend",
                "the letter arrived in a white envelope",
                "he wrote a letter of complaint to the company",
            ],
        ),
    ),
    _set(
        "glass",
        POLYSEME,
        material=(
            "a brittle transparent solid made by melting sand",
            [
                "the window was made of thick glass",
                "broken glass covered the floor",
                "the bottle is made of green glass",
                "a vase of blown glass stood on the shelf",
            ],
        ),
        vessel=(
            "a container for holding liquids while drinking",
            [
                "she poured cold water into a glass",
                "he drank a glass of milk",
                "the waiter filled my glass with wine",
                "put the empty glass on the table",
            ],
        ),
    ),
)


def sense_set(word: str) -> SenseSet:
    """The shipped sense set of ``word``."""
    for s in SENSE_SETS:
        if s.word == word:
            return s
    raise InterpError(
        f"no shipped sense set for {word!r}; shipped: {', '.join(s.word for s in SENSE_SETS)}"
    )
