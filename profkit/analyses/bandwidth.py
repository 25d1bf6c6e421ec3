"""Achieved memory bandwidth and FLOP rate, from the shapes and dtypes the profiler recorded.

Bytes an operator moves are modelled from its recorded input shapes and dtypes: for GEMMs the two
operands plus the output (weights dominate in decode); for attention the query, key and value
tensors (the KV cache) plus the output. Per GEMM call, achieved bandwidth = bytes / the summed
duration of the kernels it launched (a split-K GEMM launches two). Per step, the bytes the step
must read = its GEMM and attention bytes; achieved bandwidth over GPU busy time and over wall
time, and MBU = achieved / the GPU's DRAM bandwidth. MFU = the ops' FLOPs (as recorded by the profiler,
else 2*M*N*K from the shapes) / busy time / the GPU's tensor peak for the dominant GEMM dtype.

Kernels replayed inside CUDA graphs carry no shapes; such steps have no shape-based bytes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses.kernels import ATTENTION, CATEGORIES, GEMM_CATEGORIES, categorize
from profkit.analyses.steps import Step
from profkit.hardware.catalog import GpuSpec, dtype_key
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
_GEMM_IDXS = frozenset(CATEGORIES.index(c) for c in GEMM_CATEGORIES)
_ATTENTION_IDX = CATEGORIES.index(ATTENTION)


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


def tensor_bytes(dims, dtype: str) -> int:
    if not isinstance(dims, list) or not dims or not all(isinstance(d, int) for d in dims):
        return 0
    return math.prod(dims) * DTYPE_BYTES.get(dtype, 0)


def op_bytes(op: str, dims: list, types: list) -> int:
    """Bytes an op reads and writes, modelled from its recorded inputs."""
    if not dims:
        return 0
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


def _gemm_output_bytes(op: str, operands) -> int:
    if len(operands) < 2:
        return 0
    (a, a_type), (b, _) = operands
    if not (isinstance(a, list) and isinstance(b, list) and len(a) >= 2 and len(b) >= 2):
        return 0
    rows = math.prod(a[:-1])
    cols = b[-2] if op in _NK_WEIGHT_OPS else b[-1]
    elem = 4 if op in _INT32_OUT_OPS else DTYPE_BYTES.get(a_type, 2)
    return rows * int(cols) * elem


def op_flops(op: str, dims: list) -> float:
    """FLOPs from shapes when the profiler recorded none: 2*M*N*K for GEMMs, 4*B*H*Sq*Sk*D for attention."""
    try:
        if op in _MM_OPS or op in _NK_WEIGHT_OPS or op in _ADDMM_OPS:
            a, b = (dims[1], dims[2]) if op in _ADDMM_OPS else (dims[0], dims[1])
            rows = int(np.prod(a[:-1], dtype=np.int64))
            k = a[-1]
            n = b[-2] if op in _NK_WEIGHT_OPS else b[-1]
            batch = int(np.prod(b[:-2], dtype=np.int64)) if len(b) > 2 else 1
            return 2.0 * rows * n * k * (batch if op == "aten::bmm" else 1)
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
            except Exception:
                return None
    return None


def weight_bytes_per_step(trace: Trace, steps: list[Step], rows: np.ndarray) -> float:
    """Bytes of GEMM weight operands (the second matrix) read per step, from shapes; 0 without shapes."""
    calls = _op_calls(trace, rows)
    total = 0
    for c in calls.values():
        if c["cat"] in _GEMM_IDXS and len(c["dims"]) >= 2:
            operands = list(zip(c["dims"], c["types"]))
            weight = operands[2] if c["op"] in _ADDMM_OPS and len(operands) > 2 else operands[1]
            total += tensor_bytes(*weight)
    return total / max(len(steps), 1)


def phase_bandwidth(trace: Trace, phase: str, steps: list[Step], rows: np.ndarray, gpu: GpuSpec | None, fallback_weight_bytes: tuple[float, str] | None = None) -> PhaseBandwidth:
    """Bandwidth and FLOP figures over the steady `steps` of a phase; `rows` are their GPU activities.

    `fallback_weight_bytes` = (bytes, where from): used when this phase's GEMMs carry no shapes
    (CUDA graph replays), e.g. the weight bytes another phase of the same trace read per step.
    """
    calls = _op_calls(trace, rows)
    n_steps = max(len(steps), 1)
    gemm_calls = {r: c for r, c in calls.items() if c["cat"] in _GEMM_IDXS}
    attn_calls = {r: c for r, c in calls.items() if c["cat"] == _ATTENTION_IDX}
    unshaped = sum(c["n"] for c in calls.values() if not c["dims"] and c["cat"] in _GEMM_IDXS)
    gemm_bytes = sum(c["bytes"] for c in gemm_calls.values()) / n_steps
    attn_bytes = sum(c["bytes"] for c in attn_calls.values()) / n_steps
    total_bytes = gemm_bytes + attn_bytes
    busy_s = float(np.median([s.gpu_busy_ms for s in steps])) / 1e3 if steps else 0.0
    wall_s = float(np.median([s.wall_ms for s in steps])) / 1e3 if steps else 0.0
    flops = sum(c["flops"] for c in calls.values()) / n_steps
    dtype = _dominant_dtype(gemm_calls)
    peak_bw = gpu.bandwidth_gbps if gpu else None
    peak_tf = _peak_tflops(gpu, dtype)
    source = "shapes"
    if total_bytes == 0 and fallback_weight_bytes and fallback_weight_bytes[0]:
        total_bytes, source = fallback_weight_bytes[0], f"modelled: weights only, from {fallback_weight_bytes[1]} (this phase's kernels carry no shapes)"
        gemm_bytes = total_bytes
    elif total_bytes == 0:
        source = "unavailable: no GEMM shapes recorded (CUDA graph replays carry none; profile with record_shapes=True)"
        total_bytes = None
    elif unshaped:
        source = f"shapes (partial: {unshaped} GEMM calls without shapes, e.g. CUDA graph replays)"
    bw = total_bytes / busy_s / 1e9 if total_bytes and busy_s else None
    bw_wall = total_bytes / wall_s / 1e9 if total_bytes and wall_s else None
    tflops = flops / busy_s / 1e12 if flops and busy_s else None
    return PhaseBandwidth(
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
    )


def _op_calls(trace: Trace, rows: np.ndarray) -> dict:
    """Group GPU activities by the op call that launched them: duration, category, bytes."""
    cats = categorize(trace)[rows]
    op_rows = trace.gpu_op_row[rows]
    calls: dict[int, dict] = {}
    parsed: dict[tuple[int, int], tuple] = {}
    for g, cat, op_row in zip(rows.tolist(), cats.tolist(), op_rows.tolist()):
        if op_row < 0 or (cat not in _GEMM_IDXS and cat != _ATTENTION_IDX):
            continue
        call = calls.get(op_row)
        if call is None:
            key = (int(trace.ops.dims_id[op_row]), int(trace.ops.types_id[op_row]))
            if key not in parsed:
                parsed[key] = (trace.json_list(key[0]), trace.json_list(key[1]))
            dims, types = parsed[key]
            name = trace.name(int(trace.ops.name_id[op_row]))
            call = calls[op_row] = {"op": name, "dims": dims, "types": types, "key": key, "cat": cat, "dur_ns": 0, "kernels": Counter(), "n": 1, "bytes": op_bytes(name, dims, types), "flops": float(trace.ops.flops[op_row]) or op_flops(name, dims)}
        dur = int(trace.gpu.dur_ns[g])
        call["dur_ns"] += dur
        call["kernels"][int(trace.gpu.name_id[g])] += dur
        if cat != _ATTENTION_IDX and call["cat"] == _ATTENTION_IDX:
            call["cat"] = cat
    return calls


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
