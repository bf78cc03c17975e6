"""Load a hooked GPT-2-family model from any source, with a record of what was loaded.

One entry point, :func:`load`, takes

* a hub name: ``gpt2-small`` (alias ``gpt2``), ``gpt2-medium``, ``gpt2-large``, ``gpt2-xl``,
  ``distilgpt2``; found in the local Hugging Face cache, in ``$INTERP_MODELS_DIR/<name>``,
  or downloaded when the hub is reachable;
* a local Hugging Face directory (``save_pretrained`` output: config, weights, tokenizer);
* a built-in reference model with planted mechanisms: ``reference:ioi``,
  ``reference:recall``, with parameters as a query string
  (``reference:ioi?placement_seed=3``, ``reference:recall?capital_layer=4``).

The model is a transformer-lens 4.x ``TransformerBridge`` in compatibility mode, so hook
names are the familiar ``blocks.{l}.attn.hook_z`` etc. By default the weights are processed
as HookedTransformer did (fold LN, centre writing weights and unembedding, fold value
biases): this changes logit-lens and direct-logit-attribution numbers, so the choice is kept
in :class:`ModelRecord.weight_processing` and stored with every result. So is
``prepend_bos`` (default True, transformer-lens's GPT-2 practice): whether prompts start with
the BOS token (``<|endoftext|>``). It changes every number (GPT-2's attention rests on the
first position; Merullo et al.'s code tokenises without BOS), so it is chosen at load time,
used by every tokenisation helper (:func:`interp.core.tokens.to_tokens`) and recorded.

The model itself is left as transformer-lens returned it: its record lives beside it, in a
table keyed weakly by the model object (:func:`record_of`), and goes when the model goes.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse

from interp.core.errors import InterpError, ModelNotFoundError

if TYPE_CHECKING:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    #: a model as interp loads it (a transformer-lens bridge in compatibility mode)
    Model = TransformerBridge

#: user-facing name -> Hugging Face hub id
HUB_MODELS: dict[str, str] = {
    "gpt2-small": "gpt2",
    "gpt2": "gpt2",
    "gpt2-medium": "gpt2-medium",
    "gpt2-large": "gpt2-large",
    "gpt2-xl": "gpt2-xl",
    "distilgpt2": "distilgpt2",
}
GPT2_FAMILY_TYPES = {"gpt2"}
REFERENCE_PREFIX = "reference:"

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class ModelRecord:
    """What a loaded model is: stored with every result so runs can be compared."""

    name: str
    source: str  # "hub" | "local" | "reference"
    location: str  # hub id or directory
    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    device: str
    dtype: str
    weight_processing: dict[str, bool] = field(default_factory=dict)
    #: whether prompts are tokenised with BOS first (records stored before it existed: True)
    prepend_bos: bool = True
    #: for reference models: the planted mechanisms (placement of every role, layers, ...)
    reference: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_reference(self) -> bool:
        return self.source == "reference"


@dataclass(frozen=True)
class _Loaded:
    record: ModelRecord
    boot_seconds: float


#: model object -> what :func:`load` knew about it; weak keys, so an entry goes with its model
_LOADED: weakref.WeakKeyDictionary[Any, _Loaded] = weakref.WeakKeyDictionary()


def known_models() -> list[str]:
    from interp.core.reference import REFERENCE_MODELS
    from interp.core.trained import TRAINED_MODELS, TRAINED_PREFIX

    return (
        sorted(HUB_MODELS)
        + [REFERENCE_PREFIX + k for k in REFERENCE_MODELS]
        + [TRAINED_PREFIX + k for k in TRAINED_MODELS]
    )


def load(
    name: str | os.PathLike,
    device: str = "auto",
    dtype: str = "float32",
    process_weights: bool = True,
    prepend_bos: bool = True,
) -> TransformerBridge:
    """Load ``name`` as a hooked model; its :class:`ModelRecord` is ``record_of(model)``.

    The returned bridge carries no attribute of ours: the record is kept beside it.
    ``prepend_bos=False`` tokenises every prompt without the BOS token (the record says so,
    and transformer-lens's own ``cfg.default_prepend_bos`` is set to match, so
    ``model.to_tokens`` agrees with :func:`interp.core.tokens.to_tokens`).
    Raises :class:`ModelNotFoundError` with an actionable message for unknown names, missing
    or non-GPT-2 directories, and hub models that cannot be obtained offline.

    Example::

        >>> model = load("reference:ioi", device="cpu")
        >>> record_of(model).n_layers, record_of(model).source
        (8, 'reference')
        >>> record_of(load("reference:ioi", device="cpu", prepend_bos=False)).prepend_bos
        False
    """
    from interp.core.device import dtype_name, parse_dtype, pick_device

    if not isinstance(prepend_bos, bool):
        raise InterpError(f"prepend_bos must be True or False, not {prepend_bos!r}")
    dev = pick_device(device)
    torch_dtype = parse_dtype(dtype, dev)
    source, location, reference = resolve(str(name))
    bridge, seconds = _boot(location, dev, torch_dtype)
    processing = _process(bridge, process_weights)
    cfg = bridge.cfg
    if not prepend_bos:  # transformer-lens's own switch (True by default, left alone then)
        cfg.default_prepend_bos = False
    record = ModelRecord(
        name=str(name),
        source=source,
        location=str(location),
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        d_model=cfg.d_model,
        d_head=cfg.d_head,
        d_mlp=cfg.d_mlp or 0,  # 0: attention-only (no MLPs)
        d_vocab=cfg.d_vocab,
        n_ctx=cfg.n_ctx,
        device=str(dev),
        dtype=dtype_name(torch_dtype),
        weight_processing=processing,
        prepend_bos=prepend_bos,
        reference=reference,
    )
    _LOADED[bridge] = _Loaded(record, seconds)
    return bridge


def record_of(model: object) -> ModelRecord:
    """The :class:`ModelRecord` of a model returned by :func:`load`.

    Raises :class:`ModelNotFoundError` for any other object (a bridge booted directly, a
    Hugging Face model): its name, source and weight processing are unknown.

    Example::

        >>> record_of(load("reference:recall", device="cpu")).reference["capital_layer"]
        5
    """
    loaded = _lookup(model)
    return loaded.record


def boot_seconds(model: object) -> float:
    """Seconds that building ``model`` (a model returned by :func:`load`) took, before weight
    processing: e.g. ``interp models --time`` style reports."""
    return _lookup(model).boot_seconds


def remember(model: object, record: ModelRecord, boot_seconds: float = 0.0) -> None:
    """Make ``record_of(model)`` answer ``record`` for a model built outside :func:`load`
    (a model trained in this process, a test double). Kept beside the model, weakly."""
    _LOADED[model] = _Loaded(record, boot_seconds)


def _lookup(model: object) -> _Loaded:
    try:
        return _LOADED[model]
    except (KeyError, TypeError):  # TypeError: an object that cannot be weakly referenced
        raise ModelNotFoundError(
            f"this {type(model).__name__} was not loaded with interp.core.models.load, so its "
            "record (name, source, weight processing) is unknown; load models with "
            "interp.core.models.load(name)"
        ) from None


def resolve(name: str) -> tuple[str, Path | str, dict[str, Any] | None]:
    """Decide where ``name`` comes from: (source, local directory or hub id, planted record)."""
    if name.startswith(REFERENCE_PREFIX):
        from interp.core.reference import materialize

        kind, params = parse_reference_name(name)
        directory = materialize(kind, **params)
        from interp.core.reference import RECORD_FILE

        return "reference", directory, json.loads((directory / RECORD_FILE).read_text())
    from interp.core.trained import TRAINED_PREFIX

    if name.startswith(TRAINED_PREFIX):
        from interp.core.trained import locate

        return "trained", _check_local_dir(locate(name[len(TRAINED_PREFIX) :])), None
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or os.sep in name:
        return "local", _check_local_dir(path), None
    if name in HUB_MODELS:
        return "hub", _find_hub_model(name), None
    raise ModelNotFoundError(
        f"unknown model {name!r}. Known models: {', '.join(known_models())}; "
        "or give the path of a local Hugging Face GPT-2 directory."
    )


def parse_reference_name(name: str) -> tuple[str, dict[str, Any]]:
    """``reference:ioi?placement_seed=3`` -> ("ioi", {"placement_seed": 3})."""
    from interp.core.reference import REFERENCE_MODELS

    parsed = urlparse(name[len(REFERENCE_PREFIX) :])
    kind = parsed.path
    if kind not in REFERENCE_MODELS:
        raise ModelNotFoundError(
            f"unknown reference model {kind!r}; built-in: "
            + ", ".join(REFERENCE_PREFIX + k for k in REFERENCE_MODELS)
        )
    params: dict[str, Any] = {}
    for key, value in parse_qsl(parsed.query):
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return kind, params


def reference_name(kind: str, **params: Any) -> str:
    """Inverse of :func:`parse_reference_name` (parameters that are None are left out)."""
    query = "&".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items()) if v is not None)
    return f"{REFERENCE_PREFIX}{kind}" + (f"?{query}" if query else "")


def _check_local_dir(path: Path) -> Path:
    if not path.is_dir():
        raise ModelNotFoundError(f"model directory {str(path)!r} does not exist.")
    config = path / "config.json"
    if not config.exists():
        raise ModelNotFoundError(
            f"{str(path)!r} is not a Hugging Face model directory (no config.json). "
            "Create one with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)."
        )
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as err:
        raise ModelNotFoundError(f"{config} is not valid JSON: {err}") from None
    if model_type not in GPT2_FAMILY_TYPES:
        raise ModelNotFoundError(
            f"{str(path)!r} holds a {model_type!r} model; this workbench analyses GPT-2-family "
            f"models (model_type one of {sorted(GPT2_FAMILY_TYPES)})."
        )
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ModelNotFoundError(f"{str(path)!r} has a config but no weights (*.safetensors).")
    if not (path / "tokenizer.json").exists() and not (path / "vocab.json").exists():
        raise ModelNotFoundError(
            f"{str(path)!r} has no tokenizer; save one beside the model "
            "(tokenizer.save_pretrained(DIR))."
        )
    return path


def _find_hub_model(name: str) -> Path | str:
    """A local copy if there is one (INTERP_MODELS_DIR, HF cache), else the hub id if the hub
    answers; otherwise fail at once with instructions, rather than after minutes of retries."""
    hub_id = HUB_MODELS[name]
    local = local_copy(name)
    if local is not None:
        return _check_local_dir(local)
    try:
        from huggingface_hub import snapshot_download

        return _check_local_dir(Path(snapshot_download(hub_id, local_files_only=True)))
    except Exception:  # not cached (or an incomplete cache): try the network
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not hub_reachable():
        raise ModelNotFoundError(
            f"GPT-2 weights for {name!r} (hub id {hub_id!r}) are not available here: they are not "
            f"in the local Hugging Face cache and the hub ({HUB_HOST}) cannot be reached.\n"
            "To use real weights, on a machine with internet access run\n"
            f'  python -c "from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; '
            f"M.from_pretrained('{hub_id}').save_pretrained('{name}'); "
            f"T.from_pretrained('{hub_id}').save_pretrained('{name}')\"\n"
            f"then copy the folder '{name}' here and pass its path as the model "
            f"(--model ./{name}), or put it under $INTERP_MODELS_DIR.\n"
            "Offline, the built-in reference models with planted mechanisms work: "
            + ", ".join(k for k in known_models() if k.startswith(REFERENCE_PREFIX))
        )
    return hub_id


def local_copy(name: str) -> Path | None:
    """``$INTERP_MODELS_DIR/<name>`` under any of the model's names (``gpt2`` finds a folder
    called ``gpt2-small`` and the other way round), or None."""
    from interp.core.settings import models_dir

    base = models_dir()
    if base is None or name not in HUB_MODELS:
        return None
    hub_id = HUB_MODELS[name]
    names = [name] + [n for n, h in HUB_MODELS.items() if h == hub_id and n != name] + [hub_id]
    for candidate in dict.fromkeys(names):
        if (base / candidate).is_dir():
            return base / candidate
    return None


def model_sources() -> list[dict[str, str]]:
    """Every known model with where it would come from on this machine (no loading)."""
    from interp.core.reference import REFERENCE_MODELS

    rows = []
    for kind in REFERENCE_MODELS:
        rows.append({"model": REFERENCE_PREFIX + kind, "available": "yes", "source": "built in"})
    from interp.core.trained import TRAINED_MODELS, TRAINED_PREFIX, trained_dir

    for kind in TRAINED_MODELS:
        shipped = (trained_dir(kind) / "config.json").exists()
        rows.append(
            {
                "model": TRAINED_PREFIX + kind,
                "available": "yes" if shipped else "no",
                "source": "shipped (trained)" if shipped else f"not shipped: interp train {kind}",
            }
        )
    reachable = None
    for name, hub_id in HUB_MODELS.items():
        where = None
        local = local_copy(name)
        if local is not None:
            where = f"local dir {local}"
        else:
            try:
                from huggingface_hub import snapshot_download

                snapshot_download(hub_id, local_files_only=True)
                where = "Hugging Face cache"
            except Exception:
                if reachable is None:
                    reachable = hub_reachable(timeout=2.0)
                where = "hub (downloads on first use)" if reachable else None
        rows.append(
            {
                "model": name if name == hub_id else f"{name} (= {hub_id})",
                "available": "yes" if where else "no",
                "source": where or "not here: hub unreachable, no local copy",
            }
        )
    return rows


def hub_reachable(timeout: float = 3.0) -> bool:
    """True if a TCP connection to the hub can be opened within ``timeout`` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = urlparse(endpoint).hostname or HUB_HOST
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _boot(
    location: Path | str, device: torch.device, dtype: torch.dtype
) -> tuple[TransformerBridge, float]:
    from interp.core.hooks import quiet_transformers

    with quiet_transformers():
        from transformer_lens.model_bridge import TransformerBridge

        start = time.perf_counter()
        try:
            bridge = TransformerBridge.boot_transformers(str(location), device=device, dtype=dtype)
        except OSError as err:
            raise ModelNotFoundError(f"could not load {location!s}: {err}") from None
        bridge.eval()
        seconds = time.perf_counter() - start
    return bridge, seconds


def _process(bridge: TransformerBridge, process_weights: bool) -> dict[str, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if process_weights:
            bridge.enable_compatibility_mode(disable_warnings=True)
            return {
                "fold_ln": True,
                "center_writing_weights": True,
                "center_unembed": True,
                "fold_value_biases": True,
            }
        bridge.enable_compatibility_mode(disable_warnings=True, no_processing=True)
        return {
            "fold_ln": False,
            "center_writing_weights": False,
            "center_unembed": False,
            "fold_value_biases": False,
        }
