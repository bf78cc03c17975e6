"""FFN memories on real text (Geva et al. 2021) on the trained models: mining a few thousand
tokens of English is exactly the brute-force top-k of every neuron, key-value agreement and
its shuffled baseline are the direct numpy computation, and ``experiments/text_memories.py``
runs end to end, writes its JSON and shows up on the dashboard's FFN page.

Each test runs on ``trained:text`` (a small GPT-2 trained on WordNet glosses, with its own
BPE and a held-out sample) and on ``trained:ioi`` (4 layers, a word-level vocabulary with
``<unk>``; it also saw WordNet glosses). Nothing here needs the WordNet download: the text is
the sample ``trained:text`` ships, or the paragraphs below.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.core.errors import InterpError, ModelNotFoundError
from interp.core.hooks import mlp_name
from interp.results.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["trained:text", "trained:ioi"]
K, WINDOW, BATCH = 5, 32, 8
#: short English definitions and usage examples in the manner of WordNet glosses (written
#: for this test); sampled into paragraphs when the model ships no held-out sample
SENTENCES = [
    "a small bird that sings in the morning and builds a nest in the trees",
    "the act of giving a gift to a friend or a member of the family",
    "a large city in the north of the country where many people work",
    "a drink made from hot water and the leaves of a plant",
    "the time of day when the sun goes down and the sky turns red",
    "to walk slowly along the river with no purpose in mind",
    "a room in a house where food is made and kept",
    "he gave the book to his brother after school",
    "she went to the store to buy bread and milk for the children",
    "a game played by two teams on a field with a ball",
    "the state of being happy and free from worry",
    "a person who teaches children at a school",
    "to move quickly on foot so that both feet leave the ground",
    "the money that a person earns from work in a year",
    "a tool with a long handle used for digging in the garden",
    "they decided to stay at home because of the rain",
    "a written message sent to someone in an envelope",
    "the part of the body between the head and the shoulders",
    "to make something clean by washing it with water and soap",
    "a flower with a sweet smell that grows in gardens in the summer",
    "of or relating to the sea or to ships and sailing",
    "the first meal of the day, eaten in the morning",
    "a piece of furniture with a flat top and four legs",
    "to speak in a loud voice so that people far away can hear",
]


def _shipped(name: str) -> bool:
    from interp.core.trained import TRAINED_PREFIX, locate

    try:
        locate(name.removeprefix(TRAINED_PREFIX))
    except ModelNotFoundError:
        return False
    return True


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    from interp.core.models import load

    if not _shipped(request.param):
        pytest.skip(
            f"{request.param} is not shipped in interp/core/trained/ yet (it is trained by "
            f"`interp train {request.param.split(':')[1]}`); the tests run on the other models"
        )
    return load(request.param, device="cpu")


@pytest.fixture(scope="module")
def text_path(model, tmp_path_factory) -> Path:
    """A few thousand tokens of English: the model's shipped held-out sample if it has one,
    else the sentences above sampled into paragraphs of 2-5 (seeded)."""
    from interp.core.models import record_of

    sample = Path(record_of(model).location) / "heldout.txt"
    path = tmp_path_factory.mktemp("text") / "english.txt"
    if sample.is_file():
        path.write_text(sample.read_text())
    else:
        rng = np.random.default_rng(0)
        paragraphs = [
            "; ".join(rng.choice(SENTENCES, size=rng.integers(2, 6), replace=False))
            for _ in range(70)
        ]
        path.write_text("\n\n".join(paragraphs) + "\n")
    return path


@pytest.fixture(scope="module")
def mined(model, text_path, tmp_path_factory):
    from interp.methods.mining import mine

    store = ResultsStore(tmp_path_factory.mktemp("results"))
    result = mine(model, text_path, k=K, window=WINDOW, batch_size=BATCH, store=store,
                  checkpoint_every=3, show_progress=False)  # fmt: skip
    return result, store


def ignored(model) -> list[int]:
    """``<unk>`` of a word-level vocabulary (never a next token to agree with), as the script."""
    unk = getattr(model.tokenizer, "unk_token_id", None)
    return [int(unk)] if unk is not None and unk != model.tokenizer.bos_token_id else []


def brute_force(model, text_path):
    """Every window through the model with a hook on every layer's ``hook_post``; per
    neuron, numpy's top-k over every eligible position by (activation desc, position asc)."""
    from interp.core.corpus import windows

    tw = windows(model.tokenizer, text_path, window=WINDOW)
    names = [mlp_name(layer, "post") for layer in range(model.cfg.n_layers)]
    acts, masks = [], []
    seen: dict[str, torch.Tensor] = {}

    def keep(activation, hook):  # activation: [batch, pos, d_mlp]
        seen[hook.name] = activation.detach().cpu().clone()

    for lo, hi in tw.batches(BATCH):
        tokens, mask = tw.batch(lo, hi, model.cfg.device)
        seen.clear()
        with torch.no_grad(), model.hooks(fwd_hooks=[(n, keep) for n in names]):
            model(tokens, return_type=None)
        acts.append(torch.stack([seen[n] for n in names]).flatten(1, 2))  # [L, b*pos, d_mlp]
        masks.append(mask.flatten().cpu())
    a, m = torch.cat(acts, dim=1).numpy(), torch.cat(masks).numpy()
    gidx = np.flatnonzero(m)  # global index = window * WINDOW + position
    n_layers, _, d_mlp = a.shape
    values = np.empty((n_layers, d_mlp, K), np.float32)
    index = np.empty((n_layers, d_mlp, K), np.int64)
    for layer in range(n_layers):
        for n in range(d_mlp):
            vals = a[layer, m, n]
            order = np.lexsort((gidx, -vals))[:K]
            values[layer, n], index[layer, n] = vals[order], gidx[order]
    return values, index, tw


@pytest.fixture(scope="module")
def brute(model, text_path):
    return brute_force(model, text_path)


def test_text_is_a_few_thousand_tokens_of_english(mined):
    result, _ = mined
    assert 1_500 <= result.n_tokens <= 20_000
    assert result.n_windows == -(-result.n_tokens // (WINDOW - 1))


def test_mining_equals_the_brute_force_scan(model, mined, brute):
    result, store = mined
    values, index, tw = brute
    assert result.layers == list(range(model.cfg.n_layers))
    assert result.activation.shape == (model.cfg.n_layers, model.cfg.d_mlp, K)
    np.testing.assert_allclose(result.activation, values, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(result.window_index * WINDOW + result.position, index)
    w, p = np.divmod(index, WINDOW)
    np.testing.assert_array_equal(result.token, tw.tokens[w, p])
    np.testing.assert_array_equal(result.next_token, tw.next_tokens()[w, p])
    # and the stored examples of a neuron say the same, text included
    from interp.methods.mining import examples

    layer, neuron = model.cfg.n_layers - 1, int(np.argmax(values[-1, :, 0]))
    found = examples(store, result.job, layer, neuron)
    assert [e.activation for e in found] == pytest.approx(values[layer, neuron].tolist())
    top = found[0]
    assert top.token_id == tw.tokens[w[layer, neuron, 0], p[layer, neuron, 0]]
    assert model.tokenizer.decode([top.token_id]) == top.token


def numpy_value_top(model) -> np.ndarray:
    """int64 [layer, d_mlp]: argmax over the vocabulary of W_out[l] (x final LN gain) @ W_U."""
    from interp.methods.dla import final_ln_gain

    gain = final_ln_gain(model)
    gain = gain.detach().cpu().numpy() if isinstance(gain, torch.Tensor) else gain
    w_out = model.W_out.detach().cpu().numpy() * gain  # [layer, d_mlp, d_model]
    w_u = model.W_U.detach().cpu().numpy()  # [d_model, d_vocab]
    return np.argmax(w_out @ w_u, axis=-1)


def test_agreement_and_shuffled_baseline_are_the_numpy_computation(model, mined, brute):
    from interp.methods.ffn import agreement, value_projections

    result, store = mined
    _, index, tw = brute
    values = value_projections(model, None, k=3, store=store)
    top = numpy_value_top(model)
    np.testing.assert_array_equal(values.top_ids[:, :, 0], top)
    skip = ignored(model)
    w, p = np.divmod(index, WINDOW)
    following = tw.next_tokens()[w, p]  # [layer, d_mlp, k]
    following = np.where(np.isin(following, skip), -1, following)
    n_shuffles, seed = 50, 3
    agree = agreement(values, result, n_shuffles=n_shuffles, seed=seed, ignore=skip)
    rng = np.random.default_rng(seed)
    for layer in range(model.cfg.n_layers):
        nxt = following[layer, :, 0]
        live = nxt >= 0  # every value here is non-zero
        t, x = top[layer, live], nxt[live]
        assert agree.n_neurons[layer] == live.sum() > 0
        assert agree.rate[layer] == pytest.approx((t == x).mean(), abs=1e-12)
        np.testing.assert_array_equal(agree.agrees[layer], live & (top[layer] == nxt))
        shuffled = [(t == x[rng.permutation(len(x))]).mean() for _ in range(n_shuffles)]
        assert agree.baseline[layer] == pytest.approx(np.mean(shuffled), abs=1e-12)
        assert agree.baseline_std[layer] == pytest.approx(np.std(shuffled), abs=1e-12)
        # the exact permutation mean: neuron i gets neuron j's next token with p = 1/n
        exact = (t[:, None] == x[None, :]).mean()
        assert agree.expected[layer] == pytest.approx(exact, abs=1e-12)
        assert (
            abs(agree.baseline[layer] - exact) < 5 * np.std(shuffled) / np.sqrt(n_shuffles) + 1e-9
        )
    rows = agree.rows()
    assert [r["layer"] for r in rows] == agree.layers
    assert rows[0]["agreeing"] == agree.agrees[0].sum()
    assert rows[0]["shuffled_exact"] == agree.expected[0]

    # two examples: agreeing with either next token; the exact baseline counts each token
    # of a neuron's set once
    two = agreement(values, result, examples=2, n_shuffles=0, ignore=skip)
    for layer in range(model.cfg.n_layers):
        nxt = following[layer, :, :2]
        live = (nxt >= 0).any(axis=1)
        t, x = top[layer, live], nxt[live]
        assert two.rate[layer] == pytest.approx((x == t[:, None]).any(axis=1).mean())
        member = (t[:, None, None] == x[None, :, :]).any(axis=2)  # [i, j]: top_i in set_j
        assert two.expected[layer] == pytest.approx(member.mean(), abs=1e-12)
    with pytest.raises(InterpError, match="n_shuffles"):
        agreement(values, result, n_shuffles=-1)


def load_script():
    path = ROOT / "experiments" / "text_memories.py"
    spec = importlib.util.spec_from_file_location("text_memories", path)
    script = importlib.util.module_from_spec(spec)
    sys.modules["text_memories"] = script  # dataclasses look their module up
    spec.loader.exec_module(script)
    return script


def test_heldout_documents_are_cut_from_the_corpus_by_the_training_record(tmp_path, monkeypatch):
    from interp.core.corpus import fingerprint

    script = load_script()
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    corpus = tmp_path / "glosses.txt"
    corpus.write_text("\n\n".join(f"gloss number {i}" for i in range(7)) + "\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert script.heldout_documents(model_dir) is None  # no training record
    record = {"recipe": {"corpus": str(corpus)}, "corpus": {"fingerprint": fingerprint(corpus)},
              "heldout_blocks": [1, 3], "block_size": 2}  # fmt: skip
    (model_dir / script.TRAINING_FILE).write_text(json.dumps(record))
    held = script.heldout_documents(model_dir)
    assert held.read_text().split("\n\n") == [
        "gloss number 2",
        "gloss number 3",
        "gloss number 6\n",
    ]
    record["corpus"]["fingerprint"] = "0" * 16  # another corpus: not cut from this one
    (model_dir / script.TRAINING_FILE).write_text(json.dumps(record))
    assert script.heldout_documents(model_dir) is None


def test_script_end_to_end_writes_json_stores_and_shows_on_the_ffn_page(
    model, mined, text_path, tmp_path, monkeypatch, capsys
):
    import interp.core.models
    from interp.core.models import record_of
    from interp.experiment import run_script
    from interp.methods.ffn import agreement, value_projections
    from interp.results.base import load_result

    name = record_of(model).name
    script = load_script()
    monkeypatch.setattr(interp.core.models, "load", lambda *a, **k: model)
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    out = tmp_path / "summary.json"
    argv = ["--model", name, "--device", "cpu", "--corpus", str(text_path), "--max-tokens",
            "1000", "--window", str(WINDOW), "--batch-size", str(BATCH), "--k", "4",
            "--n-shuffles", "20", "--show", "2", "--json", str(out)]  # fmt: skip
    assert run_script(script.main, script.Config, argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads(out.read_text())
    n_layers = model.cfg.n_layers
    assert summary["experiment"] == "text_memories" and summary["n_tokens"] == 1000
    assert [r["layer"] for r in summary["per_layer"]] == list(range(n_layers))
    assert "measured" in printed and "paper (Geva et al. 2021" in printed
    assert "≈ 3.5% (top layer)" in printed and "value promotes" in printed
    assert len(summary["neurons"]) == 2 * n_layers
    assert all(n["triggers"] and n["value_top"] for n in summary["neurons"])

    # the stored agreement is what agreement() gives on the stored mining job
    store = ResultsStore(tmp_path / "results")
    mining = load_result(summary["run_ids"]["mining"], store=store)
    values = value_projections(model, None, k=4, store=store)
    again = agreement(values, mining, n_shuffles=20, seed=0, ignore=ignored(model))
    assert [summary["agreement"][str(i)] for i in range(n_layers)] == again.rate.tolist()
    assert [summary["agreement_baseline"][str(i)] for i in range(n_layers)] == pytest.approx(
        again.baseline.tolist()
    )
    (run,) = store.list("ffn_memories")
    assert run.summary["experiment"] == "text_memories"

    # a second run reads the job from the store instead of mining again
    assert run_script(script.main, script.Config, argv[:-2]) == 0
    assert "already mined" in capsys.readouterr().out

    # the dashboard's FFN page on this model: trigger examples and the stored agreement
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["model_choice"] = "other (local directory or name)…"
    at.session_state["model_custom"] = name
    at.run()
    at.switch_page("dashboard/pages/ffn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.get("html"), "no trigger examples drawn in the neuron browser"
    tables = [df.value for df in at.dataframe]
    agreement_table = next(t for t in tables if "measured" in t.columns)
    assert list(agreement_table["layer"]) == list(range(n_layers))
    assert "paper (Geva et al. 2021)" in agreement_table.columns
    assert any("top trigger examples" in t.columns for t in tables)


def test_split_options(model, monkeypatch, tmp_path):
    from interp.core.models import record_of

    script = load_script()
    record = record_of(model)
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))  # no WordNet here
    sample = Path(record.location) / script.HELDOUT_FILE
    config = script.Config(model=record.name, split="sample", fetch=False)
    if sample.is_file():
        assert script.choose_corpus(config, record) == (
            str(sample), "the held-out sample shipped with the model (never trained on)"
        )  # fmt: skip
        held = script.Config(model=record.name, split="heldout", fetch=False)
        assert script.choose_corpus(held, record)[0] == str(sample)  # no WordNet to cut from
    else:
        with pytest.raises(InterpError, match="ships no held-out sample"):
            script.choose_corpus(config, record)
    with pytest.raises(InterpError, match="--split must be one of"):
        script.choose_corpus(script.Config(split="train"), record)
