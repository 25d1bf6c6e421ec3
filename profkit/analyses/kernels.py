"""Kernel categories that mean something for LLM inference, per phase, and the top kernels with
the operator that launched them.

A GPU activity is categorised from its kernel's own name first when the name says clearly what it is
(`profkit.analyses.kernel_names`: cuBLAS/nvjet/cutlass and AMD Tensile/hipBLASLt/CK GEMMs, Triton and
TRT-LLM MoE GEMMs, flash/paged/unified attention, KV-cache writes, NCCL/RCCL and custom all-reduce,
MoE routing, sampling, quantization; Triton `triton_{poi,red,per,tem}_fused_*` names from
torch.compile), then from its launching operator and that operator's callers (bitsandbytes custom ops,
aten ops, their input shapes), then as generic framework work. GEMMs are split by data type: from the
launching GEMM op's recorded input types, else from the kernel name (`Cijk_..._BBS_`, `nvjet_tst_`,
`bmm_..._MxE2m1`), else "dtype not recorded".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses.kernel_names import gemm_dtype_from_name, generic_family, name_family
from profkit.trace.model import KERNEL, MEMCPY, MEMSET, NO_ID, Trace

GEMM = "gemm"
GEMM_FP32 = "gemm_fp32"
GEMM_LOWP = "gemm_fp8_fp4"
GEMM_OTHER = "gemm_other"
INT8_GEMM = "int8_gemm"
INT4_GEMM = "int4_gemm"
INT8_QUANT = "int8_quant"
QUANTIZE = "quantize"
ATTENTION = "attention"
CONVOLUTION = "convolution"
NORMALIZATION = "normalization"
ELEMENTWISE = "elementwise"
KV_CACHE = "kv_cache"
MOE_ROUTING = "moe_routing"
COMMUNICATION = "communication"
SAMPLING = "sampling"
MEMORY = "memcpy_memset"
OTHER = "other"

CATEGORY_LABELS = {
    GEMM: "GEMM (16-bit)",
    GEMM_FP32: "GEMM (fp32/tf32)",
    GEMM_LOWP: "GEMM (fp8/fp4)",
    GEMM_OTHER: "GEMM (dtype not recorded)",
    INT8_GEMM: "int8 GEMM",
    INT4_GEMM: "int4 GEMM (weight-only)",
    INT8_QUANT: "int8 quantize/dequantize + outliers",
    QUANTIZE: "quantize/dequantize (fp8/fp4 scales)",
    ATTENTION: "attention",
    CONVOLUTION: "convolution",
    NORMALIZATION: "normalization",
    ELEMENTWISE: "rotary/elementwise/activation",
    KV_CACHE: "KV-cache write/copy/cat",
    MOE_ROUTING: "MoE routing/permute/combine",
    COMMUNICATION: "communication (NCCL/RCCL, all-reduce)",
    SAMPLING: "sampling/logits",
    MEMORY: "memcpy/memset",
    OTHER: "other",
}
CATEGORIES = tuple(CATEGORY_LABELS)
GEMM_CATEGORIES = (GEMM, GEMM_FP32, GEMM_LOWP, GEMM_OTHER, INT8_GEMM, INT4_GEMM)
"""Every GEMM category, whatever its data type."""
MATH_CATEGORIES = (*GEMM_CATEGORIES, ATTENTION, CONVOLUTION)
"""Categories whose time is the model's arithmetic (the rest is overhead around it)."""

# Which GEMM category a data type (catalog key, or 'fp4') goes to.
_GEMM_BY_DTYPE = {"bf16": GEMM, "fp16": GEMM, "fp32": GEMM_FP32, "tf32": GEMM_FP32, "fp8": GEMM_LOWP, "fp4": GEMM_LOWP, "int8": INT8_GEMM, "int4": INT4_GEMM}
_GEMM_TYPE_DTYPES = {
    "c10::BFloat16": "bf16",
    "c10::Half": "fp16",
    "float": "fp32",
    "double": "fp32",
    "c10::Float8_e4m3fn": "fp8",
    "c10::Float8_e5m2": "fp8",
    "c10::Float8_e4m3fnuz": "fp8",
    "c10::Float8_e5m2fnuz": "fp8",
    "c10::Float4_e2m1fn_x2": "fp4",
    "signed char": "int8",
    "c10::qint8": "int8",
}
_TRITON = re.compile(r"^triton_(poi|red|per|tem)_")
_BNB_GEMM_OPS = frozenset({"bitsandbytes::int8_linear_matmul"})
_BNB_QUANT_CONTEXT = ("bitsandbytes::", "MatMul8bitLt", "MatMul4Bit")
# Ops (data, one name a line is enough to add one) that say what their kernels do when the name does not.
_GEMM_OPS = frozenset(
    {
        "aten::mm",
        "aten::addmm",
        "aten::bmm",
        "aten::baddbmm",
        "aten::matmul",
        "aten::linear",
        "aten::_scaled_mm",
        "aten::_int_mm",
        "aten::addmv",
        "aten::mv",
        "aten::_weight_int8pack_mm",
        "aten::_weight_int4pack_mm",
        "aten::_grouped_mm",
        "aten::_scaled_grouped_mm",
    }
)
_INT8_GEMM_OPS = frozenset({"aten::_int_mm", "aten::_weight_int8pack_mm"})
# Weight-only int4 GEMMs (torchao tinygemm as aten ops, Marlin): their weights are packed int32, so the
# recorded types do not say int4; the op does.
_INT4_GEMM_OPS = frozenset(
    {
        "aten::_weight_int4pack_mm",
        "aten::_weight_int4pack_mm_for_cpu",
        "aten::_weight_int4pack_mm_with_scales_and_zeros",
        "torchao::marlin_24_gemm",
        "torchao::marlin_qqq_gemm",
    }
)
# torchao int8 weight-only in eager mode converts the int8 weight to 16-bit (then a 16-bit mm): that copy
# is dequantization, not elementwise work.
_DEQUANT_COPY_OPS = frozenset({"aten::to", "aten::_to_copy", "aten::copy_"})
_INT8 = "signed char"
_ATTENTION_OPS = ("attention", "aten::_flash", "aten::_efficient", "aten::_cudnn_attention")
# Convolution ops (forward and backward, every backend): a GEMM-named or unnamed kernel under them is the convolution.
# (aten::convolution, _convolution, convolution_backward, conv1d/2d/3d, conv_transpose*, cudnn_/miopen_/mkldnn_
# convolution*, slow_conv*, thnn_conv*; not aten::_convert_*)
_CONVOLUTION_OP = re.compile(r"^aten::(_?convolution|conv\d|conv_|cudnn_convolution|miopen_convolution|mkldnn_convolution|_?slow_conv|thnn_conv)")
_NORM_OPS = frozenset(
    {
        "aten::rsqrt",
        "aten::mean",
        "aten::pow",
        "aten::layer_norm",
        "aten::native_layer_norm",
        "aten::rms_norm",
        "aten::_fused_rms_norm",
        "aten::var_mean",
        "aten::group_norm",
        "aten::native_group_norm",
    }
)
_KV_OPS = frozenset({"aten::index_copy_", "aten::index_copy", "aten::index_put_", "aten::_index_put_impl_", "aten::slice_scatter"})
_COMMUNICATION_OPS = (
    "c10d::",
    "nccl:",
    "rccl:",
    "gloo:",
    "record_param_comms",
    "_c10d_functional::",
    "vllm::all_reduce",
    "_C_custom_ar::",
    "sglang::cross_device_reduce",
)
_SAMPLING_OPS = frozenset({"aten::multinomial", "aten::exponential_"})


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
    if len(gpu) == 0:
        trace.memo["categories"] = np.zeros(0, dtype=np.int8)
        return trace.memo["categories"]
    op_rows = trace.gpu_op_row
    has_op = op_rows >= 0
    safe = np.maximum(op_rows, 0)
    in_bnb = trace.op_ancestry_flag(lambda s: s.startswith(_BNB_QUANT_CONTEXT)) if len(trace.ops) else np.zeros(0, bool)
    op_names = np.where(has_op, trace.ops.name_id[safe], NO_ID) if len(trace.ops) else np.full(len(gpu), NO_ID)
    op_dims = np.where(has_op, trace.ops.dims_id[safe], NO_ID) if len(trace.ops) else np.full(len(gpu), NO_ID)
    op_types = np.where(has_op, trace.ops.types_id[safe], NO_ID) if len(trace.ops) else np.full(len(gpu), NO_ID)
    bnb = np.where(has_op, in_bnb[safe], False) if len(trace.ops) else np.zeros(len(gpu), bool)
    keys = np.stack(
        [
            gpu.kind.astype(np.int64),
            gpu.name_id.astype(np.int64),
            op_names.astype(np.int64),
            op_dims.astype(np.int64),
            op_types.astype(np.int64),
            bnb.astype(np.int64),
        ],
        axis=1,
    )
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
        if len(ops) == 0:
            trace.memo["op_categories"] = np.zeros(0, np.int8)
            return trace.memo["op_categories"]
        in_bnb = trace.op_ancestry_flag(lambda s: s.startswith(_BNB_QUANT_CONTEXT))
        keys = np.stack([ops.name_id, ops.dims_id, ops.types_id, in_bnb], axis=1).astype(np.int64)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        index = {c: i for i, c in enumerate(CATEGORIES)}
        cats = np.array([index[_category(trace, KERNEL, NO_ID, *map(int, row))] for row in unique], dtype=np.int8)
        trace.memo["op_categories"] = cats[inverse.reshape(-1)]
    return trace.memo["op_categories"]


def _category(trace: Trace, kind: int, name_id: int, op_id: int, dims_id: int, types_id: int, in_bnb: int) -> str:
    if kind in (MEMCPY, MEMSET):
        return MEMORY
    name = trace.name(name_id)
    op = trace.name(op_id)
    if op in _INT4_GEMM_OPS:
        return INT4_GEMM
    types = trace.json_list(types_id)
    if op in _DEQUANT_COPY_OPS and _INT8 in types[:2]:
        return INT8_QUANT
    if op.startswith("triton_") and _INT8 in types:  # Inductor fused torchao's int8 dequantize into its mm
        return INT8_GEMM
    family = name_family(name)
    if _CONVOLUTION_OP.match(op) and (family in (GEMM, CONVOLUTION) or (family is None and not generic_family(name))):
        return CONVOLUTION
    if op in _BNB_GEMM_OPS or op in _INT8_GEMM_OPS or (family == GEMM and gemm_dtype_from_name(name) == "int8"):
        return INT8_GEMM
    if in_bnb:
        return INT8_QUANT
    triton = _TRITON.match(name)
    if triton:
        return _triton_category(triton.group(1), name, op, types)
    if family == GEMM:
        return gemm_category(name, op, types)
    if family is not None:
        return family
    if any(a in op for a in _ATTENTION_OPS):
        return ATTENTION
    if op in _GEMM_OPS and not generic_family(name):  # a GEMM op's copies and casts are not GEMMs
        return gemm_category(name, op, types)
    if op in _NORM_OPS:
        return NORMALIZATION
    if op in _KV_OPS or (op == "aten::cat" and _is_kv_cat(trace.json_list(dims_id))):
        return KV_CACHE
    if op.startswith(_COMMUNICATION_OPS):
        return COMMUNICATION
    if op in _SAMPLING_OPS:
        return SAMPLING
    if generic_family(name) or op.startswith("aten::"):
        return ELEMENTWISE
    return OTHER


def gemm_category(kernel: str, op: str, types: list) -> str:
    """The GEMM category of a GEMM kernel: by the launching GEMM op's recorded input types, else by
    what the kernel's name spells, else GEMM_OTHER (dtype not recorded)."""
    dtype = None
    if op in _GEMM_OPS and types:
        operand_types = [t for t in types[:3] if t in _GEMM_TYPE_DTYPES]
        if operand_types:
            dtype = _GEMM_TYPE_DTYPES[operand_types[-1] if op in ("aten::addmm", "aten::baddbmm") else operand_types[0]]
    dtype = dtype or gemm_dtype_from_name(kernel)
    return _GEMM_BY_DTYPE.get(dtype, GEMM_OTHER) if dtype is not None else GEMM_OTHER


def _triton_category(kind: str, name: str, op: str, types: list) -> str:
    """Triton kernels from torch.compile: `triton_<kind>_fused_<ops>`; the fused op names say what it does."""
    if kind == "tem":
        return ATTENTION if "attention" in name else gemm_category(name, op, types)
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
    op_names = np.where(op_rows >= 0, trace.ops.name_id[np.maximum(op_rows, 0)], NO_ID) if len(trace.ops) else np.full(len(rows), NO_ID)
    keys = np.stack([trace.gpu.name_id[rows].astype(np.int64), op_names.astype(np.int64)], axis=1)
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
    names: list[str] = []
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
