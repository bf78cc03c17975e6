"""The IOI task bundle: the paper's templates in both orders, named positions, the ABC and
S2-swapped corruptions, seeding, single user prompts, and clear errors on bad input."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from interp.core.errors import InterpError, PromptError, TokenizationError
from interp.core.tokens import single_token_id
from interp.tasks import make_task, task_names
from interp.tasks.ioi import ABBA_TEMPLATES, BABA_TEMPLATES, infer_names, ioi_from_prompt, ioi_task

PROMPT = "When Mary and John went to the store, John gave a drink to"


def test_templates_both_orders():
    assert len(BABA_TEMPLATES) >= 15 and len(ABBA_TEMPLATES) == len(BABA_TEMPLATES)
    for baba, abba in zip(BABA_TEMPLATES, ABBA_TEMPLATES):
        # BABA: subject first; ABBA: indirect object first; S is repeated in both
        assert baba.index("[S]") < baba.index("[IO]")
        assert abba.index("[IO]") < abba.index("[S]")
        assert baba.count("[S]") == abba.count("[S]") == 2


def test_positions_point_at_the_names(ioi_model):
    task = ioi_task(ioi_model, 40, seed=1)
    assert task.n_prompts == 40 and task.info["orders"].count("ABBA") == 20
    assert len(set(task.groups.tolist())) > 15  # many templates of both orders are used
    tok = task.clean_tokens
    b = torch.arange(task.n_prompts)
    pos = task.positions
    assert torch.equal(tok[b, pos["IO"]], task.answer_ids)
    assert torch.equal(tok[b, pos["S1"]], task.wrong_ids)
    assert torch.equal(tok[b, pos["S2"]], task.wrong_ids)
    assert torch.equal(pos["S1+1"], pos["S1"] + 1)
    assert (pos["S1"] < pos["S2"]).all() and (pos["S2"] < pos["END"]).all()
    abba = torch.tensor([o == "ABBA" for o in task.info["orders"]])
    assert (pos["IO"][abba] < pos["S1"][abba]).all() and (pos["IO"][~abba] > pos["S1"][~abba]).all()
    # END is the last real token: "to" (or "said to"); everything after it is padding
    to = single_token_id(ioi_model, "to")
    assert (tok[b, pos["END"]] == to).all()
    for i in range(task.n_prompts):
        assert task.prompts[i].endswith(" to")
        n_real = len(ioi_model.to_tokens(task.prompts[i])[0])
        assert int(pos["END"][i]) == n_real - 1


def test_abc_corruption(ioi_model):
    task = ioi_task(ioi_model, 30, seed=2)
    assert task.corrupted_tokens.shape == task.clean_tokens.shape
    b = torch.arange(task.n_prompts)
    names = [task.corrupted_tokens[b, task.positions[k]] for k in ("IO", "S1", "S2")]
    io, s1, s2 = names
    assert ((io != s1) & (s1 != s2) & (io != s2)).all()  # three distinct names
    assert ((io != task.answer_ids) & (s2 != task.wrong_ids)).all()
    # everything but the three names is the same prompt
    same = task.corrupted_tokens == task.clean_tokens
    for k in ("IO", "S1", "S2"):
        same[b, task.positions[k]] = True
    assert same.all()
    with torch.no_grad():
        clean = task.metric(ioi_model(task.clean_tokens)).item()
        corrupted = task.metric(ioi_model(task.corrupted_tokens)).item()
    assert clean > 4 and abs(corrupted) < 0.05  # no name is preferred after ABC


def test_s2_swap_flips_the_answer(ioi_model):
    task = ioi_task(ioi_model, 20, seed=0, corruption="s2_swap")
    b = torch.arange(task.n_prompts)
    assert torch.equal(task.corrupted_tokens[b, task.positions["S2"]], task.answer_ids)
    with torch.no_grad():
        swapped = task.logit_diff(ioi_model(task.corrupted_tokens))
    assert (swapped < -4).all()  # IO is now the repeated name: the model says S


def test_seeded_and_reproducible(ioi_model):
    a, b = ioi_task(ioi_model, 12, seed=5), ioi_task(ioi_model, 12, seed=5)
    assert a.prompts == b.prompts and a.corrupted_prompts == b.corrupted_prompts
    assert torch.equal(a.clean_tokens, b.clean_tokens)
    assert ioi_task(ioi_model, 12, seed=6).prompts != a.prompts
    assert make_task("ioi", ioi_model, n_prompts=12, seed=5).prompts == a.prompts
    assert {"ioi", "capitals", "past_tense"} <= set(task_names())


def test_single_prompt_inferred_and_given(ioi_model):
    task = ioi_from_prompt(ioi_model, PROMPT)
    assert task.info["io"] == ["Mary"] and task.info["s"] == ["John"]
    assert {k: int(v) for k, v in task.positions.items()} == {
        "IO": 2, "S1": 4, "S1+1": 5, "S2": 10, "END": 14,
    }  # fmt: skip
    with torch.no_grad():
        assert task.logit_diff(ioi_model(task.clean_tokens)).item() == pytest.approx(5.2, abs=0.05)
    assert infer_names(PROMPT) == ("Mary", "John")  # capitalised words, no name list needed
    given = ioi_from_prompt(ioi_model, PROMPT, io="Mary", s="John", corruption="s2_swap")
    assert given.corrupted_prompts[0] == PROMPT.replace(", John", ", Mary")
    with pytest.raises(PromptError, match="once"):
        ioi_from_prompt(ioi_model, PROMPT, io="John", s="Mary")
    with pytest.raises(PromptError, match="give io= and s="):
        ioi_from_prompt(ioi_model, "When Mary and John went to the store, Alice gave it to")


def test_bad_input(ioi_model):
    with pytest.raises(TokenizationError, match="3 tokens"):
        ioi_task(ioi_model, 4, names=["Mary-John", "Alice", "Bob", "Tom", "Anna"])
    with pytest.raises(TokenizationError, match="not in the vocabulary"):
        ioi_task(ioi_model, 4, names=["Zorro", "Alice", "Bob", "Tom", "Anna"])
    with pytest.raises(InterpError, match="empty list"):
        ioi_task(ioi_model, 4, names=[])
    with pytest.raises(InterpError, match="at least 1"):
        ioi_task(ioi_model, 0)
    with pytest.raises(InterpError, match="unknown corruption"):
        ioi_task(ioi_model, 4, corruption="swap-everything")
    with pytest.raises(InterpError, match="unknown task"):
        make_task("capitals-of-mars", ioi_model, n_prompts=3)
    headless = SimpleNamespace(cfg=SimpleNamespace(n_heads=0))
    with pytest.raises(InterpError, match="no attention heads"):
        ioi_task(headless, 4)
    with pytest.raises(InterpError, match="no attention heads"):
        ioi_from_prompt(headless, PROMPT)
    with pytest.raises(PromptError, match="empty"):
        ioi_from_prompt(ioi_model, "  ")


def test_names_filtered_by_the_model_at_hand(ioi_model):
    """100 paper-sized names; a word-level vocabulary keeps its own 40 (in their old order,
    so every reference task is unchanged) and rejects names that are <unk> to it."""
    from interp.core.reference.vocab import NAMES
    from interp.tasks.ioi import (
        IOI_NAMES,
        _bare_single_token,
        default_words,
        is_name_token,
        usable_names,
    )  # fmt: skip

    assert len(IOI_NAMES) == len(set(IOI_NAMES)) == 100
    assert default_words("names")[:40] == list(NAMES) and len(default_words("names")) == 108
    assert usable_names(ioi_model) == list(NAMES)  # the 40 of the reference vocabulary
    # "William" is no word of the reference vocabulary: <unk> in both positions, rejected
    assert ioi_model.tokenizer("William", add_special_tokens=False)["input_ids"] == [
        ioi_model.tokenizer.unk_token_id
    ]
    assert not is_name_token(ioi_model, "William") and not _bare_single_token(ioi_model, "William")
    assert is_name_token(ioi_model, "Mary")
    task = ioi_task(ioi_model, 60, seed=0)
    assert set(task.info["io"]) | set(task.info["s"]) <= set(NAMES)
    with pytest.raises(TokenizationError, match="not in the vocabulary"):
        ioi_task(ioi_model, 4, names=["William", "Alice", "Bob", "Tom", "Anna"])


def test_subset_and_group_means(ioi_model):
    task = ioi_task(ioi_model, 10, seed=0)
    sub = task.subset([1, 3])
    assert sub.prompts == (task.prompts[1], task.prompts[3])
    assert torch.equal(sub.positions["S2"], task.positions["S2"][[1, 3]])
    x = torch.arange(10, dtype=torch.float32, device=task.device)[:, None]
    means = task.mean_by_group(x)
    for g in set(task.groups.tolist()):
        rows = task.groups == g
        assert torch.allclose(means[rows], x[rows].mean())
