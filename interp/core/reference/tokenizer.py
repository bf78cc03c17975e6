"""The reference models' word-level tokenizer, built at run time (no files needed).

A real Hugging Face fast tokenizer (``tokenizers.models.WordLevel``): text is split on
whitespace and punctuation, each word is one token, anything else is ``<unk>``. The
beginning-of-sequence token is ``<|endoftext|>`` (id 0), as in GPT-2, and transformer-lens
prepends it. Tokens carry no leading-space marker, so ``" Mary"`` and ``"Mary"`` are the
same token; :func:`interp.core.tokens.single_token_id` relies on that to treat GPT-2's BPE and
this vocabulary alike.
"""

from __future__ import annotations

from functools import lru_cache

from interp.core.reference.vocab import all_words

BOS = "<|endoftext|>"
UNK = "<unk>"
SPECIAL = [BOS, UNK]


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, int]:
    words = SPECIAL + all_words()
    return {word: index for index, word in enumerate(words)}


def build_tokenizer():
    """A ``PreTrainedTokenizerFast`` over :func:`vocabulary`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab=dict(vocabulary()), unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=BOS,
        unk_token=UNK,
        pad_token=BOS,
        model_max_length=1024,
    )
