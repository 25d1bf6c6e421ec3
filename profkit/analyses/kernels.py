"""Kernel categories that mean something for LLM inference, per phase, and the top kernels with
the operator that launched them.

A GPU activity is categorised from its kernel name first (cuBLAS `nvjet_*`, `sm90_xmma*`, cutlass,
cuDNN/flash attention, Triton `triton_{poi,red,per,tem}_fused_*` names), then from its launching
operator and that operator's callers (bitsandbytes custom ops, aten ops, their input shapes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from profkit.trace.model import KERNEL, MEMCPY, MEMSET, NO_ID, Trace

GEMM = "gemm"
INT8_GEMM = "int8_gemm"
INT4_GEMM = "int4_gemm"
FP8_GEMM = "fp8_gemm"
INT8_QUANT = "int8_quant"
ATTENTION = "attention"
NORMALIZATION = "normalization"
ELEMENTWISE = "elementwise"
KV_CACHE = "kv_cache"
MEMORY = "memcpy_memset"
OTHER = "other"

CATEGORY_LABELS = {
    GEMM: "GEMM (16-bit)",
    INT8_GEMM: "int8 GEMM",
    INT4_GEMM: "int4 GEMM",
    FP8_GEMM: "fp8 GEMM",
    INT8_QUANT: "int8 quantize/dequantize + outliers",
    ATTENTION: "attention",
    NORMALIZATION: "normalization",
    ELEMENTWISE: "rotary/elementwise/activation",
    KV_CACHE: "KV-cache copy/cat",
    MEMORY: "memcpy/memset",
    OTHER: "other",
}
CATEGORIES = tuple(CATEGORY_LABELS)

_INT8_GEMM_NAME = re.compile(r"(gemm_s8|_s8_|i8816|i16832gemm|imma|igemm|int8.*gemm|gemm.*int8|_int_mm)", re.I)
_GEMM_NAME = re.compile(r"(^nvjet_|xmma_gemm|gemm|gemv|cublas|cutlass|splitKreduce|triton_tem_fused_.*mm|^ampere_.*(h|s)\d+gemm|^sm\d+_xmma)", re.I)
_ATTENTION_NAME = re.compile(r"(flash|fmha|sdpa|attention_forward|attn_fwd|_attention_kernel|paged_attention|flex_attention|decode_attention)", re.I)
_NORM_NAME = re.compile(r"(rms_?norm|layer_?norm|rsqrt|group_norm)", re.I)
_TRITON = re.compile(r"^triton_(poi|red|per|tem)_")
_BNB_OP = "bitsandbytes::"
_BNB_GEMM_OPS = frozenset({"bitsandbytes::int8_linear_matmul"})
_BNB_QUANT_CONTEXT = ("bitsandbytes::", "MatMul8bitLt", "MatMul4Bit")
_GEMM_OPS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear", "aten::_scaled_mm", "aten::_int_mm", "aten::addmv", "aten::mv"})
_INT8_GEMM_OPS = frozenset({"aten::_int_mm"})
# Weight-quantized GEMMs whose op says what they are: torchao int8 weight-only as Inductor lowers it
# (aten::_weight_int8pack_mm, CPU), int4 tinygemm / Marlin, float8 _scaled_mm.
_QUANTIZED_GEMM_OPS = {
    "aten::_weight_int8pack_mm": INT8_GEMM,
    "aten::_weight_int4pack_mm": INT4_GEMM,
    "aten::_weight_int4pack_mm_for_cpu": INT4_GEMM,
    "aten::_weight_int4pack_mm_with_scales_and_zeros": INT4_GEMM,
    "torchao::marlin_24_gemm": INT4_GEMM,
    "torchao::marlin_qqq_gemm": INT4_GEMM,
    "aten::_scaled_mm": FP8_GEMM,
}
_INT4_GEMM_NAME = re.compile(r"(tinygemm|marlin)", re.I)  # kernels of the int4 ops above (CUDA graph replays carry no op)
_FP8_NAME = re.compile(r"(e4m3|e5m2|fp8|f8f8)", re.I)  # an fp8 GEMM when the name is also a GEMM's
# torchao int8 weight-only in eager mode: the int8 weight is converted to 16-bit (then a 16-bit mm).
_DEQUANT_COPY_OPS = frozenset({"aten::to", "aten::_to_copy", "aten::copy_"})
_INT8 = "signed char"
_ATTENTION_OPS = ("attention", "aten::_flash", "aten::_efficient", "aten::_cudnn_attention")
_NORM_OPS = frozenset({"aten::rsqrt", "aten::mean", "aten::pow", "aten::layer_norm", "aten::native_layer_norm", "aten::rms_norm", "aten::_fused_rms_norm", "aten::var_mean"})
_KV_OPS = frozenset({"aten::index_copy_", "aten::index_copy", "aten::index_put_", "aten::_index_put_impl_", "aten::slice_scatter"})


@dataclass
class CategoryRow:
    category: str
    label: str
    total_ms: float
    count: int
    mean_us: float
    share: float  # of all GPU activity time in the phase
    per_step_ms: float


@dataclass
class TopKernel:
    kernel: str
    category: str
    op: str  # innermost CPU op that launched it ("" when unknown)
    op_path: str  # op and its callers, outermost first, e.g. "MatMul8bitLt > bitsandbytes::int8_linear_matmul"
    input_dims: str  # most common recorded input shapes of the launching op
    total_ms: float
    count: int
    mean_us: float
    share: float


@dataclass
class KernelBreakdown:
    phase: str
    steps: int
    gpu_time_ms: float  # sum of GPU activity durations (not a union)
    categories: list[CategoryRow] = field(default_factory=list)
    top: list[TopKernel] = field(default_factory=list)


def categorize(trace: Trace) -> np.ndarray:
    """Category (index into CATEGORIES) of every GPU activity, memoised per trace."""
    if "categories" in trace.memo:
        return trace.memo["categories"]
    gpu = trace.gpu
    op_rows = trace.gpu_op_row
    in_bnb = trace.op_ancestry_flag(lambda s: s.startswith(_BNB_QUANT_CONTEXT))
    op_names = np.where(op_rows >= 0, trace.ops.name_id[np.maximum(op_rows, 0)], NO_ID)
    op_dims = np.where(op_rows >= 0, trace.ops.dims_id[np.maximum(op_rows, 0)], NO_ID)
    op_types = np.where(op_rows >= 0, trace.ops.types_id[np.maximum(op_rows, 0)], NO_ID)
    bnb = np.where(op_rows >= 0, in_bnb[np.maximum(op_rows, 0)], False)
    keys = np.stack([gpu.kind.astype(np.int64), gpu.name_id.astype(np.int64), op_names.astype(np.int64), op_dims.astype(np.int64), op_types.astype(np.int64), bnb.astype(np.int64)], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    index = {c: i for i, c in enumerate(CATEGORIES)}
    cats = np.array([index[_category(trace, *map(int, row))] for row in unique], dtype=np.int8)
    result = cats[inverse.reshape(-1)]
    trace.memo["categories"] = result
    return result


def categorize_ops(trace: Trace) -> np.ndarray:
    """Category (index into CATEGORIES) of every CPU op, judged as the kernel it would launch (its name,
    shapes, dtypes and bitsandbytes callers): where the work is in a trace without GPU activity."""
    if "op_categories" not in trace.memo:
        ops = trace.ops
        in_bnb = trace.op_ancestry_flag(lambda s: s.startswith(_BNB_QUANT_CONTEXT))
        keys = np.stack([ops.name_id, ops.dims_id, ops.types_id, in_bnb], axis=1).astype(np.int64)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True) if len(keys) else (keys, np.zeros(0, np.int64))
        index = {c: i for i, c in enumerate(CATEGORIES)}
        cats = np.array([index[_category(trace, KERNEL, NO_ID, *map(int, row))] for row in unique], dtype=np.int8)
        trace.memo["op_categories"] = cats[inverse.reshape(-1)] if len(unique) else np.zeros(0, np.int8)
    return trace.memo["op_categories"]


def _category(trace: Trace, kind: int, name_id: int, op_id: int, dims_id: int, types_id: int, in_bnb: int) -> str:
    if kind in (MEMCPY, MEMSET):
        return MEMORY
    name = trace.name(name_id)
    op = trace.name(op_id)
    if op in _QUANTIZED_GEMM_OPS:
        return _QUANTIZED_GEMM_OPS[op]
    if _INT4_GEMM_NAME.search(name):
        return INT4_GEMM
    if _FP8_NAME.search(name) and _GEMM_NAME.search(name) and not _ATTENTION_NAME.search(name):
        return FP8_GEMM
    types = trace.json_list(types_id)
    if op in _DEQUANT_COPY_OPS and _INT8 in types[:2]:
        return INT8_QUANT
    if op.startswith("triton_") and _INT8 in types:  # Inductor fused torchao's int8 dequantize into its mm
        return INT8_GEMM
    if op in _BNB_GEMM_OPS or op in _INT8_GEMM_OPS or (_INT8_GEMM_NAME.search(name) and not _ATTENTION_NAME.search(name)):
        return INT8_GEMM
    if in_bnb:
        return INT8_QUANT
    triton = _TRITON.match(name)
    if triton:
        return _triton_category(triton.group(1), name)
    if _ATTENTION_NAME.search(name) or any(a in op for a in _ATTENTION_OPS):
        return ATTENTION
    if _GEMM_NAME.search(name) or op in _GEMM_OPS:
        return GEMM
    if _NORM_NAME.search(name) or op in _NORM_OPS:
        return NORMALIZATION
    if op in _KV_OPS or (op == "aten::cat" and _is_kv_cat(trace.json_list(dims_id))):
        return KV_CACHE
    if op.startswith("aten::") or "elementwise" in name or "vectorized" in name:
        return ELEMENTWISE
    return OTHER


def _triton_category(kind: str, name: str) -> str:
    """Triton kernels from torch.compile: `triton_<kind>_fused_<ops>`; the fused op names say what it does."""
    if kind == "tem":
        return ATTENTION if "attention" in name else GEMM
    if "rsqrt" in name or "native_layer_norm" in name:
        return NORMALIZATION
    if any(k in name for k in ("index_copy", "index_put", "slice_scatter")) and not any(k in name for k in ("cos", "sin")):
        return KV_CACHE
    return ELEMENTWISE


def _is_kv_cat(dims: list) -> bool:
    """HF DynamicCache appends along the sequence axis: cat([past[B,H,S,D], new[B,H,1,D]], dim=-2)."""
    try:
        tensors = dims[0]
        return len(tensors) >= 2 and all(len(t) == 4 for t in tensors) and tensors[0][-1] == tensors[1][-1] and tensors[0][-2] != tensors[1][-2]
    except (TypeError, IndexError, KeyError):
        return False


def breakdown(trace: Trace, rows: np.ndarray, phase: str, steps: int, top_n: int = 15) -> KernelBreakdown:
    """Category table and top kernels over the GPU activities `rows` (e.g. those launched in a phase)."""
    cats = categorize(trace)[rows]
    dur = trace.gpu.dur_ns[rows].astype(np.float64)
    total = float(dur.sum())
    out = KernelBreakdown(phase=phase, steps=steps, gpu_time_ms=total / 1e6)
    for i, c in enumerate(CATEGORIES):
        m = cats == i
        n = int(m.sum())
        if n == 0:
            continue
        t = float(dur[m].sum())
        out.categories.append(CategoryRow(c, CATEGORY_LABELS[c], t / 1e6, n, t / n / 1e3, t / total if total else 0.0, t / 1e6 / max(steps, 1)))
    out.categories.sort(key=lambda r: -r.total_ms)
    out.top = _top_kernels(trace, rows, cats, dur, total, top_n)
    return out


def _top_kernels(trace: Trace, rows, cats, dur, total, top_n) -> list[TopKernel]:
    op_rows = trace.gpu_op_row[rows]
    keys = np.stack([trace.gpu.name_id[rows].astype(np.int64), np.where(op_rows >= 0, trace.ops.name_id[np.maximum(op_rows, 0)], NO_ID)], axis=1)
    if len(keys) == 0:
        return []
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.bincount(inverse, weights=dur)
    counts = np.bincount(inverse)
    result = []
    for g in np.argsort(-sums)[:top_n]:
        members = np.flatnonzero(inverse == g)
        first = members[0]
        result.append(
            TopKernel(
                kernel=trace.name(int(unique[g][0])),
                category=CATEGORIES[cats[first]],
                op=trace.name(int(unique[g][1])),
                op_path=op_path(trace, int(op_rows[first])),
                input_dims=_common_dims(trace, op_rows[members]),
                total_ms=float(sums[g]) / 1e6,
                count=int(counts[g]),
                mean_us=float(sums[g]) / counts[g] / 1e3,
                share=float(sums[g]) / total if total else 0.0,
            )
        )
    return result


def op_path(trace: Trace, row: int, depth: int = 4) -> str:
    names = []
    while row >= 0 and len(names) < depth:
        names.append(trace.name(int(trace.ops.name_id[row])))
        row = int(trace.op_parent_row[row])
    return " > ".join(reversed(names))


def _common_dims(trace: Trace, op_rows: np.ndarray) -> str:
    valid = op_rows[op_rows >= 0]
    if len(valid) == 0:
        return ""
    ids, counts = np.unique(trace.ops.dims_id[valid], return_counts=True)
    return trace.name(int(ids[np.argmax(counts)]))


def kernel_rows(trace: Trace) -> np.ndarray:
    return np.flatnonzero(trace.gpu.kind == KERNEL)
