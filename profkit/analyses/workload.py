"""What a trace measured: precision, batch size, prompt length, execution mode and model shape.

A trace written by `profkit run` embeds its run manifest, which says all of this; the fields are
read from there first. Any field the manifest does not give is derived from what the trace itself
shows, never from its file name:

  precision   -- bitsandbytes ops mean `int8` (LLM.int8) or `nf4` (4-bit); otherwise the dtype of
                 the GEMMs' weight operands (recorded `Input type`), weighted by weight size
  batch_size  -- sequences per step: a serving engine's step annotations (the most common batch of
                 its decode steps, else of its prefill steps), else the index tensor of
                 `aten::embedding` ([B, S]; serving engines' flat [tokens] index says nothing)
  prompt_len  -- prompt tokens per sequence of the engine's prefill steps, else S of the embedding
                 lookup that takes more than one token per sequence (prefill)
  mode        -- `compiled` when the trace replays CUDA graphs or runs torch.compile regions or
                 Triton kernels, else `eager`
  model       -- vocabulary and hidden size from the embedding table, layer count from the
                 attention calls per forward pass, intermediate size from the largest linear;
                 named after `profkit.models.LLAMA_CONFIGS` when the numbers match an entry
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profkit.analyses.vocabulary import is_graph_launch
from profkit.trace.model import NO_ID, Trace

WORKLOAD_FIELDS = ("precision", "batch_size", "prompt_len", "mode")

_EMBEDDING_OPS = ("aten::embedding",)
_INT8_MARKERS = ("bitsandbytes::int8_", "MatMul8bitLt")
_NF4_MARKERS = ("bitsandbytes::gemv_4bit", "bitsandbytes::dequantize_4bit", "MatMul4Bit")
_COMPILED_OP_MARKERS = ("Torch-Compiled Region", "CompiledFunction", "CUDAGraphNode")
# GEMM ops whose weight operand is [K, N] (index 1, or 2 for addmm); int8_linear_matmul's is [N, K].
_WEIGHT_OPERAND = {"aten::mm": 1, "aten::addmm": 2, "aten::_scaled_mm": 1, "aten::linear": 1, "aten::matmul": 1}
_PRECISION_BY_TYPE = {
    "c10::BFloat16": "bf16",
    "c10::Half": "fp16",
    "float": "fp32",
    "c10::Float8_e4m3fn": "fp8",
    "c10::Float8_e5m2": "fp8",
}


@dataclass(frozen=True)
class ModelSignature:
    """Architecture numbers a trace shows (None where it does not)."""

    vocab_size: int | None
    hidden_size: int | None
    num_layers: int | None
    intermediate_size: int | None

    def known(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def conflicts(self, other: ModelSignature) -> list[str]:
        """Fields known on both sides that differ, as 'name a vs b'."""
        mine, theirs = self.known(), other.known()
        return [f"{k.replace('_', ' ')} {mine[k]} vs {theirs[k]}" for k in mine if k in theirs and mine[k] != theirs[k]]

    def describe(self) -> str:
        parts = []
        if self.vocab_size:
            parts.append(f"vocab {self.vocab_size}")
        if self.hidden_size:
            parts.append(f"hidden {self.hidden_size}")
        if self.num_layers:
            parts.append(f"{self.num_layers} layers")
        if self.intermediate_size:
            parts.append(f"intermediate {self.intermediate_size}")
        return ", ".join(parts)


@dataclass
class Workload:
    """What one trace measured. `source`: 'manifest', 'trace' or 'manifest+trace'."""

    precision: str | None
    batch_size: int | None
    prompt_len: int | None
    mode: str | None
    model_hint: str | None  # a LLAMA_CONFIGS name, the manifest's model name, or the shape in words
    source: str
    model: ModelSignature = field(default_factory=lambda: ModelSignature(None, None, None, None))
    evidence: dict = field(default_factory=dict)  # field -> how it was found

    def key(self) -> tuple:
        """What pairs configurations across runs: (precision, batch_size, prompt_len, mode)."""
        return (self.precision, self.batch_size, self.prompt_len, self.mode)

    def label(self) -> str:
        parts = [self.precision or "?", f"b{self.batch_size}" if self.batch_size else "b?"]
        if self.prompt_len:
            parts.append(f"p{self.prompt_len}")
        if self.mode:
            parts.append(self.mode)
        return " ".join(parts)


def describe_workload(trace: Trace, analysis=None) -> Workload:
    """The workload of `trace`: from its embedded manifest where present, else from its events.

    `analysis` (a `TraceAnalysis`, optional) is accepted so callers that have one can pass it; the
    trace alone is enough.
    """
    from_manifest = _from_manifest(trace.manifest)
    derived = _from_trace(trace)
    values, evidence, used = {}, {}, set()
    for name in (*WORKLOAD_FIELDS, "model_hint"):
        if from_manifest.get(name) is not None:
            values[name], evidence[name] = from_manifest[name], "run manifest"
            used.add("manifest")
        else:
            values[name], evidence[name] = derived["values"].get(name), derived["evidence"].get(name, "not found in the trace")
            if values[name] is not None:
                used.add("trace")
    signature = from_manifest.get("signature") or derived["signature"]
    source = "+".join(s for s in ("manifest", "trace") if s in used) or "none"
    return Workload(
        precision=values["precision"],
        batch_size=values["batch_size"],
        prompt_len=values["prompt_len"],
        mode=values["mode"],
        model_hint=values["model_hint"],
        source=source,
        model=signature,
        evidence=evidence,
    )


# ---- manifest ----------------------------------------------------------------------------------
def _from_manifest(manifest: dict | None) -> dict:
    if not manifest:
        return {}
    config = c if isinstance(c := manifest.get("config"), dict) else {}
    model = m if isinstance(m := manifest.get("model"), dict) else {}
    out = {k: config.get(k) for k in WORKLOAD_FIELDS}
    out["model_hint"] = model.get("name")
    shape = model.get("shape") if isinstance(model.get("shape"), dict) else None
    if shape:
        out["signature"] = ModelSignature(shape.get("vocab_size"), shape.get("hidden_size"), shape.get("num_layers"), shape.get("intermediate_size"))
    return out


# ---- trace ---------------------------------------------------------------------------------------
def _from_trace(trace: Trace) -> dict:
    """Every derived field, memoised on the trace."""
    if "workload" in trace.memo:
        return trace.memo["workload"]
    names = trace.strings
    op_names = Counter(trace.ops.name_id.tolist())
    present = {names[i]: n for i, n in op_names.items() if i >= 0}
    values: dict[str, Any] = {}
    evidence: dict[str, str] = {}
    values["precision"], evidence["precision"] = _precision(trace, present)
    (batch, prompt, vocab, hidden), evidence_emb = _embedding_facts(trace)
    values["batch_size"], values["prompt_len"] = batch, prompt
    evidence["batch_size"] = evidence["prompt_len"] = evidence_emb
    engine_batch, engine_prompt = _engine_facts(trace)
    if engine_batch is not None:
        values["batch_size"], evidence["batch_size"] = engine_batch, "the serving engine's step annotations (most common batch)"
    if engine_prompt is not None:
        values["prompt_len"], evidence["prompt_len"] = engine_prompt, "the serving engine's prefill step annotations (prompt tokens per sequence)"
    values["mode"], evidence["mode"] = _mode(trace, present)
    layers = _layers(trace, present)
    intermediate = _intermediate(trace, hidden, vocab)
    signature = ModelSignature(vocab, hidden, layers, intermediate)
    values["model_hint"], evidence["model_hint"] = _model_name(signature)
    result = {"values": values, "evidence": evidence, "signature": signature}
    trace.memo["workload"] = result
    return result


def _precision(trace: Trace, present: dict) -> tuple[str | None, str]:
    if any(n.startswith(_NF4_MARKERS) for n in present):
        return "nf4", "bitsandbytes 4-bit ops in the trace"
    if any(n.startswith(_INT8_MARKERS) for n in present):
        return "int8", "bitsandbytes int8 ops (LLM.int8) in the trace"
    weight: Counter = Counter()
    for (name_id, dims_id, types_id), calls in _op_signatures(trace, set(_WEIGHT_OPERAND)).items():
        op = trace.name(name_id)
        dims, types = trace.json_list(dims_id), trace.json_list(types_id)
        i = _WEIGHT_OPERAND[op]
        if len(dims) > i and len(types) > i and isinstance(dims[i], list) and len(dims[i]) == 2:
            precision = _PRECISION_BY_TYPE.get(types[i])
            if precision:
                weight[precision] += int(np.prod(dims[i])) * calls
    if not weight:
        return None, "no GEMM with recorded input types (profile with record_shapes=True)"
    precision = weight.most_common(1)[0][0]
    return precision, f"dtype of the GEMM weight operands ({precision})"


def _op_signatures(trace: Trace, op_names: set[str]) -> dict[tuple[int, int, int], int]:
    """(name_id, dims_id, types_id) -> number of calls, for the ops named."""
    ids = [i for i in (trace.string_id(n) for n in op_names) if i != NO_ID]
    if not ids:
        return {}
    ops = trace.ops
    sel = np.isin(ops.name_id, ids)
    if not sel.any():
        return {}
    keys = np.stack([ops.name_id[sel], ops.dims_id[sel], ops.types_id[sel]], axis=1).astype(np.int64)
    unique, counts = np.unique(keys, axis=0, return_counts=True)
    return {(int(name), int(dims), int(types)): int(c) for (name, dims, types), c in zip(unique, counts)}


def _engine_facts(trace: Trace) -> tuple[int | None, int | None]:
    """(batch, prompt length) from a serving engine's step annotations; None where they do not say."""
    from profkit.analyses.engines import batch_sizes, engine_steps, most_common

    steps = engine_steps(trace)
    if not steps:
        return None, None
    batch = most_common(batch_sizes(steps, "decode")) or most_common(batch_sizes(steps, "prefill")) or most_common(batch_sizes(steps, "mixed"))
    prompts = [
        s.batch.prefill_tokens // s.batch.prefill_requests
        for s in steps
        if s.batch.phase == "prefill" and s.batch.prefill_requests and s.batch.prefill_tokens and s.batch.prefill_tokens % s.batch.prefill_requests == 0
    ]
    return batch, most_common(prompts)


def _embedding_facts(trace: Trace) -> tuple[tuple, str]:
    """(batch, prompt_len, vocab, hidden) from aten::embedding(weight[V, H], indices[B, S])."""
    batches: Counter = Counter()
    prompts: Counter = Counter()
    vocab = hidden = None
    for (_, dims_id, _), n in _op_signatures(trace, set(_EMBEDDING_OPS)).items():
        dims = trace.json_list(dims_id)
        if len(dims) < 2 or not _is_shape(dims[0], 2) or not _is_shape(dims[1]):
            continue
        vocab, hidden = dims[0]
        indices = dims[1]
        if len(indices) < 2:
            continue  # a flat [tokens] index (serving engines pack every sequence): batch unknown
        batches[int(np.prod(indices[:-1]))] += n
        if indices[-1] > 1:
            prompts[indices[-1]] += n
    if not batches:
        reason = "aten::embedding takes a flat [tokens] index (sequences packed): batch not shown" if vocab else "no aten::embedding with recorded shapes"
        return (None, None, vocab, hidden), reason
    batch = batches.most_common(1)[0][0]
    prompt = max(prompts) if prompts else None
    return (batch, prompt, vocab, hidden), "the token-index shape [batch, tokens] of aten::embedding"


def _mode(trace: Trace, present: dict) -> tuple[str, str]:
    if any(is_graph_launch(n) for n in trace.names(np.unique(trace.runtime.name_id))):
        return "compiled", "CUDA/HIP graph replays (cudaGraphLaunch/hipGraphLaunch)"
    if any(n.startswith(_COMPILED_OP_MARKERS) or n.startswith("triton_") for n in present):
        return "compiled", "torch.compile regions / Triton kernels"
    if len(trace.gpu) and any(n.startswith("triton_") for n in trace.names(np.unique(trace.gpu.name_id))):
        return "compiled", "Triton kernels"
    return "eager", "no CUDA graphs, compiled regions or Triton kernels"


def _layers(trace: Trace, present: dict) -> int | None:
    """Attention calls per forward pass (per embedding lookup), over the steps where both are visible."""
    emb = sum(n for name, n in present.items() if name in _EMBEDDING_OPS)
    attn = present.get("aten::scaled_dot_product_attention", 0)
    if not emb or not attn:
        return None
    ops = trace.ops
    emb_ids = [trace.string_id(n) for n in _EMBEDDING_OPS]
    attn_id = trace.string_id("aten::scaled_dot_product_attention")
    emb_ts = np.sort(ops.ts_ns[np.isin(ops.name_id, emb_ids)])
    attn_ts = np.sort(ops.ts_ns[ops.name_id == attn_id])
    # Attention calls between one embedding lookup and the next belong to that forward pass.
    per_pass = np.diff(np.searchsorted(attn_ts, np.append(emb_ts, np.iinfo(np.int64).max)))
    per_pass = per_pass[per_pass > 0]
    return int(np.median(per_pass)) if len(per_pass) else None


def _intermediate(trace: Trace, hidden: int | None, vocab: int | None) -> int | None:
    """The largest output width of a hidden-wide linear other than the vocabulary projection."""
    if not hidden:
        return None
    best = None
    for _, dims_id, _ in _op_signatures(trace, {"aten::linear", "MatMul8bitLt"}):
        dims = trace.json_list(dims_id)
        if len(dims) >= 2 and _is_shape(dims[1], 2):
            out_features, in_features = dims[1]
            if in_features == hidden and out_features != vocab and out_features > hidden:
                best = max(best or 0, out_features)
    return best


def _model_name(signature: ModelSignature) -> tuple[str | None, str]:
    from profkit.models import LLAMA_CONFIGS

    if not signature.known():
        return None, "no embedding shape in the trace"
    for name, shape in LLAMA_CONFIGS.items():
        ref = ModelSignature(shape.vocab_size, shape.hidden_size, shape.num_layers, shape.intermediate_size)
        if not signature.conflicts(ref) and len(signature.known()) >= 3:
            return name, f"shapes match profkit.models {name}: {signature.describe()}"
    return signature.describe(), "shapes in the trace"


def _is_shape(value, rank: int | None = None) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(d, int) for d in value) and (rank is None or len(value) == rank)
