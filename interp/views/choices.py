"""What the dashboard offers: models, devices, starting prompts and targets, and the
experiment command that stores each kind of run (run from the app or from a shell)."""

from __future__ import annotations

#: the prompt the app starts with, per reference model (the IOI sentence of Wang et al. 2022;
#: Merullo et al. 2023's capital question)
DEFAULT_PROMPTS = {
    "ioi": "When Mary and John went to the store, John gave a drink to",
    "recall": "Q: What is the capital of Poland? A:",
    # trained:text, a language model of WordNet glosses: a gloss whose last word repeats
    "text": "a sloping bank of land beside a river; the boat was pulled up on the",
}
#: targets the logit-lens page starts with, per model kind (the default prompt's answers)
DEFAULT_TARGETS = {"ioi": "Mary, John", "recall": "Poland, Warsaw", "text": "bank, river"}
DEFAULT_PROMPT = DEFAULT_PROMPTS["ioi"]
#: stored run kind -> (experiment script, the reference model it runs on offline, extra args)
EXPERIMENTS: dict[str, tuple[str, str, list[str]]] = {
    "ioi": ("experiments/ioi.py", "reference:ioi", []),
    "capitals": ("experiments/capitals.py", "reference:recall", []),
    "ffn_memories": ("experiments/ffn_memories.py", "reference:recall", []),
}


def experiment_args(kind: str, model_name: str | None = None, device: str = "auto") -> list[str]:
    """The command line (script and arguments) that stores a run of ``kind``: on the selected
    model when it is the experiment's kind of reference model, else on that reference."""
    script, reference, extra = EXPERIMENTS[kind]
    model = model_name if model_name and model_name.startswith(reference) else reference
    return [script, "--model", model, *([] if device == "auto" else ["--device", device]), *extra]


def experiment_command(kind: str, model_name: str | None = None, device: str = "auto") -> str:
    return " ".join(["python", *experiment_args(kind, model_name, device)])


def model_choices() -> list[str]:
    """Reference models first (always available), then the trained models shipped in this
    checkout, then the hub names."""
    from interp.core.models import HUB_MODELS, REFERENCE_PREFIX
    from interp.core.reference import REFERENCE_MODELS
    from interp.core.trained import TRAINED_MODELS, TRAINED_PREFIX, trained_dir

    trained = [
        TRAINED_PREFIX + k for k in TRAINED_MODELS if (trained_dir(k) / "config.json").exists()
    ]
    return [REFERENCE_PREFIX + k for k in REFERENCE_MODELS] + trained + list(HUB_MODELS)


def reference_models() -> list[str]:
    return [m for m in model_choices() if m.startswith("reference:")]


def default_prompt(model_name: str) -> str:
    """The starting prompt for a model: the recall question for ``reference:recall``, a
    gloss for ``trained:text``."""
    if model_name.startswith("reference:recall"):
        return DEFAULT_PROMPTS["recall"]
    if model_name == "trained:text":
        return DEFAULT_PROMPTS["text"]
    return DEFAULT_PROMPT


def default_targets(model_name: str) -> str:
    """Targets the logit-lens page starts with (Merullo et al.'s Poland and Warsaw; the IOI
    names)."""
    if model_name.startswith("reference:recall"):
        return DEFAULT_TARGETS["recall"]
    if model_name == "trained:text":
        return DEFAULT_TARGETS["text"]
    return DEFAULT_TARGETS["ioi"]


def device_choices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices
