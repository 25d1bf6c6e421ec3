"""Achieved memory bandwidth and FLOP rate, from the shapes and dtypes the profiler recorded.

Bytes an operator moves are modelled from its recorded input shapes and dtypes: for GEMM ops the two
operands plus the output (weights dominate in decode); for attention the query and output plus the
KV cache it *reads*:
  - dense layout (query [B, H, S, D], as Hugging Face passes it): the key and value tensors given,
    which hold exactly the context attended;
  - packed layout (query [tokens, H, D], as serving engines pass it): never the tensors given, which
    are the allocated paged pool (gigabytes, mostly empty), but the context tokens the engine
    annotated for the step (vLLM's `sk` fields) x the bytes of one token's key and value (from the
    new-token K/V the step writes, in the pool's dtype) per attention call. Without annotated context
    lengths the KV read is unknown and the report says so.
GEMM kernels launched by an op that is not a GEMM op (a fused MoE layer, a custom op) have no
modelled bytes either: their weights are not among the recorded inputs.

Per GEMM call, achieved bandwidth = bytes / the summed duration of the kernels it launched (a
split-K GEMM launches two). Per step, the bytes the step must read = its GEMM and attention bytes;
achieved bandwidth over GPU busy time and over wall time, and MBU = achieved / the GPU's DRAM
bandwidth. MFU = the ops' FLOPs (as recorded by the profiler, else 2*M*N*K from the shapes) / busy
time / the GPU's tensor peak for the dominant GEMM dtype.

A figure above what any GPU can do (bandwidth above the GPU's, or above every catalog GPU's, MBU or
MFU over 100%) means the model of bytes or FLOPs is wrong for this trace: it is withheld and listed in
`violations`, never reported as a measurement.

Kernels replayed inside CUDA/HIP graphs carry no shapes; such steps have no shape-based bytes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses.kernels import ATTENTION, CATEGORIES, CONVOLUTION, GEMM_CATEGORIES, KV_CACHE, categorize
from profkit.analyses.steps import Step
from profkit.errors import ProfkitError
from profkit.hardware.catalog import GPU_CATALOG, GpuSpec, dtype_key
from profkit.trace.model import Trace

DTYPE_BYTES = {
    "c10::BFloat16": 2,
    "c10::Half": 2,
    "float": 4,
    "double": 8,
    "signed char": 1,
    "unsigned char": 1,
    "bool": 1,
    "short int": 2,
    "int": 4,
    "long int": 8,
    "c10::Float8_e4m3fn": 1,
    "c10::Float8_e5m2": 1,
    "c10::Float8_e4m3fnuz": 1,
    "c10::Float8_e5m2fnuz": 1,
}
_MM_OPS = {"aten::mm", "aten::bmm", "aten::_int_mm", "aten::matmul"}
_ADDMM_OPS = {"aten::addmm", "aten::baddbmm"}
_NK_WEIGHT_OPS = {"bitsandbytes::int8_linear_matmul"}  # B is [N, K] (out_features, in_features)
_INT32_OUT_OPS = {"bitsandbytes::int8_linear_matmul", "aten::_int_mm"}
# Weight-quantized GEMMs: every recorded input is read (activation, weight at its stored width --
# int8 1 byte, int4 packed 0.5 byte --, scales and zeros) and the output is rows(A) x N in A's dtype.
# N sits at (input index, dim index): int8pack B [N, K]; int4pack qScaleAndZeros [K/group, N, 2];
# _scaled_mm B [K, N] (its output dtype is not recorded: torchao asks for bf16, OUTPUT_BYTES).
QUANTIZED_GEMM_N = {
    "aten::_weight_int8pack_mm": (1, 0),
    "aten::_weight_int4pack_mm": (3, 1),
    "aten::_weight_int4pack_mm_for_cpu": (3, 1),
    "aten::_scaled_mm": (1, 1),
}
_QUANTIZED_OUTPUT_BYTES = {"aten::_scaled_mm": 2}
_INT8 = "signed char"
_GEMM_IDXS = frozenset(CATEGORIES.index(c) for c in GEMM_CATEGORIES)
_KV_CACHE_IDX = CATEGORIES.index(KV_CACHE)
_MODELLED_GEMM_OPS = _MM_OPS | _ADDMM_OPS | _NK_WEIGHT_OPS | set(QUANTIZED_GEMM_N)
MAX_BANDWIDTH_GBPS = max(spec.bandwidth_gbps for spec in GPU_CATALOG.values())
"""No GPU in the catalog moves more than this: a higher figure is impossible whatever the GPU."""
_ATTENTION_IDX = CATEGORIES.index(ATTENTION)
_CONVOLUTION_IDX = CATEGORIES.index(CONVOLUTION)


@dataclass
class GemmRow:
    """One GEMM shape as launched by one op, aggregated over its calls in a phase."""

    op: str
    input_dims: str
    input_types: str
    kernel: str  # the longest kernel of the call (the GEMM proper, not a split-K reduce)
    calls: int
    bytes_per_call: int
    mean_us: float
    achieved_gbps: float
    fraction_of_peak: float | None
    flops_per_call: float
    achieved_tflops: float


@dataclass
class PhaseBandwidth:
    """Bytes and FLOPs per steady step and the rates they imply. None where not computable."""

    phase: str
    bytes_per_step: float | None
    bytes_source: str  # "shapes", "shapes (partial: N graph-replayed kernels without shapes)" or "unavailable: ..."
    gemm_bytes_per_step: float | None
    attention_bytes_per_step: float | None
    achieved_bandwidth_gbps: float | None  # over GPU busy time
    achieved_bandwidth_wall_gbps: float | None  # over wall time
    mbu: float | None  # over busy time, against peak_bandwidth_gbps
    mbu_wall: float | None
    flops_per_step: float | None
    achieved_tflops: float | None  # over GPU busy time
    mfu: float | None
    peak_bandwidth_gbps: float | None
    peak_tflops: float | None
    compute_dtype: str | None
    gemms: list[GemmRow] = field(default_factory=list)
    kv_read_bytes_per_step: float | None = None  # KV cache attention reads per step (included in attention bytes)
    kv_source: str = ""  # how the KV read was modelled, or why it is unknown
    lower_bound: bool = False  # bytes/FLOPs cover only part of the phase's work: MBU/MFU are lower bounds
    unmodelled: list[str] = field(default_factory=list)  # what the byte/FLOP model leaves out, in words
    violations: list[str] = field(default_factory=list)  # impossible figures found (and withheld)


def tensor_bytes(dims, dtype: str) -> int:
    if not isinstance(dims, list) or not dims or not all(isinstance(d, int) for d in dims):
        return 0
    return math.prod(dims) * DTYPE_BYTES.get(dtype, 0)


def op_bytes(op: str, dims: list, types: list) -> int:
    """Bytes an op reads and writes, modelled from its recorded inputs."""
    if not dims:
        return 0
    quantized = quantized_gemm_cost(op, dims, types)
    if quantized is not None:
        return quantized[0]
    pairs = list(zip(dims, types))
    if op in _MM_OPS or op in _NK_WEIGHT_OPS or op in _ADDMM_OPS:
        operands = pairs[1:3] if op in _ADDMM_OPS else pairs[:2]
        read = sum(tensor_bytes(d, t) for d, t in operands)
        if op in _ADDMM_OPS:
            read += tensor_bytes(*pairs[0])
        return read + _gemm_output_bytes(op, operands)
    read = sum(tensor_bytes(d, t) for d, t in pairs)
    out = tensor_bytes(*pairs[0]) if pairs else 0  # attention output has the query's shape
    return read + out


def quantized_gemm_cost(op: str, dims: list, types: list) -> tuple[int, float] | None:
    """(bytes, FLOPs) of one call of a weight-quantized GEMM (QUANTIZED_GEMM_N) or of an Inductor Triton
    kernel that reads int8 (torchao int8 weight-only, fused): every tensor argument once, the kernel's
    output being one of them. None for other ops or shapes that do not fit."""
    pairs = list(zip(dims, types))
    read = sum(tensor_bytes(d, t) for d, t in pairs)
    if op.startswith("triton_") and _INT8 in types:
        return read, 0.0
    where = QUANTIZED_GEMM_N.get(op)
    if where is None:
        return None
    try:
        a = dims[0]
        n = int(dims[where[0]][where[1]])
        rows, k = math.prod(a[:-1]), int(a[-1])
    except (TypeError, IndexError, ValueError):
        return None
    out_elem = _QUANTIZED_OUTPUT_BYTES.get(op) or DTYPE_BYTES.get(types[0] if types else "", 2)
    return read + rows * n * out_elem, 2.0 * rows * n * k


def _modelled(call: dict) -> bool:
    """Whether the byte/FLOP model knows the GEMM op of `call` (an `_op_calls` entry)."""
    return call["op"] in _MODELLED_GEMM_OPS or (call["op"].startswith("triton_") and _INT8 in call["types"])


def _gemm_output_bytes(op: str, operands) -> int:
    if len(operands) < 2:
        return 0
    (a, a_type), (b, _) = operands
    if not (isinstance(a, list) and isinstance(b, list) and len(a) >= 2 and len(b) >= 2):
        return 0
    shape = gemm_shape(op, a, b)
    if shape is None:
        return 0
    batch, m, n, _ = shape
    elem = 4 if op in _INT32_OUT_OPS else DTYPE_BYTES.get(a_type, 2)
    return batch * m * n * elem


def gemm_shape(op: str, a: list, b: list) -> tuple[int, int, int, int] | None:
    """(batch, M, N, K) of a GEMM of A `a` and B `b` (numpy/torch matmul broadcasting of the batch
    dimensions; a 2-D weight applies to every row of A, so A's leading dimensions fold into M). B is
    [N, K] for the ops that store weights that way. None for shapes that are not matrices."""
    try:
        if len(a) < 2 or len(b) < 2:
            return None
        k = int(a[-1])
        n = int(b[-2] if op in _NK_WEIGHT_OPS else b[-1])
        if len(b) == 2:  # a weight: A's leading dimensions are rows
            return 1, int(math.prod(a[:-1])), n, k
        batch = int(math.prod(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))))
        return batch, int(a[-2]), n, k
    except (TypeError, ValueError):
        return None


def op_flops(op: str, dims: list) -> float:
    """FLOPs from shapes when the profiler recorded none: 2*M*N*K for GEMMs, 4*B*H*Sq*Sk*D for attention."""
    if op in QUANTIZED_GEMM_N:
        quantized = quantized_gemm_cost(op, dims, [])
        return quantized[1] if quantized else 0.0
    try:
        if op in _MM_OPS or op in _NK_WEIGHT_OPS or op in _ADDMM_OPS:
            a, b = (dims[1], dims[2]) if op in _ADDMM_OPS else (dims[0], dims[1])
            shape = gemm_shape(op, a, b)
            if shape is None:
                return 0.0
            batch, m, n, k = shape
            return 2.0 * batch * m * n * k
        q, k = dims[0], dims[1]
        if len(q) == 4 and len(k) == 4:
            b, h, sq, d = q
            return 4.0 * b * h * sq * k[2] * d
    except (TypeError, IndexError, ValueError):
        pass
    return 0.0


def op_gemm_dtype(types: list) -> str | None:
    for t in types[:2]:
        if t in DTYPE_BYTES and t not in ("long int", "bool", "int"):
            try:
                return dtype_key(t.replace("c10::", "").lower() if t.startswith("c10::") else t)
            except ProfkitError:  # a dtype the catalog does not know: no GEMM dtype
                return None
    return None


def weight_bytes_per_step(trace: Trace, steps: list[Step], rows: np.ndarray) -> float:
    """Bytes of GEMM weight operands (the second matrix) read per step, from shapes; 0 without shapes."""
    calls = _op_calls(trace, rows)
    total = 0
    for c in calls.values():
        if c["cat"] in _GEMM_IDXS and _modelled(c) and len(c["dims"]) >= 2:
            operands = list(zip(c["dims"], c["types"]))
            weight = operands[2] if c["op"] in _ADDMM_OPS and len(operands) > 2 else operands[1]
            total += tensor_bytes(*weight)
    return total / max(len(steps), 1)


def phase_bandwidth(
    trace: Trace, phase: str, steps: list[Step], rows: np.ndarray, gpu: GpuSpec | None, fallback_weight_bytes: tuple[float, str] | None = None
) -> PhaseBandwidth:
    """Bandwidth and FLOP figures over the steady `steps` of a phase; `rows` are their GPU activities.

    `fallback_weight_bytes` = (bytes, where from): used when this phase's GEMMs carry no shapes
    (CUDA graph replays), e.g. the weight bytes another phase of the same trace read per step.
    """
    calls = _op_calls(trace, rows)
    n_steps = max(len(steps), 1)
    gemm_calls = {r: c for r, c in calls.items() if c["cat"] in _GEMM_IDXS and _modelled(c)}
    unmodelled = [c for c in calls.values() if c["cat"] in _GEMM_IDXS and not _modelled(c)]
    attn_calls = {r: c for r, c in calls.items() if c["cat"] == _ATTENTION_IDX}
    unshaped = sum(c["n"] for c in gemm_calls.values() if not c["dims"])
    kv = _kv_reads(steps, calls, attn_calls)
    gemm_bytes = sum(c["bytes"] for c in gemm_calls.values()) / n_steps
    attn_bytes = sum(c["bytes"] for c in attn_calls.values()) / n_steps + (kv.bytes_per_step or 0.0)
    total_bytes = gemm_bytes + attn_bytes
    busy_s = float(np.median([s.gpu_busy_ms for s in steps])) / 1e3 if steps else 0.0
    wall_s = float(np.median([s.wall_ms for s in steps])) / 1e3 if steps else 0.0
    flops = sum(c["flops"] for c in calls.values()) / n_steps
    dtype = _dominant_dtype(gemm_calls)
    peak_bw = gpu.bandwidth_gbps if gpu else None
    peak_tf = _peak_tflops(gpu, dtype)
    source = "shapes"
    partial = []
    if unshaped:
        partial.append(f"{unshaped} GEMM calls without shapes, e.g. CUDA graph replays")
    opless = _opless_kernels(trace, rows, n_steps)
    if opless:
        partial.append(opless)
    if unmodelled:
        ops = sorted({c["op"] for c in unmodelled})
        partial.append(
            f"GEMMs launched by {', '.join(ops[:3])}{' ...' if len(ops) > 3 else ''} not modelled (their weights are not among the op's recorded inputs)"
        )
    convolutions = _convolution_kernels(trace, rows, n_steps)
    if convolutions:
        partial.append(convolutions)
    if kv.unknown:
        partial.append(kv.source)
    if total_bytes == 0 and fallback_weight_bytes and fallback_weight_bytes[0]:
        total_bytes, source = fallback_weight_bytes[0], f"modelled: weights only, from {fallback_weight_bytes[1]} (this phase's kernels carry no shapes)"
        gemm_bytes = total_bytes
    elif total_bytes == 0:
        reasons = "; ".join(partial) or "no GEMM shapes recorded (CUDA graph replays carry none; profile with record_shapes=True)"
        source = f"unavailable: {reasons}"
        total_bytes = None
    elif partial:
        source = f"shapes (partial, a lower bound: {'; '.join(partial)})"
    bw = total_bytes / busy_s / 1e9 if total_bytes and busy_s else None
    bw_wall = total_bytes / wall_s / 1e9 if total_bytes and wall_s else None
    tflops = flops / busy_s / 1e12 if flops and busy_s else None
    result = PhaseBandwidth(
        phase=phase,
        bytes_per_step=total_bytes,
        bytes_source=source,
        gemm_bytes_per_step=gemm_bytes if total_bytes else None,
        attention_bytes_per_step=attn_bytes if total_bytes else None,
        achieved_bandwidth_gbps=bw,
        achieved_bandwidth_wall_gbps=bw_wall,
        mbu=bw / peak_bw if bw and peak_bw else None,
        mbu_wall=bw_wall / peak_bw if bw_wall and peak_bw else None,
        flops_per_step=flops or None,
        achieved_tflops=tflops,
        mfu=tflops / peak_tf if tflops and peak_tf else None,
        peak_bandwidth_gbps=peak_bw,
        peak_tflops=peak_tf,
        compute_dtype=dtype,
        gemms=_gemm_rows(trace, gemm_calls, peak_bw),
        kv_read_bytes_per_step=kv.bytes_per_step,
        kv_source=kv.source,
        lower_bound=source.startswith(("shapes (partial", "modelled")),
        unmodelled=partial if total_bytes else [],
    )
    _withhold_impossible(result, gpu)
    return result


def _convolution_kernels(trace: Trace, rows: np.ndarray, n_steps: int) -> str:
    """'N convolution kernels per step (X ms): not modelled' when the phase runs convolutions."""
    conv = categorize(trace)[rows] == _CONVOLUTION_IDX
    if not conv.any():
        return ""
    ms = float(trace.gpu.dur_ns[rows][conv].sum()) / 1e6 / n_steps
    return f"{int(conv.sum()) / n_steps:.0f} convolution kernels per step ({ms:.3f} ms): convolutions' bytes and FLOPs are not modelled"


def _opless_kernels(trace: Trace, rows: np.ndarray, n_steps: int) -> str:
    """'N GEMM and M attention kernels per step have no launching op (graph replays): not modelled'."""
    cats = categorize(trace)[rows]
    opless = trace.gpu_op_row[rows] < 0
    gemm = int((opless & np.isin(cats, list(_GEMM_IDXS))).sum())
    attn = int((opless & (cats == _ATTENTION_IDX)).sum())
    if not gemm and not attn:
        return ""
    parts = [f"{gemm / n_steps:.0f} GEMM" if gemm else "", f"{attn / n_steps:.0f} attention" if attn else ""]
    return (
        f"{' and '.join(p for p in parts if p)} kernels per step have no launching op (CUDA/HIP graph replays, or no CPU ops recorded): "
        "their bytes are not modelled"
    )


def _withhold_impossible(bw: PhaseBandwidth, gpu: GpuSpec | None) -> None:
    """Figures above the physical limit mean the byte or FLOP model is wrong for this trace: list them in
    `violations` and withhold them (None), so no impossible number is ever reported."""
    name = gpu.name if gpu else "any catalog GPU"
    limit = gpu.bandwidth_gbps if gpu else MAX_BANDWIDTH_GBPS
    if bw.achieved_bandwidth_gbps and bw.achieved_bandwidth_gbps > limit:
        assert bw.bytes_per_step is not None, "a bandwidth is measured from modelled bytes"
        bw.violations.append(
            f"{bw.phase}: modelled {bw.bytes_per_step / 1e9:,.2f} GB per step in {bw.bytes_per_step / bw.achieved_bandwidth_gbps / 1e6:.2f} ms of GPU time "
            f"would be {bw.achieved_bandwidth_gbps:,.0f} GB/s, {bw.achieved_bandwidth_gbps / limit:.1f}x the {limit:,.0f} GB/s of {name}: "
            f"the byte model ({bw.bytes_source}) is wrong for this trace; bandwidth and MBU withheld"
        )
        bw.bytes_source = f"withheld: impossible ({bw.achieved_bandwidth_gbps / limit:.1f}x the physical bandwidth); was {bw.bytes_source}"
        bw.bytes_per_step = bw.gemm_bytes_per_step = bw.attention_bytes_per_step = None
        bw.achieved_bandwidth_gbps = bw.achieved_bandwidth_wall_gbps = bw.mbu = bw.mbu_wall = None
        bw.gemms = []
    if bw.mfu is not None and bw.mfu > 1.0:
        bw.violations.append(
            f"{bw.phase}: {bw.achieved_tflops:,.0f} TFLOP/s would be {bw.mfu:.0%} of the {bw.compute_dtype} peak of {name} "
            f"({bw.peak_tflops:,.0f} TFLOP/s): the FLOP count is wrong for this trace; MFU withheld"
        )
        bw.achieved_tflops = bw.mfu = bw.flops_per_step = None


@dataclass
class _KvReads:
    bytes_per_step: float | None
    source: str
    unknown: bool


def _kv_reads(steps: list[Step], calls: dict, attn_calls: dict) -> _KvReads:
    """KV-cache bytes the packed-layout attention calls read per step: annotated context tokens x one
    token's K+V bytes (pool dtype) per call. Dense-layout calls carry their K/V in `bytes` already."""
    packed = {r: c for r, c in attn_calls.items() if c["packed"]}
    if not packed:
        return _KvReads(None, "", False)
    token_bytes = _kv_token_bytes(calls, packed)
    starts = np.array([s.lo_ns for s in steps], dtype=np.int64)
    per_step = (
        np.bincount(np.searchsorted(starts, [c["ts_ns"] for c in packed.values()], side="right") - 1, minlength=len(steps))[: len(steps)]
        if len(steps)
        else np.zeros(0)
    )
    context = [s.context_tokens for s in steps if s.context_tokens is not None]
    if len(context) < len(steps):
        return _KvReads(
            None,
            "KV-cache reads of paged attention unknown: no context lengths annotated (vLLM's sk fields); the allocated pool is not what attention reads",
            True,
        )
    if token_bytes is None:
        return _KvReads(None, "KV-cache reads of paged attention unknown: no new-token key/value shapes recorded to size one token", True)
    total = sum(ctx * token_bytes * n for ctx, n in zip(context, per_step.tolist()))
    n_layers = float(np.median(per_step)) if len(per_step) else 0.0
    return _KvReads(
        total / max(len(steps), 1),
        f"KV reads = annotated context tokens x {token_bytes:,.0f} B per token per layer x {n_layers:.0f} attention calls per step "
        "(an upper bound where layers use a sliding window)",
        False,
    )


def _kv_token_bytes(calls: dict, packed: dict) -> float | None:
    """Bytes of one token's key + value in the KV cache, from the new-token K/V the step writes (the
    KV-cache write ops) or passes to attention, in the cache pool's dtype; median over calls."""
    values = [c["kv_token_bytes"] for c in calls.values() if c["cat"] == _KV_CACHE_IDX and c["kv_token_bytes"]]
    values = values or [c["kv_token_bytes"] for c in packed.values() if c["kv_token_bytes"]]
    return float(np.median(values)) if values else None


def _op_calls(trace: Trace, rows: np.ndarray) -> dict:
    """Group GPU activities by the op call that launched them: duration, category, bytes."""
    cats = categorize(trace)[rows]
    op_rows = trace.gpu_op_row[rows]
    calls: dict[int, dict] = {}
    parsed: dict[tuple[int, int], tuple] = {}
    sizes: dict[tuple, tuple] = {}
    for g, cat, op_row in zip(rows.tolist(), cats.tolist(), op_rows.tolist()):
        if op_row < 0 or (cat not in _GEMM_IDXS and cat != _ATTENTION_IDX and cat != _KV_CACHE_IDX):
            continue
        call = calls.get(op_row)
        if call is None:
            key = (int(trace.ops.dims_id[op_row]), int(trace.ops.types_id[op_row]))
            if key not in parsed:
                parsed[key] = (trace.json_list(key[0]), trace.json_list(key[1]))
            dims, types = parsed[key]
            name = trace.name(int(trace.ops.name_id[op_row]))
            call = calls[op_row] = {
                "op": name,
                "dims": dims,
                "types": types,
                "key": key,
                "cat": cat,
                "dur_ns": 0,
                "kernels": Counter(),
                "n": 1,
                "ts_ns": int(trace.ops.ts_ns[op_row]),
                "packed": False,
                "kv_token_bytes": None,
            }
            _sized(call, cat, float(trace.ops.flops[op_row]), sizes)
        dur = int(trace.gpu.dur_ns[g])
        call["dur_ns"] += dur
        call["kernels"][int(trace.gpu.name_id[g])] += dur
        if cat in _GEMM_IDXS and call["cat"] not in _GEMM_IDXS:
            call["cat"] = cat
            _sized(call, cat, float(trace.ops.flops[op_row]), sizes)
    return calls


def _sized(call: dict, cat: int, recorded_flops: float, sizes: dict) -> None:
    """`_size_call`, once per (op, shapes, category, recorded FLOPs): the same layer repeats every step."""
    key = (call["op"], call["key"], cat, recorded_flops)
    if key not in sizes:
        _size_call(call, cat, recorded_flops)
        sizes[key] = (call["bytes"], call["flops"], call["packed"], call["kv_token_bytes"])
    call["bytes"], call["flops"], call["packed"], call["kv_token_bytes"] = sizes[key]


def _size_call(call: dict, cat: int, recorded_flops: float) -> None:
    """Bytes and FLOPs of an op call by what it is: a GEMM op, attention (dense or packed), a KV-cache write."""
    op, dims, types = call["op"], call["dims"], call["types"]
    call["bytes"], call["flops"], call["packed"], call["kv_token_bytes"] = 0, 0.0, False, None
    if cat in _GEMM_IDXS:
        if _modelled(call):
            call["bytes"] = op_bytes(op, dims, types)
            call["flops"] = float(recorded_flops) or op_flops(op, dims)
    elif cat == _ATTENTION_IDX:
        io = attention_io(dims, types)
        call["bytes"], call["packed"], call["kv_token_bytes"] = io.bytes, io.packed, io.kv_token_bytes
        call["flops"] = float(recorded_flops) or (op_flops(op, dims) if not io.packed else 0.0)
    elif cat == _KV_CACHE_IDX:
        call["kv_token_bytes"] = kv_write_token_bytes(dims, types)


def kv_write_token_bytes(dims: list, types: list) -> float | None:
    """One token's key + value bytes in the cache, from a KV-cache write call (vLLM reshape_and_cache*,
    SGLang store_kvcache: key[T, ...], value[T, ...], the pools, slot mapping[T]): the elements per
    token of the first two inputs with T rows, in the dtype of the pool inputs (an fp8 cache stores 1 B)."""
    pairs = [(d, t) for d, t in zip(dims, types) if isinstance(d, list) and len(d) >= 2 and all(isinstance(x, int) for x in d)]
    if not pairs or not pairs[0][0][0]:
        return None
    tokens = pairs[0][0][0]
    new = [(d, t) for d, t in pairs if d[0] == tokens][:2]
    pool = [(d, t) for d, t in pairs if d[0] != tokens and DTYPE_BYTES.get(t)]
    elem_bytes = DTYPE_BYTES.get(pool[0][1]) if pool else DTYPE_BYTES.get(new[0][1], 0)
    return float(sum(math.prod(d[1:]) for d, _ in new) * elem_bytes) if elem_bytes else None


@dataclass(frozen=True)
class AttentionIO:
    """What an attention (or KV-cache write) call moves besides the KV cache it reads."""

    bytes: int  # query + output (+ explicit key/value in the dense layout)
    packed: bool  # serving-engine layout: [tokens, heads, dim]; the KV read depends on the context lengths
    kv_token_bytes: float | None  # one token's key + value bytes in the cache's dtype (packed layout)


def attention_io(dims: list, types: list) -> AttentionIO:
    """Bytes of an attention-like call from its recorded inputs. Dense layout (query [B, H, S, D]): every
    input plus an output shaped like the query. Packed layout (first input [T, ...]): query and output,
    and one token's K+V from the inputs with T rows (new tokens), counted in the dtype of the inputs with
    other row counts (the paged pool), whose size is never counted."""
    pairs = [(d, t) for d, t in zip(dims, types) if isinstance(d, list) and d and all(isinstance(x, int) for x in d)]
    if not pairs:
        return AttentionIO(0, False, None)
    q, q_type = pairs[0]
    if len(q) == 4:
        return AttentionIO(sum(tensor_bytes(d, t) for d, t in pairs) + tensor_bytes(q, q_type), False, None)
    tokens = q[0]
    new = [(d, t) for d, t in pairs[1:] if d[0] == tokens and len(d) >= 2]
    pool = [(d, t) for d, t in pairs[1:] if d[0] != tokens and len(d) >= 2 and DTYPE_BYTES.get(t)]
    explicit_out = [(d, t) for d, t in new if d == q]  # an output buffer passed in, shaped like the query
    kv_new = [(d, t) for d, t in new if d != q] or new[:2]
    per_token = None
    if kv_new and tokens:
        elements = sum(math.prod(d[1:]) for d, _ in kv_new[:2])
        elem_bytes = DTYPE_BYTES.get(pool[0][1]) if pool else DTYPE_BYTES.get(kv_new[0][1], 0)
        per_token = float(elements * elem_bytes) if elem_bytes else None
    q_out = tensor_bytes(q, q_type) * 2 if not explicit_out else tensor_bytes(q, q_type) + tensor_bytes(*explicit_out[0])
    return AttentionIO(q_out, True, per_token)


def _gemm_rows(trace: Trace, gemm_calls: dict, peak_bw: float | None) -> list[GemmRow]:
    groups: dict[tuple, list] = defaultdict(list)
    for call in gemm_calls.values():
        groups[(call["op"], call["key"])].append(call)
    rows = []
    for (op, key), members in groups.items():
        total_ns = sum(c["dur_ns"] for c in members)
        kernels: Counter = Counter()
        for c in members:
            kernels.update(c["kernels"])
        bytes_per_call = members[0]["bytes"]
        flops = members[0]["flops"]
        mean_s = total_ns / len(members) / 1e9
        gbps = bytes_per_call / mean_s / 1e9 if mean_s and bytes_per_call else 0.0
        rows.append(
            GemmRow(
                op=op,
                input_dims=trace.name(key[0]),
                input_types=trace.name(key[1]),
                kernel=trace.name(kernels.most_common(1)[0][0]),
                calls=len(members),
                bytes_per_call=bytes_per_call,
                mean_us=mean_s * 1e6,
                achieved_gbps=gbps,
                fraction_of_peak=gbps / peak_bw if peak_bw and gbps else None,
                flops_per_call=flops,
                achieved_tflops=flops / mean_s / 1e12 if mean_s and flops else 0.0,
            )
        )
    rows.sort(key=lambda r: -r.mean_us * r.calls)
    return rows


def _dominant_dtype(gemm_calls: dict) -> str | None:
    weight: Counter = Counter()
    for c in gemm_calls.values():
        d = op_gemm_dtype(c["types"])
        if d:
            weight[d] += c["dur_ns"]
    return weight.most_common(1)[0][0] if weight else None


def _peak_tflops(gpu: GpuSpec | None, dtype: str | None) -> float | None:
    if gpu is None or dtype is None:
        return None
    return gpu.peak_tflops.get(dtype)
