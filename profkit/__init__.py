"""profkit: where LLM inference time goes on NVIDIA GPUs, and what to change.

Layout (data flows one way):
  profkit.capture   -- running the model under torch.profiler (imports torch; never on the analysis path)
  profkit.trace     -- reading a Kineto trace once into a compact columnar model, cached
  profkit.store     -- beside it, the run store: folder layout, one walker, manifest schema, results
                       files, loose traces joined with what is known about them
  profkit.analyses  -- pure functions over the trace model returning dataclasses
  profkit.report, profkit.cli, dashboards/ -- front ends
"""

__version__ = "0.1.0"
