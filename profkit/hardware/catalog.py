"""NVIDIA data-center GPUs as data: memory, DRAM bandwidth and dense tensor-core peaks.

Conventions (the same for every entry):

- ``memory_bytes`` is the capacity CUDA reports (``cudaDeviceProp.totalGlobalMem``, what
  ``torch.cuda.get_device_properties(0).total_memory`` returns), not the marketing figure: it is
  what an allocator can actually hand out, a little less than the stacks' raw size. Values
  recorded on a real device are marked "measured" in the comment; the others are the nearest
  recorded device with the same memory configuration, or nvidia-smi's total, as noted.
- ``bandwidth_gbps`` is the datasheet DRAM bandwidth in GB/s (1 GB = 1e9 bytes).
- ``peak_tflops`` holds dense (no 2:4 sparsity) peaks in TFLOP/s per dtype key
  (``fp32`` = CUDA-core FP32, ``tf32``/``bf16``/``fp16``/``fp8`` = tensor cores, ``int8`` = TOPS).
  A missing key means the GPU has no tensor-core path for that dtype (A100 has no fp8).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from profkit.errors import ProfkitError

#: The dtype keys ``GpuSpec.peak_tflops`` may hold.
DTYPE_KEYS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")

# Names a trace, torch or a user may give for each dtype key (compared lower-cased).
_DTYPE_ALIASES = {
    "fp32": ("fp32", "float32", "float", "c10::float", "torch.float32", "torch.float", "f32"),
    "tf32": ("tf32", "tensorfloat32", "tensorfloat-32"),
    "bf16": ("bf16", "bfloat16", "c10::bfloat16", "torch.bfloat16"),
    "fp16": ("fp16", "float16", "half", "c10::half", "torch.float16", "torch.half", "f16"),
    "fp8": (
        "fp8", "float8", "float8_e4m3fn", "float8_e5m2", "c10::float8_e4m3fn", "c10::float8_e5m2",
        "torch.float8_e4m3fn", "torch.float8_e5m2", "e4m3", "e5m2",
    ),
    "int8": ("int8", "char", "c10::char", "signed char", "torch.int8", "i8", "s8"),
}
_DTYPE_BY_ALIAS = {alias: key for key, aliases in _DTYPE_ALIASES.items() for alias in aliases}


def dtype_key(dtype: str) -> str:
    """The catalog key ('bf16', 'fp16', ...) for a dtype name, torch-style names included."""
    key = _DTYPE_BY_ALIAS.get(str(dtype).strip().lower())
    if key is None:
        raise ProfkitError(f"unknown dtype {dtype!r}: give one of {', '.join(DTYPE_KEYS)} (or a torch name such as bfloat16, c10::Half)")
    return key


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model's numbers that the roofline and memory estimates need."""

    key: str
    """Catalog key, lower-case with dashes: ``"a100-40gb-sxm"``."""
    name: str
    """Marketing name: ``"NVIDIA A100 40GB SXM"``."""
    memory_bytes: int
    """Device memory CUDA reports (totalGlobalMem), in bytes."""
    bandwidth_gbps: float
    """DRAM bandwidth in GB/s (1e9 bytes/s): the datasheet figure, or a measured one after ``with_measured``."""
    peak_tflops: dict = field(default_factory=dict, hash=False)
    """Dense peaks in TFLOP/s (int8: TOPS) keyed by ``DTYPE_KEYS``; a missing key = not supported."""
    sm_count: int = 0
    """Streaming multiprocessors (0 = unknown, for a GPU given by its numbers)."""
    source: str = "spec"
    """``"spec"`` (datasheet) or ``"measured"`` (bandwidth or peaks overridden by measurements)."""

    def __post_init__(self):
        if self.memory_bytes <= 0:
            raise ProfkitError(f"GPU {self.key}: memory_bytes must be positive, got {self.memory_bytes}")
        if self.bandwidth_gbps <= 0:
            raise ProfkitError(f"GPU {self.key}: bandwidth_gbps must be positive, got {self.bandwidth_gbps}")
        for k, v in self.peak_tflops.items():
            if k not in DTYPE_KEYS:
                raise ProfkitError(f"GPU {self.key}: unknown peak_tflops key {k!r}; use {', '.join(DTYPE_KEYS)}")
            if not v > 0:
                raise ProfkitError(f"GPU {self.key}: peak_tflops[{k!r}] must be positive, got {v}")
        if self.source not in ("spec", "measured"):
            raise ProfkitError(f"GPU {self.key}: source must be 'spec' or 'measured', got {self.source!r}")

    def peak_for_dtype(self, dtype: str) -> float:
        """Dense peak in TFLOP/s (TOPS for int8) for ``dtype`` ('bf16', 'c10::BFloat16', 'float16', ...)."""
        key = dtype_key(dtype)
        if key not in self.peak_tflops:
            have = ", ".join(k for k in DTYPE_KEYS if k in self.peak_tflops)
            raise ProfkitError(f"{self.name} has no {key} tensor-core peak (it has {have}); pick another precision or GPU")
        return float(self.peak_tflops[key])


def _a100() -> dict:
    # NVIDIA A100 datasheet (dense): FP32 19.5, TF32 156, BF16/FP16 312, INT8 624 TOPS; no FP8.
    return {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0, "int8": 624.0}


# H100 SXM5 / H200 tensor-core peaks, dense (datasheets list the sparse figure, twice these).
_HOPPER_SXM = {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "int8": 1978.9}

_A100_40GB_BYTES = 42_505_273_344  # measured: totalGlobalMem of an A100-SXM4-40GB (40536 MiB)
_HOPPER_80GB_BYTES = 85_017_493_504  # measured: totalGlobalMem of an H100 80GB HBM3 (our h100 trace, 81079 MiB)

_ENTRIES = (
    # NVIDIA A100 datasheet: 40GB HBM2, 1,555 GB/s, 108 SMs (SXM4 module).
    GpuSpec("a100-40gb-sxm", "NVIDIA A100 40GB SXM", _A100_40GB_BYTES, 1555.0, _a100(), 108),
    # NVIDIA A100 datasheet: 40GB PCIe, 1,555 GB/s, same GA100 (108 SMs); memory as the SXM 40GB.
    GpuSpec("a100-40gb-pcie", "NVIDIA A100 40GB PCIe", _A100_40GB_BYTES, 1555.0, _a100(), 108),
    # NVIDIA A100 datasheet: 80GB HBM2e SXM, 2,039 GB/s; memory as the H100's 80 GB (same 5-stack layout).
    GpuSpec("a100-80gb-sxm", "NVIDIA A100 80GB SXM", _HOPPER_80GB_BYTES, 2039.0, _a100(), 108),
    # NVIDIA A100 datasheet: 80GB HBM2e PCIe, 1,935 GB/s.
    GpuSpec("a100-80gb-pcie", "NVIDIA A100 80GB PCIe", _HOPPER_80GB_BYTES, 1935.0, _a100(), 108),
    # NVIDIA H100 datasheet (SXM5): 80GB HBM3, 3.35 TB/s, 132 SMs, BF16 989.4 / FP8 1,978.9 dense.
    GpuSpec("h100-sxm", "NVIDIA H100 80GB SXM", _HOPPER_80GB_BYTES, 3352.0, dict(_HOPPER_SXM), 132),
    # NVIDIA H100 datasheet (PCIe): 80GB HBM2e, 2.0 TB/s, 114 SMs, FP32 51.2, TF32 378, BF16 756, FP8/INT8 1,513 dense.
    GpuSpec(
        "h100-pcie", "NVIDIA H100 80GB PCIe", _HOPPER_80GB_BYTES, 2039.0,
        {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0, "fp8": 1513.0, "int8": 1513.0}, 114,
    ),
    # NVIDIA H200 datasheet (SXM): 141GB HBM3e, 4.8 TB/s, H100 SXM compute; memory measured (our h200 trace).
    GpuSpec("h200", "NVIDIA H200", 150_109_880_320, 4800.0, dict(_HOPPER_SXM), 132),
    # NVIDIA L4 datasheet: 24GB GDDR6, 300 GB/s, 58 SMs, FP32 30.3, TF32 60, BF16 121, FP8/INT8 242.5 dense;
    # memory = nvidia-smi's 23034 MiB (ECC on).
    GpuSpec(
        "l4", "NVIDIA L4", 23_034 * 1024**2, 300.0,
        {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0, "fp8": 242.5, "int8": 242.5}, 58,
    ),
    # NVIDIA L40S datasheet: 48GB GDDR6, 864 GB/s, 142 SMs, FP32 91.6, TF32 183, BF16 362, FP8/INT8 733 dense;
    # memory = nvidia-smi's 46068 MiB (ECC on).
    GpuSpec(
        "l40s", "NVIDIA L40S", 46_068 * 1024**2, 864.0,
        {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0, "fp8": 733.0, "int8": 733.0}, 142,
    ),
)

GPU_CATALOG: dict[str, GpuSpec] = {spec.key: spec for spec in _ENTRIES}

# Short names users type; compared after lower-casing and dropping spaces, dashes and underscores.
_ALIASES = {
    "a100": "a100-40gb-sxm",
    "a10040gb": "a100-40gb-sxm",
    "a10040gbsxm": "a100-40gb-sxm",
    "a100sxm440gb": "a100-40gb-sxm",
    "a100pcie40gb": "a100-40gb-pcie",
    "a10080gb": "a100-80gb-sxm",
    "a100sxm480gb": "a100-80gb-sxm",
    "a10080gbpcie": "a100-80gb-pcie",
    "h100": "h100-sxm",
    "h10080gb": "h100-sxm",
    "h10080gbhbm3": "h100-sxm",
    "h100sxm5": "h100-sxm",
    "h100pcie80gb": "h100-pcie",
    "h10080gbpcie": "h100-pcie",
    "h200sxm": "h200",
    "h200141gb": "h200",
}


def _squash(text: str) -> str:
    text = text.lower().strip()
    if text.startswith("nvidia"):
        text = text[len("nvidia"):]
    return "".join(ch for ch in text if ch.isalnum())


def get_gpu(key_or_name: str) -> GpuSpec:
    """A catalog GPU by key ("a100-40gb-sxm"), marketing name or alias ("A100 40GB", "a100", "H100")."""
    if key_or_name in GPU_CATALOG:
        return GPU_CATALOG[key_or_name]
    wanted = _squash(key_or_name)
    for spec in _ENTRIES:
        if wanted in (_squash(spec.key), _squash(spec.name)):
            return spec
    if wanted in _ALIASES:
        return GPU_CATALOG[_ALIASES[wanted]]
    raise ProfkitError(f"unknown GPU {key_or_name!r}: give one of {', '.join(GPU_CATALOG)}, or the GPU's numbers")


def match_gpu(device_name: str, total_mem_bytes: int | None = None) -> GpuSpec | None:
    """The catalog entry for a CUDA device name as a trace's ``deviceProperties`` records it.

    "NVIDIA H100 80GB HBM3" -> h100-sxm, "NVIDIA A100-SXM4-40GB" -> a100-40gb-sxm,
    "NVIDIA A100 80GB PCIe" -> a100-80gb-pcie. When the name does not say 40 or 80 GB,
    ``total_mem_bytes`` decides (over 60e9 bytes = the 80 GB part). None when nothing matches.
    """
    text = _squash(device_name or "")
    if not text:
        return None
    if "a100" in text:
        if "80gb" in text:
            big = True
        elif "40gb" in text:
            big = False
        elif total_mem_bytes is not None:
            big = total_mem_bytes > 60e9
        else:
            big = False
        form = "pcie" if "pcie" in text else "sxm"
        return GPU_CATALOG[f"a100-{80 if big else 40}gb-{form}"]
    if "h200" in text:
        return GPU_CATALOG["h200"]
    if "h100" in text:
        # "H100 PCIe" names the PCIe card; "H100 80GB HBM3" / "H100 SXM5" are the SXM module.
        return GPU_CATALOG["h100-pcie" if "pcie" in text else "h100-sxm"]
    if "l40s" in text:
        return GPU_CATALOG["l40s"]
    if text == "l4" or text.startswith("l4") and not text.startswith("l40"):
        return GPU_CATALOG["l4"]
    return None


def with_measured(spec: GpuSpec, bandwidth_gbps: float | None = None, peak_tflops: dict | None = None) -> GpuSpec:
    """``spec`` with measured ceilings in place of the datasheet's; ``source`` becomes "measured".

    ``peak_tflops`` entries (dtype names as ``peak_for_dtype`` accepts) replace those keys only.
    """
    peaks = dict(spec.peak_tflops)
    for dtype, value in (peak_tflops or {}).items():
        peaks[dtype_key(dtype)] = float(value)
    bandwidth = spec.bandwidth_gbps if bandwidth_gbps is None else float(bandwidth_gbps)
    return replace(spec, bandwidth_gbps=bandwidth, peak_tflops=peaks, source="measured")
