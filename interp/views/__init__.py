"""What the dashboard shows, computed without Streamlit: pure functions over a loaded model
and the results store that return numbers, rows and plotly figures for the pages to draw.

The Streamlit app (``app.py``, ``dashboard/``) caches the model per (name, device, dtype)
and the outputs of these functions per input; nothing here imports streamlit, mutates the
model or keeps state, so every view also works in a notebook or a test. Heavy libraries
(torch, plotly, transformer-lens) are imported inside the functions that use them.

* :mod:`~interp.views.choices` — models, devices, starting prompts, experiment commands;
* :mod:`~interp.views.prompt` — the model record, the prompt's tokens and predictions;
* :mod:`~interp.views.heads` — attention patterns (thumbnails, token x token heatmaps)
  and head scores;
* :mod:`~interp.views.circuit` — the IOI circuit diagram and stored ``ioi`` runs;
* :mod:`~interp.views.recall` — stored ``capitals`` runs (Poland -> Warsaw);
* :mod:`~interp.views.ffn` — FFN neurons as key-value memories;
* :mod:`~interp.views.formation` — circuit formation over training, step by step;
* :mod:`~interp.views.words` — word vectors, analogies, senses by layer, induction over training;
* :mod:`~interp.views.runs` — the run browser.

Everything a page uses is importable from here (``from interp import views``).
"""

from interp.views.choices import (
    DEFAULT_PROMPT,
    DEFAULT_PROMPTS,
    EXPERIMENTS,
    default_prompt,
    default_targets,
    device_choices,
    experiment_args,
    experiment_command,
    model_choices,
    reference_models,
)
from interp.views.circuit import (
    IOI_CLASSES,
    IOI_HEATMAPS,
    IOI_PATHS,
    PAPER_IOI,
    IOIRunView,
    circuit_classes,
    circuit_figure,
    class_key,
    ioi_classes,
    ioi_run,
)
from interp.views.edges import circuit_runs, edge_check, edge_check_ioi, edge_rows
from interp.views.ffn import (
    MEMORY_MODEL,
    PAPER_AGREEMENT,
    NeuronStart,
    NeuronView,
    agreement_rows,
    example_html,
    memory_neurons,
    neuron_start,
    neuron_view,
    planted_neurons,
)
from interp.views.formation import (
    FORMATION_COMMAND,
    SHIPPED_PROMPTS,
    FormationSource,
    FormationStep,
    formation_curve,
    formation_records,
    formation_source,
    formation_step,
    shipped_formation,
    step_circuit,
    stored_formation,
)
from interp.views.heads import (
    AttentionPatterns,
    HeadTable,
    attention_patterns,
    colorize,
    head_table,
    pattern_figure,
)
from interp.views.prompt import (
    PromptView,
    model_rows,
    planted_placement,
    planted_roles,
    prompt_view,
)
from interp.views.recall import (
    layer_label,
    recall_notes,
    recall_pair_rows,
    recall_rows,
    second_relation_rows,
)
from interp.views.runs import comparison_rows, run_rows, stored_result
from interp.views.words import (
    induction_curve,
    nearest_words,
    parse_groups,
    sense_curves,
    skipped_note,
    space_options,
    split_note,
    start_analogy,
    start_map,
    start_word,
    trained_kind,
    word_analogy,
    word_map,
)

__all__ = [
    "induction_curve",
    "nearest_words",
    "parse_groups",
    "sense_curves",
    "skipped_note",
    "space_options",
    "split_note",
    "start_analogy",
    "start_map",
    "start_word",
    "trained_kind",
    "word_analogy",
    "word_map",
    "circuit_runs",
    "edge_check",
    "edge_check_ioi",
    "edge_rows",
    "DEFAULT_PROMPT",
    "DEFAULT_PROMPTS",
    "EXPERIMENTS",
    "FORMATION_COMMAND",
    "IOI_CLASSES",
    "IOI_HEATMAPS",
    "IOI_PATHS",
    "MEMORY_MODEL",
    "PAPER_AGREEMENT",
    "PAPER_IOI",
    "SHIPPED_PROMPTS",
    "AttentionPatterns",
    "FormationSource",
    "FormationStep",
    "HeadTable",
    "IOIRunView",
    "NeuronStart",
    "NeuronView",
    "PromptView",
    "agreement_rows",
    "attention_patterns",
    "circuit_classes",
    "circuit_figure",
    "class_key",
    "colorize",
    "comparison_rows",
    "default_prompt",
    "default_targets",
    "device_choices",
    "example_html",
    "experiment_args",
    "experiment_command",
    "formation_curve",
    "formation_records",
    "formation_source",
    "formation_step",
    "head_table",
    "ioi_classes",
    "ioi_run",
    "layer_label",
    "model_choices",
    "memory_neurons",
    "model_rows",
    "neuron_start",
    "neuron_view",
    "pattern_figure",
    "planted_neurons",
    "planted_placement",
    "planted_roles",
    "prompt_view",
    "recall_notes",
    "recall_pair_rows",
    "recall_rows",
    "reference_models",
    "run_rows",
    "second_relation_rows",
    "shipped_formation",
    "step_circuit",
    "stored_formation",
    "stored_result",
]
