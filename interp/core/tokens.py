"""Turning text into tokens with the checks a researcher expects.

* An empty prompt, a prompt longer than the context window and (for word-level vocabularies)
  words outside the vocabulary raise :class:`~interp.core.errors.PromptError` subclasses.
* Whether a BOS token comes first is the model's choice, made when it was loaded
  (:func:`interp.core.models.load` ``prepend_bos``, recorded in its
  :class:`~interp.core.models.ModelRecord`); :func:`to_tokens` follows it unless told
  otherwise, so every task and analysis tokenises the same way.
* :func:`single_token_id` finds the token of a word *as it appears after a space* (GPT-2's
  ``" Mary"``), which is what IOI names and capital answers are, and refuses words that
  are not exactly one token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import PromptError, TokenizationError

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


def _unk_id(model: TransformerBridge) -> int | None:
    tok = model.tokenizer
    unk = getattr(tok, "unk_token_id", None)
    # GPT-2's BPE has unk == eos == bos; only a distinct unk token marks unknown words
    if unk is None or unk in (tok.bos_token_id, tok.eos_token_id):
        return None
    return unk


def prepends_bos(model: TransformerBridge) -> bool:
    """Whether ``model``'s prompts start with BOS: its record's ``prepend_bos`` (a model from
    :func:`interp.core.models.load`), else transformer-lens's ``cfg.default_prepend_bos``.

    >>> from interp.core.models import load
    >>> prepends_bos(load("reference:ioi", device="cpu", prepend_bos=False))
    False
    """
    from interp.core.errors import ModelNotFoundError
    from interp.core.models import record_of

    try:
        return record_of(model).prepend_bos
    except ModelNotFoundError:
        return bool(getattr(model.cfg, "default_prepend_bos", True))


def to_tokens(
    model: TransformerBridge, prompts: str | list[str], prepend_bos: bool | None = None
) -> Int[Tensor, "batch pos"]:
    """Tokenise one prompt or a list of prompts (which must have equal lengths), with BOS
    first when ``prepend_bos`` (default: the model's own choice, :func:`prepends_bos`).

    >>> from interp.core.models import load
    >>> model = load("reference:ioi", device="cpu")
    >>> to_tokens(model, "When Mary and John").shape, to_tokens(model, "When", False).shape
    (torch.Size([1, 5]), torch.Size([1, 1]))
    """
    if prepend_bos is None:
        prepend_bos = prepends_bos(model)
    batch = [prompts] if isinstance(prompts, str) else list(prompts)
    if not batch:
        raise PromptError("no prompt given.")
    rows = []
    for prompt in batch:
        if not prompt or not prompt.strip():
            raise PromptError("the prompt is empty; type some text to analyse.")
        ids = model.to_tokens(prompt, prepend_bos=prepend_bos, truncate=False)[0]
        check_length(model, ids.shape[0], prompt, with_bos=prepend_bos)
        unk = _unk_id(model)
        if unk is not None and (ids == unk).any():
            words = [w for w in prompt.replace("?", " ").replace(",", " ").split()]
            unknown = [w for w in words if _is_unknown(model, w, unk)]
            raise TokenizationError(
                f"the prompt contains words this model's vocabulary does not know: "
                f"{', '.join(unknown) or '(punctuation)'}. The reference models have a "
                "word-level vocabulary; use words from it (see `interp models --vocab`)."
            )
        rows.append(ids)
    lengths = {r.shape[0] for r in rows}
    if len(lengths) > 1:
        raise PromptError(
            f"prompts in one batch must have the same number of tokens; got {sorted(lengths)}"
        )
    return torch.stack(rows).to(model.cfg.device)


def _is_unknown(model: TransformerBridge, word: str, unk: int) -> bool:
    ids = model.tokenizer(word, add_special_tokens=False)["input_ids"]
    return unk in ids


def check_length(
    model: TransformerBridge, n_tokens: int, what: str = "the prompt", with_bos: bool = True
) -> None:
    n_ctx = model.cfg.n_ctx
    if n_tokens > n_ctx:
        shown = what if len(what) < 60 else what[:57] + "..."
        bos = "with BOS" if with_bos else "without BOS"
        raise PromptError(
            f"{shown!r} is {n_tokens} tokens long ({bos}); this model's context window is "
            f"{n_ctx} tokens. Shorten the prompt."
        )


def single_token_id(model: TransformerBridge, word: str) -> int:
    """The id of ``word`` as one token when it follows a space; error if it is not one token."""
    if not word or not word.strip():
        raise TokenizationError("an empty string is not a token.")
    tokenizer = model.tokenizer
    text = word if word.startswith(" ") else " " + word
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    unk = _unk_id(model)
    if len(ids) != 1 or (unk is not None and ids[0] == unk):
        pieces = tokenizer.convert_ids_to_tokens(ids)
        reason = "is not in the vocabulary" if unk in ids else f"is {len(ids)} tokens {pieces}"
        raise TokenizationError(
            f"{word.strip()!r} must be a single token for this model but {reason}."
        )
    return int(ids[0])


def is_single_token(model: TransformerBridge, word: str) -> bool:
    try:
        single_token_id(model, word)
    except TokenizationError:
        return False
    return True


def token_str(model: TransformerBridge, token_id: int) -> str:
    """Readable form of one token (GPT-2's ``Ġ`` shown as a space)."""
    return model.tokenizer.decode([int(token_id)])
