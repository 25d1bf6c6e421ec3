"""Which evidence one `recommend` call reasons from: one model, measured on GPUs.

Advice is about deploying one model on a GPU. A run on the CPU says nothing about a GPU deployment,
and two models' measurements do not make one batch curve or one precision comparison: mixed, they
give advice such as "tiny on an A100 ... max batch 9987". `select_evidence` keeps the GPU evidence
of one model (the one asked for, else the one most measured) and says what it set aside and why;
`nothing_reason` says why a set of evidence yields no advice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from profkit.analyses.evidence import CPU, DEFAULT_MODEL, RecommendInputs
from profkit.analyses.recommend.model import EIGHT_BIT, SIXTEEN_BIT
from profkit.errors import ProfkitError
from profkit.models import LLAMA_CONFIGS

UNKNOWN_MODEL = "an unnamed model"


def select_evidence(inputs: RecommendInputs, model: str | None = None) -> RecommendInputs:
    """The GPU evidence of one model, with `set_aside` saying what was left out and why.

    `model`: a `profkit.models.model_shape` name or config.json path; its evidence is kept (when the
    evidence names no model, the shape given is taken to be it). None: the model with the most
    measurements. Raises ProfkitError when the model asked for is not in the evidence.
    """
    from profkit.models import model_shape

    requested = model_shape(model) if model else None
    names = _model_names(inputs)
    other_work = [(kind, item) for kind, item in _items(inputs) if kind == "trace" and not _is_llm_inference(item)]
    other_ids = {id(item) for _, item in other_work}
    llm_items = [(kind, item) for kind, item in _items(inputs) if id(item) not in other_ids]
    gpu_items = [(kind, item) for kind, item in llm_items if item.device != CPU]
    cpu_items = [(kind, item) for kind, item in llm_items if item.device == CPU]
    set_aside = list(inputs.set_aside)
    if other_work:
        set_aside.append(
            f"set aside {_count(other_work)} with no prefill or decode step ({_origins(other_work)}): "
            "not LLM inference (training or other work), so they say nothing about serving a model"
        )
    if cpu_items:
        why = "a CPU run says nothing about a GPU deployment" if gpu_items else "there is no GPU run to recommend from; record one with `profkit run` on a GPU"
        set_aside.append(f"set aside {_count(cpu_items)} measured on the CPU ({_origins(cpu_items)}): {why}")
    groups: dict[str, list] = {}
    for kind, item in gpu_items:
        groups.setdefault(names[id(item)], []).append((kind, item))
    chosen = _choose(groups, requested, {names[id(item)] for _, item in cpu_items})
    for name, items in groups.items():
        if name != chosen:
            set_aside.append(
                f"set aside {_count(items)} of {name if name == UNKNOWN_MODEL else 'model ' + name} ({_origins(items)}): advice is for one model at a time"
                + (f"; give --model {name} for its own" if name in LLAMA_CONFIGS else "")
            )
    kept = groups.get(chosen, []) if chosen is not None else []
    configs = [item for kind, item in kept if kind == "config"]
    traces = [item for kind, item in kept if kind == "trace"]
    kept_paths = {str(item.path) for kind, item in kept if kind == "trace"}
    aside_paths = {str(item.path) for kind, item in _items(inputs) if kind == "trace"} - kept_paths
    notes = [n for n in inputs.notes if not any(n.startswith(f"{p}:") for p in aside_paths)]  # notes on evidence set aside are noise
    shape = requested or (inputs.shapes.get(chosen) or LLAMA_CONFIGS.get(chosen) if chosen else None)
    if shape is None:
        shape = LLAMA_CONFIGS[DEFAULT_MODEL]
        if kept:
            notes.append(f"the evidence's model ({chosen}) is not a known shape: modelled figures use {DEFAULT_MODEL}'s; give --model with its config.json")
    used = {str(i.source) for i in configs} | {str(t.path) for t in traces}
    sources = [s for s in inputs.sources if any(u == s or u.startswith(s.rstrip("/") + "/") for u in used)]
    gpus = {i.gpu_name for i in configs} | {t.gpu_name for t in traces}
    return replace(
        inputs,
        model=shape,
        configs=configs,
        traces=traces,
        sources=sources,
        notes=notes,
        set_aside=set_aside,
        ceilings={g: c for g, c in inputs.ceilings.items() if g in gpus},
        model_given=requested is not None,
    )


#: Phases that make a trace LLM inference: profkit's and HF's prefill/decode, a serving engine's mixed step.
INFERENCE_PHASES = frozenset({"prefill", "decode", "mixed"})


def _is_llm_inference(trace) -> bool:
    return bool(INFERENCE_PHASES & set(trace.analysis.phases))


def _items(inputs: RecommendInputs) -> list[tuple[str, Any]]:
    return [("config", c) for c in inputs.configs] + [("trace", t) for t in inputs.traces]


def _model_names(inputs: RecommendInputs) -> dict[int, str]:
    """id(item) -> its model's name. Evidence that names none (a results file) takes the model named
    by the other evidence on its GPU, else the only model named at all."""
    items = _items(inputs)
    named_on_gpu: dict[str | None, set[str]] = {}
    for _, item in items:
        if item.model:
            named_on_gpu.setdefault(item.gpu_name, set()).add(item.model)
    everywhere = {m for ms in named_on_gpu.values() for m in ms}
    out = {}
    for _, item in items:
        if item.model:
            out[id(item)] = item.model
            continue
        here = named_on_gpu.get(item.gpu_name, set())
        candidates = here if len(here) == 1 else everywhere if len(everywhere) == 1 else set()
        out[id(item)] = next(iter(candidates)) if candidates else UNKNOWN_MODEL
    return out


def _choose(groups: dict[str, list], requested, cpu_models: set[str]) -> str | None:
    if not groups:
        return None  # nothing on a GPU: `nothing_reason` says so
    if requested is not None:
        if requested.name in groups:
            return requested.name
        unnamed = [g for g in groups if g not in LLAMA_CONFIGS]
        if len(groups) == 1 and unnamed:
            return unnamed[0]  # the evidence does not name its model the way the shape given does: take it to be it
        where = " (it was measured only on the CPU)" if requested.name in cpu_models else ""
        raise ProfkitError(f"model {requested.name}: no GPU evidence of it here{where}; found {', '.join(sorted(groups))}")
    return max(groups, key=lambda name: (_has_decode(groups[name]), len(groups[name]), name in LLAMA_CONFIGS, name != UNKNOWN_MODEL, name))


def _has_decode(items: list) -> bool:
    """Whether the evidence measures generation: a timed configuration, or a trace with decode steps."""
    return any(kind == "config" or "decode" in item.analysis.phases for kind, item in items)


def _count(items: list) -> str:
    counts = Counter(kind for kind, _ in items)
    parts = []
    if counts["config"]:
        parts.append(f"{counts['config']} timed configuration{'s' if counts['config'] != 1 else ''}")
    if counts["trace"]:
        parts.append(f"{counts['trace']} trace{'s' if counts['trace'] != 1 else ''}")
    return " and ".join(parts)


def _origins(items: list, limit: int = 3) -> str:
    """Where the items come from: run folders (of manifests) and files, by name."""
    names = []
    for kind, item in items:
        path = Path(item.source if kind == "config" else item.path)
        name = path.parent.name if path.name == "manifest.json" or (path.parent / "manifest.json").exists() else path.name
        if name not in names:
            names.append(name)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def nothing_reason(inputs: RecommendInputs) -> str:
    """Why this evidence gives no recommendation, in one sentence."""
    if not inputs.configs and not inputs.traces:
        if any("measured on the CPU" in s for s in inputs.set_aside):
            return "Nothing to recommend: no GPU run -- everything here was measured on the CPU; record a run on a GPU with `profkit run`."
        return "Nothing to recommend: no evidence left for one model on a GPU (see what was set aside)."
    precisions = {c.precision for c in inputs.configs if c.ok} | {t.precision for t in inputs.traces}
    batches = {c.batch_size for c in inputs.configs if c.ok} | {t.batch_size for t in inputs.traces}
    missing = []
    if not (precisions & set(EIGHT_BIT) and precisions & set(SIXTEEN_BIT)):
        missing.append(f"no int8-vs-16-bit comparison (precisions measured: {', '.join(sorted(p for p in precisions if p)) or 'none'})")
    if len({b for b in batches if b}) < 2:
        missing.append("no batch curve (one batch size measured)")
    if not any("decode" in t.analysis.phases for t in inputs.traces):
        missing.append("no decode trace to tell whether the host holds the GPU back")
    return "Nothing to recommend from these inputs: " + ("; ".join(missing) if missing else "no change beats what was measured") + "."
