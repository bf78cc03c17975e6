"""The :class:`Task` bundle: everything an analysis needs to ask a model one question.

Following ACDC's per-task bundle (model, clean and patch data, metric), a task holds

* ``clean_tokens`` and ``corrupted_tokens`` (same shape; the corrupted prompt differs in the
  detail under study, e.g. three unrelated names instead of a repeated subject);
* ``answer_ids`` (the correct next token of each clean prompt) and ``wrong_ids`` (the
  contrast token: the logit difference ``answer - wrong`` is the task's metric);
* named ``positions`` per prompt (``END`` — the position whose next-token prediction is
  scored — always; IOI adds ``IO``, ``S1``, ``S1+1``, ``S2``);
* ``groups``: a template id per prompt, so means can be taken per template (Wang et al.
  2022 mean-ablate "per template").

Prompts of different templates have different lengths; they are right-padded to one length.
With causal attention, padding after ``END`` never changes anything at or before ``END``, so
every metric reads ``END`` and never a padded position. Experiments, tests and the dashboard
all take the same frozen :class:`Task`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import InterpError, PromptError
from interp.core.metrics import LogitDiff
from interp.core.tokens import single_token_id, to_tokens


@dataclasses.dataclass(frozen=True)
class Task:
    """One dataset of prompts with its corrupted twin, answers, named positions and metric."""

    name: str
    prompts: tuple[str, ...]
    corrupted_prompts: tuple[str, ...]
    clean_tokens: Int[Tensor, "batch pos"]
    corrupted_tokens: Int[Tensor, "batch pos"]
    answer_ids: Int[Tensor, " batch"]
    wrong_ids: Int[Tensor, " batch"]
    positions: Mapping[str, Int[Tensor, " batch"]]
    groups: Int[Tensor, " batch"]
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.clean_tokens.shape[0]
        if n == 0:
            raise InterpError(f"task {self.name!r} has no prompts")
        if self.corrupted_tokens.shape != self.clean_tokens.shape:
            raise InterpError(
                f"task {self.name!r}: clean and corrupted tokens differ in shape "
                f"{tuple(self.clean_tokens.shape)} vs {tuple(self.corrupted_tokens.shape)}"
            )
        if "END" not in self.positions:
            raise InterpError(f"task {self.name!r} must name the END position")
        for key, value in [
            ("answer_ids", self.answer_ids),
            ("wrong_ids", self.wrong_ids),
            ("groups", self.groups),
            *self.positions.items(),
        ]:
            if value.shape != (n,):
                raise InterpError(f"task {self.name!r}: {key} must have shape ({n},)")

    @classmethod
    def from_prompts(
        cls,
        model: Any,
        clean: Sequence[str],
        corrupted: Sequence[str],
        answers: Sequence[str],
        wrong: Sequence[str],
        *,
        name: str = "custom",
        positions: Mapping[str, Sequence[int]] | None = None,
        groups: Sequence[int] | None = None,
    ) -> Task:
        """A task from a researcher's own prompts.

        ``clean[i]`` and ``corrupted[i]`` must tokenise to the same number of tokens (the
        patched activations are aligned position by position); prompts of different lengths
        are right-padded. ``answers[i]`` is the correct next token of ``clean[i]`` and
        ``wrong[i]`` its contrast (the logit difference ``answer - wrong`` is the default
        metric), each a single token as it appears after a space (GPT-2's ``" Mary"``;
        a leading space is added when missing). ``END`` is each prompt's last token; more
        named positions can be given per prompt (``positions={"S2": [9, 9]}``). ``groups``
        (default: prompts of one token length form a group) are the templates that mean
        ablation averages within.

        >>> import interp
        >>> model = interp.load("reference:ioi")
        >>> task = interp.Task.from_prompts(
        ...     model,
        ...     clean=["When Mary and John went to the store, John gave a drink to"],
        ...     corrupted=["When Alice and Bob went to the store, Tom gave a drink to"],
        ...     answers=["Mary"], wrong=["John"])
        >>> task.n_prompts, task.end.tolist()
        (1, [14])
        """
        clean, corrupted = list(clean), list(corrupted)
        answers, wrong = list(answers), list(wrong)
        n = len(clean)
        if n == 0:
            raise PromptError("give at least one clean prompt")
        for label, items in (("corrupted", corrupted), ("answers", answers), ("wrong", wrong)):
            if len(items) != n:
                raise PromptError(f"{label} has {len(items)} entries for {n} clean prompts")
        clean_tokens, ends = tokenize_padded(model, clean)
        corrupted_tokens, corrupted_ends = tokenize_padded(model, corrupted)
        if not torch.equal(ends, corrupted_ends):
            bad = int((ends != corrupted_ends).nonzero()[0, 0])
            raise PromptError(
                f"corrupted prompt {bad} has {int(corrupted_ends[bad]) + 1} tokens, its clean "
                f"prompt {int(ends[bad]) + 1}: patching needs equal lengths "
                f"({corrupted[bad]!r} vs {clean[bad]!r})"
            )
        device = clean_tokens.device

        def ids(words: list[str]) -> Tensor:
            return torch.tensor([single_token_id(model, w) for w in words], device=device)

        named = {"END": ends}
        for key, values in (positions or {}).items():
            pos = torch.as_tensor(list(values), device=device)
            if pos.shape != (n,) or bool((pos < 0).any()) or bool((pos > ends).any()):
                raise PromptError(f"position {key!r} needs one index per prompt within it")
            named[key] = pos
        if groups is None:
            _, inverse = torch.unique(ends, return_inverse=True)
            group_ids = inverse.to(device)
        else:
            group_ids = torch.as_tensor(list(groups), device=device)
        return cls(
            name=name,
            prompts=tuple(clean),
            corrupted_prompts=tuple(corrupted),
            clean_tokens=clean_tokens,
            corrupted_tokens=corrupted_tokens,
            answer_ids=ids(answers),
            wrong_ids=ids(wrong),
            positions=named,
            groups=group_ids,
            info={"answers": answers, "wrong": wrong},
        )

    # -- shape ------------------------------------------------------------------------------
    @property
    def n_prompts(self) -> int:
        return int(self.clean_tokens.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.clean_tokens.shape[1])

    @property
    def end(self) -> Int[Tensor, " batch"]:
        return self.positions["END"]

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        """Number of real (unpadded) tokens per prompt: END + 1."""
        return self.end + 1

    @property
    def device(self) -> torch.device:
        return self.clean_tokens.device

    def position_names(self) -> list[str]:
        return list(self.positions)

    def to(self, device: str | torch.device) -> Task:
        return dataclasses.replace(
            self,
            clean_tokens=self.clean_tokens.to(device),
            corrupted_tokens=self.corrupted_tokens.to(device),
            answer_ids=self.answer_ids.to(device),
            wrong_ids=self.wrong_ids.to(device),
            positions={k: v.to(device) for k, v in self.positions.items()},
            groups=self.groups.to(device),
        )

    def subset(self, index: slice | list[int] | Tensor) -> Task:
        """The prompts at ``index`` (the tokens keep their padded length)."""
        idx = torch.arange(self.n_prompts)[index]
        return dataclasses.replace(
            self,
            prompts=tuple(self.prompts[i] for i in idx.tolist()),
            corrupted_prompts=tuple(self.corrupted_prompts[i] for i in idx.tolist()),
            clean_tokens=self.clean_tokens[idx.to(self.device)],
            corrupted_tokens=self.corrupted_tokens[idx.to(self.device)],
            answer_ids=self.answer_ids[idx.to(self.device)],
            wrong_ids=self.wrong_ids[idx.to(self.device)],
            positions={k: v[idx.to(v.device)] for k, v in self.positions.items()},
            groups=self.groups[idx.to(self.device)],
        )

    # -- metric -----------------------------------------------------------------------------
    def logit_diff(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, " batch"]:
        """``logit[answer] - logit[wrong]`` at END, per prompt. ``logits`` may hold several
        copies of the batch stacked (``k * batch`` rows, as the batched patcher runs them)."""
        return self.readout(logits)

    @property
    def readout(self) -> LogitDiff:
        """:meth:`logit_diff` as a :class:`~interp.core.metrics.LogitDiff`, which names its END
        positions so that patched forwards can compute the last block there only."""
        return LogitDiff(self.end, self.answer_ids, self.wrong_ids)

    def metric(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, ""]:
        """The scalar metric: mean logit difference."""
        return self.logit_diff(logits).mean()

    def mean_by_group(self, x: Float[Tensor, "batch ..."]) -> Float[Tensor, "batch ..."]:
        """Replace each row of ``x`` by the mean of its group (template): per-template means,
        one per prompt so they can be patched in directly."""
        groups = self.groups.to(x.device)
        out = torch.empty_like(x)
        for g in torch.unique(groups):
            rows = groups == g
            out[rows] = x[rows].mean(0, keepdim=True)
        return out

    def describe(self) -> dict[str, Any]:
        """A small JSON summary (for stored runs and printed tables)."""
        return {
            "name": self.name,
            "n_prompts": self.n_prompts,
            "seq_len": self.seq_len,
            "positions": self.position_names(),
            "example": self.prompts[0],
            "corrupted_example": self.corrupted_prompts[0],
            **{k: v for k, v in self.info.items() if isinstance(v, (str, int, float, bool))},
        }


def tokenize_padded(
    model: Any, prompts: Sequence[str]
) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, " batch"]]:
    """Tokenise prompts of different lengths, right-padded; returns (tokens, END index)."""
    rows = [to_tokens(model, p)[0] for p in prompts]
    length = max(r.shape[0] for r in rows)
    tok = model.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out = torch.full((len(rows), length), int(pad or 0), dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    ends = torch.tensor([r.shape[0] - 1 for r in rows])
    return out.to(rows[0].device), ends.to(rows[0].device)
