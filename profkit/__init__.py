"""profkit: where LLM inference time goes on NVIDIA (and AMD) GPUs, and what to change.

The front door for notebooks and scripts (`profkit.api`):

    import profkit
    a = profkit.analyze("traces/samples/h200_llama3-8b_int8_b1.pt.trace.json.gz")
    a.phases["decode"].verdict.sentence, a.to_frame(), a.to_dict()

    load_trace, analyze, compare, recommend, estimate, runs   -- results have to_dict() and to_frame()
    GPU_CATALOG, get_gpu, GpuSpec                              -- the GPU catalog
    ProfkitError, TraceError                                   -- what they raise

Layout (data flows one way):
  profkit.capture   -- running the model under torch.profiler (imports torch; never on the analysis path)
  profkit.trace     -- reading a Kineto trace once into a compact columnar model, cached
  profkit.store     -- the run store: folder layout, the one walker, manifests, results files
  profkit.analyses  -- pure functions over the trace model returning dataclasses
  profkit.api, profkit.report, profkit.cli, profkit.dashboard -- front ends

Names are imported on first use, so `import profkit` stays cheap (the command line pays for nothing
it does not run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "load_trace": "profkit.api",
    "analyze": "profkit.api",
    "compare": "profkit.api",
    "recommend": "profkit.api",
    "estimate": "profkit.api",
    "runs": "profkit.api",
    "GPU_CATALOG": "profkit.hardware.catalog",
    "GpuSpec": "profkit.hardware.catalog",
    "get_gpu": "profkit.hardware.catalog",
    "ProfkitError": "profkit.errors",
    "TraceError": "profkit.errors",
}
__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 -- _EXPORTS' keys are the names, all strings

if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports on first use
    from profkit.api import analyze as analyze
    from profkit.api import compare as compare
    from profkit.api import estimate as estimate
    from profkit.api import load_trace as load_trace
    from profkit.api import recommend as recommend
    from profkit.api import runs as runs
    from profkit.errors import ProfkitError as ProfkitError
    from profkit.errors import TraceError as TraceError
    from profkit.hardware.catalog import GPU_CATALOG as GPU_CATALOG
    from profkit.hardware.catalog import GpuSpec as GpuSpec
    from profkit.hardware.catalog import get_gpu as get_gpu


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'profkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
