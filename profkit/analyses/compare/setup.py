"""Set-up facts of a trace (workload, model, hardware, software), the two sides' facts side by side,
and whether two traces were taken with the same set-up (repeats)."""

from __future__ import annotations

from typing import Any

from profkit.analyses.compare.model import SetupField, Side
from profkit.analyses.summary import TraceAnalysis
from profkit.analyses.workload import Workload, describe_workload
from profkit.trace.metadata import cuda_version_text, hip_version_text
from profkit.trace.model import Trace

_SETUP_SOFTWARE = (
    ("driver_version", "NVIDIA driver"),
    ("cuda_driver", "CUDA driver API"),
    ("cuda_runtime", "CUDA runtime"),
    ("cupti", "CUPTI"),
    ("hip_driver", "HIP driver"),
    ("hip_runtime", "HIP runtime"),
    ("roctracer", "roctracer"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("bitsandbytes", "bitsandbytes"),
    ("cudnn", "cuDNN"),
)
_WORKLOAD_FIELDS = (("precision", "precision"), ("batch_size", "batch"), ("prompt_len", "prompt length"), ("mode", "mode"))


def setup_facts(trace: Trace, analysis: TraceAnalysis, workload: Workload) -> dict[str, tuple[str, str, Any]]:
    """name -> (label, kind, value) of everything that describes how a trace was taken."""
    md = analysis.metadata
    manifest = trace.manifest or {}
    env = e if isinstance(e := manifest.get("environment"), dict) else {}
    facts: dict[str, tuple[str, str, Any]] = {
        "model": ("model", "model", workload.model_hint or (workload.model.describe() or None)),
        "precision": ("precision", "workload", workload.precision),
        "batch_size": ("batch", "workload", workload.batch_size),
        "prompt_len": ("prompt length", "workload", workload.prompt_len),
        "mode": ("mode", "workload", workload.mode),
        "gpu_name": ("GPU", "hardware", md.gpu_name or env.get("gpu_name")),
        "sm_count": ("SMs", "hardware", md.sm_count or env.get("gpu_sm_count")),
        "memory_bytes": ("GPU memory", "hardware", md.memory_bytes or env.get("gpu_total_mem_bytes")),
        "compute_capability": ("compute capability", "hardware", md.compute_capability or env.get("gpu_compute_capability")),
    }
    software = _software_versions(analysis, env)
    for name, label in _SETUP_SOFTWARE:
        facts[name] = (label, "software", software[name])
    return facts


def _software_versions(analysis: TraceAnalysis, env: dict) -> dict[str, Any]:
    """Driver, CUDA/HIP and library versions: from the trace's metadata, else the run manifest."""
    md = analysis.metadata
    return {
        "driver_version": env.get("driver_version"),
        "cuda_driver": cuda_version_text(md.cuda_driver_version),
        "cuda_runtime": env.get("cuda_runtime") or cuda_version_text(md.cuda_runtime_version),
        "cupti": md.cupti_version,
        "hip_driver": hip_version_text(md.hip_driver_version),
        "hip_runtime": hip_version_text(md.hip_runtime_version),
        "roctracer": md.roctracer_version,
        "torch": env.get("torch"),
        "transformers": env.get("transformers"),
        "bitsandbytes": env.get("bitsandbytes"),
        "cudnn": env.get("cudnn"),
    }


def setup_fields(base: Side, cand: Side) -> list[SetupField]:
    """The set-up facts known on either side, side by side (facts unknown on both are left out)."""
    a = setup_facts(base.traces[0], base.analyses[0], base.workload)
    b = setup_facts(cand.traces[0], cand.analyses[0], cand.workload)
    fields = []
    for name, (label, kind, value) in a.items():
        other = b[name][2]
        if value is None and other is None:
            continue
        fields.append(SetupField(name, label, kind, value, other, value is not None and other is not None and value != other))
    return fields


def workload_differences(a: Workload, b: Workload) -> list[str]:
    """'batch differs: 1 vs 16' for each workload fact known on both sides and unequal."""
    out = []
    for name, label in _WORKLOAD_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None and x != y:
            out.append(f"{label} differs: {x} vs {y}")
    return out


def same_setup(a: tuple[Trace, TraceAnalysis], b: tuple[Trace, TraceAnalysis]) -> bool:
    """Whether two traces were taken with the same workload, model, GPU and software (repeats)."""
    fa = setup_facts(a[0], a[1], describe_workload(*a))
    fb = setup_facts(b[0], b[1], describe_workload(*b))
    return all(fa[k][2] == fb[k][2] for k in fa)
