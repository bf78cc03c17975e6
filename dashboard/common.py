"""What every page shares: the sidebar (model, device, dtype, BOS, prompt), the model loaded
once per (name, device, dtype, prepend_bos), analyses cached by their inputs, stored results
cached by run id, and user mistakes shown as messages in the page instead of tracebacks.

Caching rules (Streamlit): the model is a *resource* (``st.cache_resource``, shared, never
mutated: analyses only run forwards with temporary hooks); results are *data*
(``st.cache_data``, pickled copies) keyed on hashable inputs: the model's name, device,
dtype and BOS choice, never the model object.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import streamlit as st

from interp import views
from interp.core.errors import InterpError, ModelNotFoundError

ROOT = Path(__file__).resolve().parent.parent
OTHER = "other (local directory or name)…"


@dataclass(frozen=True)
class Selection:
    """What the sidebar selects: the model and the prompt every page analyses."""

    model: str
    device: str
    dtype: str
    prompt: str
    memory: str = ""  # the sweeps' memory budget ("" = the device's default)
    prepend_bos: bool = True  # prompts start with BOS (recorded in the model's record)


# -- sidebar ---------------------------------------------------------------------------------
def _model_changed() -> None:
    """Switching models swaps a default prompt for the new model's default."""
    state = st.session_state
    if state.get("prompt", "") in views.DEFAULT_PROMPTS.values() and state.model_choice != OTHER:
        state.prompt = views.default_prompt(state.model_choice)


def use_model(name: str) -> None:
    """Button callback: select ``name`` in the sidebar."""
    st.session_state.model_choice = name
    st.session_state.model_custom = ""
    _model_changed()


def sidebar() -> Selection:
    state = st.session_state
    state.setdefault("model_choice", views.model_choices()[0])
    state.setdefault("model_custom", "")
    state.setdefault("device", "auto")
    state.setdefault("dtype", "float32")
    state.setdefault("memory", "")
    state.setdefault("prepend_bos", True)
    state.setdefault("prompt", views.default_prompt(state.model_choice))
    with st.sidebar:
        st.selectbox(
            "Model",
            views.model_choices() + [OTHER],
            key="model_choice",
            on_change=_model_changed,
            help="Built-in reference models (planted mechanisms) work offline; GPT-2 needs "
            "its weights in the Hugging Face cache, in $INTERP_MODELS_DIR or from the hub.",
        )
        if state.model_choice == OTHER:
            st.text_input(
                "Model directory or name",
                key="model_custom",
                placeholder="./gpt2-small  or  reference:ioi?placement_seed=3",
                help="A local Hugging Face GPT-2 directory (save_pretrained output), a hub "
                "name, or a reference model with parameters.",
            )
        left, right = st.columns(2)
        left.selectbox("Device", views.device_choices(), key="device")
        right.selectbox("Dtype", ["float32", "bfloat16", "float16"], key="dtype")
        st.text_input(
            "Memory budget",
            key="memory",
            placeholder="default: half the free memory",
            help="Bytes one batched forward of a sweep may use, e.g. 512MiB or 8GiB (the "
            "--memory option of the scripts). Empty: $INTERP_MEMORY_BUDGET, else half the "
            "device's free memory (at most 768 MiB on a CPU).",
        )
        with shown_errors():
            memory_bytes(state.memory, strict=True)
        st.checkbox(
            "Prepend BOS",
            key="prepend_bos",
            help="Start every prompt with the BOS token (<|endoftext|>), as transformer-lens "
            "does for GPT-2; off tokenises as Hugging Face's GPT-2 tokenizer (and Merullo et "
            "al.'s code) do. It changes the results; the model's record says which.",
        )
        st.text_area("Prompt", key="prompt", height=100, help="Ctrl+Enter to apply.")
    return selection()


def selection() -> Selection:
    state = st.session_state
    name = state.model_custom.strip() if state.model_choice == OTHER else state.model_choice
    return Selection(
        name,
        state.device,
        state.dtype,
        state.prompt,
        state.get("memory", ""),
        bool(state.get("prepend_bos", True)),
    )


def memory_bytes(text: str, strict: bool = False) -> int | None:
    """The sidebar's memory budget in bytes (None: the default); an unreadable one raises
    :class:`InterpError` when ``strict``, else counts as the default."""
    from interp.core.device import as_bytes

    try:
        return as_bytes(text.strip() or None)
    except InterpError:
        if strict:
            raise
        return None


# -- the model -------------------------------------------------------------------------------
def load_model(name: str, device: str, dtype: str, prepend_bos: bool = True) -> Any:
    """The model for (name, device, dtype, prepend_bos), loaded once (a shared resource)."""
    return _load_model(name, device, dtype, bool(prepend_bos))  # always 4 keys: one entry


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_model(name: str, device: str, dtype: str, prepend_bos: bool) -> Any:
    from interp.core.models import load

    return load(name, device=device, dtype=dtype, prepend_bos=prepend_bos)


def model(sel: Selection | None = None) -> Any | None:
    """The selected model, or None after showing why it could not be loaded (with the
    reference models on offer). Pages stop drawing model views when it is None."""
    sel = sel or selection()
    if not sel.model:
        st.warning("Type a model directory or name in the sidebar.")
        offer_reference_models()
        return None
    try:
        with st.spinner(f"Loading {sel.model} ({sel.device}, {sel.dtype})…"):
            return load_model(sel.model, sel.device, sel.dtype, sel.prepend_bos)
    except ModelNotFoundError as err:
        st.error(str(err))
        offer_reference_models()
    except InterpError as err:
        st.error(str(err))
    return None


def offer_reference_models() -> None:
    st.info(
        "The built-in reference models are small GPT-2s with known, planted mechanisms; "
        "they work without downloads."
    )
    cols = st.columns(len(views.reference_models()))
    for col, name in zip(cols, views.reference_models()):
        col.button(f"Use {name}", key=f"use-{name}", on_click=use_model, args=(name,))


# -- analyses and stored results -----------------------------------------------------------
def _call(
    target: str,
    name: str,
    device: str,
    dtype: str,
    args: tuple,
    kwargs: tuple,
    memory: str = "",
    prepend_bos: bool = True,
) -> Any:
    from interp.core.device import memory_limit

    module, func = target.split(":")
    model = load_model(name, device, dtype, prepend_bos)
    with memory_limit(memory or None):  # this analysis's sweeps size their forwards by it
        return getattr(import_module(module), func)(model, *args, **dict(kwargs))


@st.cache_data(max_entries=128, show_spinner=False)
def _compute(
    target: str,
    name: str,
    device: str,
    dtype: str,
    args: tuple,
    kwargs: tuple,
    memory: str = "",
    prepend_bos: bool = True,
) -> Any:
    return _call(target, name, device, dtype, args, kwargs, memory, prepend_bos)


def compute(target: str, *args: Any, label: str = "Computing…", **kwargs: Any) -> Any:
    """``module:function(model, *args, **kwargs)`` for the selected model, cached by
    (function, model name, device, dtype, memory budget, BOS, arguments); arguments must be
    hashable. The sidebar's memory budget applies to the sweeps the function runs (one the
    sidebar reports as unreadable is ignored). Only for functions of the model and their
    arguments: what reads the results store (which scripts change) is read afresh on every
    run."""
    sel = selection()
    kw = tuple(sorted(kwargs.items()))
    memory = sel.memory.strip() if memory_bytes(sel.memory) else ""
    with st.spinner(label):
        return _compute(target, sel.model, sel.device, sel.dtype, args, kw, memory, sel.prepend_bos)


def store() -> Any:
    from interp.results.store import ResultsStore

    return ResultsStore()


def stored_result(root: str, run_id: str) -> Any:
    """A stored run's result dataclass, cached (runs never change, so the id is the key)."""
    return cached("interp.views:stored_result", run_id, root)


@st.cache_data(max_entries=32, show_spinner="Loading stored run…")
def cached(target: str, *args: Any) -> Any:
    """``module:function(*args)`` for a function that does not take the model (e.g. reading
    a stored run), cached by the function's name and its (hashable) arguments."""
    module, func = target.split(":")
    return getattr(import_module(module), func)(*args)


def runs(kind: str) -> list:
    return store().list(kind)


def pick_run(kind: str, label: str = "Stored run") -> Any | None:
    """A selectbox over the stored runs of ``kind`` (newest first); the chosen record."""
    records = runs(kind)
    if not records:
        return None
    by_id = {r.run_id: r for r in records}
    run_id = st.selectbox(
        label,
        list(by_id),
        key=f"run-{kind}",
        format_func=lambda i: f"{i}  ·  {by_id[i].model_name}",
    )
    return by_id[run_id]


@contextlib.contextmanager
def shown_errors() -> Iterator[None]:
    """Show a user mistake (:class:`InterpError`) as a message; the rest of the page draws."""
    try:
        yield
    except InterpError as err:
        st.error(str(err))


# -- experiments started from the app ---------------------------------------------------------
def offer_experiment(kind: str) -> None:
    """No stored run of ``kind``: say which command creates one, and offer to run it here
    (the same script, in a subprocess, so the run is stored exactly as from the shell)."""
    sel = selection()
    args = views.experiment_args(kind, sel.model, sel.device)
    args += [] if sel.dtype == "float32" else ["--dtype", sel.dtype]
    args += ["--memory", sel.memory.strip()] if memory_bytes(sel.memory) else []
    args += [] if sel.prepend_bos else ["--no-bos"]
    command = " ".join(["python", *args])
    st.info(f"No `{kind}` run is stored yet. Create one with\n\n`{command}`")
    if not (ROOT / args[0]).exists():
        st.caption(f"({args[0]} is not in this checkout yet.)")
        return
    if st.button(f"Run it now: {command}", key=f"start-{kind}") and run_experiment(args):
        st.rerun()


def run_experiment(args: list[str]) -> bool:
    """Run an experiment script (``args[0]``, relative to the repository) in a subprocess,
    streaming its output into a status box; True on success."""
    cmd = [sys.executable, str(ROOT / args[0]), *args[1:]]
    lines: list[str] = []
    start = time.perf_counter()
    with st.status(f"Running {' '.join(args)}…", expanded=True) as status:
        output = st.empty()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip())
                output.code("\n".join(lines[-30:]) or "…")
            code = proc.wait()
        took = time.perf_counter() - start
        if code == 0:
            status.update(label=f"Finished in {took:.0f} s: the run is stored.", state="complete")
            return True
        status.update(label=f"Failed (exit status {code}) after {took:.0f} s", state="error")
    return False
