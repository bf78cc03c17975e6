"""interp: a mechanistic-interpretability workbench for GPT-2-family language models.

The package is organised along the flow of an analysis:

    models (load) -> tasks (prompts) -> hooks / analyses -> results store -> viz -> dashboard

Importing ``interp`` is cheap: torch, transformer-lens and plotly are imported by the
submodules that need them, never here, and the library never imports streamlit.
"""

from interp.core.errors import InterpError

__version__ = "0.1.0"
__all__ = ["InterpError", "__version__"]
