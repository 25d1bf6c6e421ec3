"""Data-center GPUs (NVIDIA and AMD) as data: memory, DRAM bandwidth and dense tensor-core peaks.

Conventions (the same for every entry):

- ``memory_bytes`` is the capacity CUDA reports (``cudaDeviceProp.totalGlobalMem``, what
  ``torch.cuda.get_device_properties(0).total_memory`` returns), not the marketing figure: it is
  what an allocator can actually hand out, a little less than the stacks' raw size. Values
  recorded on a real device are marked "measured" in the comment; the others are the nearest
  recorded device with the same memory configuration, or nvidia-smi's total, as noted.
- ``bandwidth_gbps`` is the datasheet DRAM bandwidth in GB/s (1 GB = 1e9 bytes).
- ``peak_tflops`` holds dense (no 2:4 sparsity) peaks in TFLOP/s per dtype key
  (``fp32`` = CUDA-core / vector FP32, ``tf32``/``bf16``/``fp16``/``fp8``/``fp4`` = tensor or matrix
  cores, ``int8`` = TOPS). A missing key means the GPU has no tensor-core path for that dtype (A100
  has no fp8, V100 and T4 no bf16). Datasheets that list only sparse figures are halved.
- AMD Instinct GPUs: ``sm_count`` is the compute-unit count the HIP runtime reports as
  ``multiProcessorCount`` (Kineto's ``numSms``). An MI250/MI250X module is two GCDs that the runtime
  shows as two devices; a trace records one, so those entries hold one GCD's half of the module.
- Every number carries its source in the comment above the entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from profkit.errors import ProfkitError

#: The dtype keys ``GpuSpec.peak_tflops`` may hold.
DTYPE_KEYS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8")

# Names a trace, torch or a user may give for each dtype key (compared lower-cased).
_DTYPE_ALIASES = {
    "fp32": ("fp32", "float32", "float", "c10::float", "torch.float32", "torch.float", "f32"),
    "tf32": ("tf32", "tensorfloat32", "tensorfloat-32"),
    "bf16": ("bf16", "bfloat16", "c10::bfloat16", "torch.bfloat16"),
    "fp16": ("fp16", "float16", "half", "c10::half", "torch.float16", "torch.half", "f16"),
    "fp8": (
        "fp8",
        "float8",
        "float8_e4m3fn",
        "float8_e5m2",
        "c10::float8_e4m3fn",
        "c10::float8_e5m2",
        "torch.float8_e4m3fn",
        "torch.float8_e5m2",
        "e4m3",
        "e5m2",
    ),
    "fp4": ("fp4", "mxfp4", "nvfp4", "e2m1", "float4_e2m1fn_x2", "c10::float4_e2m1fn_x2"),
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
# AMD Instinct MI300X / MI325X data sheets (dense; the sparse figures are twice these): FP32 vector 163.4,
# TF32 653.7, FP16/BF16 1307.4, FP8 2614.9, INT8 2614.9 TOPS.
_MI300 = {"fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp16": 1307.4, "fp8": 2614.9, "int8": 2614.9}

_A100_40GB_BYTES = 42_505_273_344  # measured: totalGlobalMem of an A100-SXM4-40GB (40536 MiB)
_HOPPER_80GB_BYTES = 85_017_493_504  # measured: totalGlobalMem of an H100 80GB HBM3 (our h100 trace, 81079 MiB)
_MI300X_BYTES = 206_141_652_992  # measured: totalGlobalMem of an AMD Instinct MI300X (traces/external sglang trace)
_MIB = 1024**2

_ENTRIES = (
    # NVIDIA V100 datasheet (SXM2): 16GB HBM2, 900 GB/s, 80 SMs, FP32 15.7, FP16 tensor 125; no BF16/TF32/INT8
    # tensor path. Memory: torch total_memory of a Tesla V100-SXM2-16GB (16160 MiB).
    GpuSpec("v100-16gb-sxm2", "NVIDIA V100 16GB SXM2", 16_160 * _MIB, 900.0, {"fp32": 15.7, "fp16": 125.0}, 80),
    # NVIDIA V100 datasheet (SXM2 32GB): as the 16GB module; memory 32510 MiB (torch total_memory).
    GpuSpec("v100-32gb-sxm2", "NVIDIA V100 32GB SXM2", 32_510 * _MIB, 900.0, {"fp32": 15.7, "fp16": 125.0}, 80),
    # NVIDIA V100 datasheet (PCIe): 900 GB/s, FP32 14, FP16 tensor 112; 16GB and 32GB boards.
    GpuSpec("v100-16gb-pcie", "NVIDIA V100 16GB PCIe", 16_160 * _MIB, 900.0, {"fp32": 14.0, "fp16": 112.0}, 80),
    GpuSpec("v100-32gb-pcie", "NVIDIA V100 32GB PCIe", 32_510 * _MIB, 900.0, {"fp32": 14.0, "fp16": 112.0}, 80),
    # NVIDIA T4 datasheet: 16GB GDDR6, 320 GB/s, 40 SMs, FP32 8.1, FP16 tensor 65, INT8 130 TOPS; no BF16.
    # Memory: nvidia-smi's 15360 MiB.
    GpuSpec("t4", "NVIDIA T4", 15_360 * _MIB, 320.0, {"fp32": 8.1, "fp16": 65.0, "int8": 130.0}, 40),
    # NVIDIA A10 datasheet: 24GB GDDR6, 600 GB/s, 72 SMs, FP32 31.2, TF32 62.5, BF16/FP16 125, INT8 250 TOPS
    # (the dense figures; its starred sparse ones are twice these). Memory: nvidia-smi's 23028 MiB (ECC on).
    GpuSpec("a10", "NVIDIA A10", 23_028 * _MIB, 600.0, {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0, "int8": 250.0}, 72),
    # NVIDIA A10G (AWS G5; NVIDIA publishes no datasheet): 24GB GDDR6, 600 GB/s, 80 SMs; AWS lists 35 TFLOP/s
    # FP32 and 70 TFLOP/s FP16/BF16 tensor (dense), INT8 140 TOPS. Memory: nvidia-smi's 22731 MiB.
    GpuSpec("a10g", "NVIDIA A10G", 22_731 * _MIB, 600.0, {"fp32": 35.0, "tf32": 35.0, "bf16": 70.0, "fp16": 70.0, "int8": 140.0}, 80),
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
        "h100-pcie",
        "NVIDIA H100 80GB PCIe",
        _HOPPER_80GB_BYTES,
        2039.0,
        {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0, "fp8": 1513.0, "int8": 1513.0},
        114,
    ),
    # NVIDIA H100 datasheet (NVL): 94GB HBM3, 3.9 TB/s, 132 SMs, FP32 60, TF32 417.5, BF16 835.5, FP8/INT8 1,670.5
    # dense (half the datasheet's sparse 835/1,671/3,341). Memory: nvidia-smi's 95830 MiB.
    GpuSpec(
        "h100-nvl",
        "NVIDIA H100 NVL",
        95_830 * _MIB,
        3900.0,
        {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5, "fp8": 1670.5, "int8": 1670.5},
        132,
    ),
    # NVIDIA H200 datasheet (SXM): 141GB HBM3e, 4.8 TB/s, H100 SXM compute; memory measured (our h200 trace).
    GpuSpec("h200", "NVIDIA H200", 150_109_880_320, 4800.0, dict(_HOPPER_SXM), 132),
    # NVIDIA H20 (China-market Hopper) product brief: 96GB HBM3, 4.0 TB/s, 78 SMs, FP32 44, TF32 74, BF16/FP16 148,
    # FP8/INT8 296 dense. Memory: nvidia-smi's 97871 MiB.
    GpuSpec("h20", "NVIDIA H20", 97_871 * _MIB, 4000.0, {"fp32": 44.0, "tf32": 74.0, "bf16": 148.0, "fp16": 148.0, "fp8": 296.0, "int8": 296.0}, 78),
    # NVIDIA GH200 Grace Hopper datasheet: the Hopper GPU with 96GB HBM3 at 4.0 TB/s (GH200 480GB) or 144GB HBM3e at
    # 4.9 TB/s; H100 SXM compute (FP8 1,979, BF16 989 dense), 132 SMs. Memory: nvidia-smi's 97871 / 146065 MiB.
    GpuSpec("gh200-96gb", "NVIDIA GH200 96GB HBM3", 97_871 * _MIB, 4000.0, dict(_HOPPER_SXM), 132),
    GpuSpec("gh200-144gb", "NVIDIA GH200 144GB HBM3e", 146_065 * _MIB, 4900.0, dict(_HOPPER_SXM), 132),
    # NVIDIA HGX B200 datasheet (per GPU, dense = half the sparse figures): 180GB HBM3e, 8 TB/s, 148 SMs,
    # FP32 75, TF32 1,100, BF16/FP16 2,250, FP8/INT8 4,500, FP4 9,000. Memory measured (traces/external b200 trace).
    GpuSpec(
        "b200",
        "NVIDIA B200",
        191_503_138_816,
        8000.0,
        {"fp32": 75.0, "tf32": 1100.0, "bf16": 2250.0, "fp16": 2250.0, "fp8": 4500.0, "int8": 4500.0, "fp4": 9000.0},
        148,
    ),
    # NVIDIA GB200 NVL72 datasheet (per GPU, dense): 186GB HBM3e, 8 TB/s, FP32 80, TF32 1,250, BF16/FP16 2,500,
    # FP8/INT8 5,000, FP4 10,000; 148 SMs. Memory: nvidia-smi's 189471 MiB.
    GpuSpec(
        "gb200",
        "NVIDIA GB200",
        189_471 * _MIB,
        8000.0,
        {"fp32": 80.0, "tf32": 1250.0, "bf16": 2500.0, "fp16": 2500.0, "fp8": 5000.0, "int8": 5000.0, "fp4": 10000.0},
        148,
    ),
    # NVIDIA L4 datasheet: 24GB GDDR6, 300 GB/s, 58 SMs, FP32 30.3, TF32 60, BF16 121, FP8/INT8 242.5 dense;
    # memory = nvidia-smi's 23034 MiB (ECC on).
    GpuSpec(
        "l4",
        "NVIDIA L4",
        23_034 * _MIB,
        300.0,
        {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0, "fp8": 242.5, "int8": 242.5},
        58,
    ),
    # NVIDIA L40S datasheet: 48GB GDDR6, 864 GB/s, 142 SMs, FP32 91.6, TF32 183, BF16 362, FP8/INT8 733 dense;
    # memory = nvidia-smi's 46068 MiB (ECC on).
    GpuSpec(
        "l40s",
        "NVIDIA L40S",
        46_068 * _MIB,
        864.0,
        {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0, "fp8": 733.0, "int8": 733.0},
        142,
    ),
    # AMD Instinct MI210 data sheet: 64GB HBM2e, 1.6 TB/s, 104 CUs, FP32 vector 22.6, FP16/BF16 181, INT8 181 TOPS.
    # Memory measured (TraceLens mi210 gpu_only trace).
    GpuSpec("mi210", "AMD Instinct MI210", 68_702_699_520, 1638.4, {"fp32": 22.6, "bf16": 181.0, "fp16": 181.0, "int8": 181.0}, 104),
    # AMD Instinct MI250X data sheet, per GCD (half the module): 64GB HBM2e, 1.6 TB/s, 110 CUs, FP32 vector 23.95,
    # FP16/BF16 191.5, INT8 191.5 TOPS.
    GpuSpec("mi250x", "AMD Instinct MI250X (one GCD)", 68_702_699_520, 1638.4, {"fp32": 23.95, "bf16": 191.5, "fp16": 191.5, "int8": 191.5}, 110),
    # AMD Instinct MI250 data sheet, per GCD: 64GB HBM2e, 1.6 TB/s, 104 CUs, FP32 vector 22.6, FP16/BF16 181, INT8 181.
    GpuSpec("mi250", "AMD Instinct MI250 (one GCD)", 68_702_699_520, 1638.4, {"fp32": 22.6, "bf16": 181.0, "fp16": 181.0, "int8": 181.0}, 104),
    # AMD Instinct MI300X data sheet: 192GB HBM3, 5.3 TB/s, 304 CUs; peaks in _MI300. Memory measured (sglang trace);
    # the SR-IOV virtual function (MI300X VF) is the same GPU.
    GpuSpec("mi300x", "AMD Instinct MI300X", _MI300X_BYTES, 5300.0, dict(_MI300), 304),
    # AMD Instinct MI325X data sheet: 256GB HBM3e, 6 TB/s, 304 CUs, MI300X compute. Memory: 256 GiB less the
    # MI300X's reserve (estimated).
    GpuSpec("mi325x", "AMD Instinct MI325X", 256 * 1024**3 - (192 * 1024**3 - _MI300X_BYTES), 6000.0, dict(_MI300), 304),
    # AMD Instinct MI355X data sheet (dense = half the sparse figures): 288GB HBM3E, 8 TB/s, 256 CUs, FP32 vector
    # 157.3, FP16/BF16 2,516.6, FP8/INT8 5,033.2, MXFP4 10,066.4. Memory: 288 GiB less the MI300X's reserve (estimated).
    GpuSpec(
        "mi355x",
        "AMD Instinct MI355X",
        288 * 1024**3 - (192 * 1024**3 - _MI300X_BYTES),
        8000.0,
        {"fp32": 157.3, "bf16": 2516.6, "fp16": 2516.6, "fp8": 5033.2, "int8": 5033.2, "fp4": 10066.4},
        256,
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
    "v100": "v100-32gb-sxm2",
    "v100sxm216gb": "v100-16gb-sxm2",
    "v100sxm232gb": "v100-32gb-sxm2",
    "teslav100": "v100-32gb-sxm2",
    "teslat4": "t4",
    "gh200": "gh200-96gb",
    "mi300xvf": "mi300x",
    "instinctmi300x": "mi300x",
}


def _squash(text: str) -> str:
    text = text.lower().strip()
    text = text.removeprefix("nvidia")
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


def match_gpu(device_name: str, total_mem_bytes: int | None = None, sm_count: int | None = None) -> GpuSpec | None:
    """The catalog entry for a device as a trace's ``deviceProperties`` records it (name, totalGlobalMem,
    numSms), or None; see `identify_gpu`."""
    return identify_gpu(device_name, total_mem_bytes, sm_count).spec


@dataclass(frozen=True)
class GpuMatch:
    """How a trace's device was found in the catalog."""

    spec: GpuSpec | None
    how: str  # "name", "SM count and memory" or "" when not found
    note: str = ""  # what the match rests on, in words


def identify_gpu(device_name: str, total_mem_bytes: int | None = None, sm_count: int | None = None) -> GpuMatch:
    """Find a device in the catalog: by name first ("NVIDIA H100 80GB HBM3" -> h100-sxm,
    "NVIDIA A100-SXM4-40GB" -> a100-40gb-sxm, "AMD Instinct MI300X VF" -> mi300x), with the memory size
    choosing among variants a name leaves open ("NVIDIA A100-PG509-200" with 40 GB -> a100-40gb-sxm);
    when the name says nothing (empty, or a generic "AMD Radeon Graphics"), by SM/CU count and memory size
    if the entries that have both share one set of datasheet figures."""
    text = _squash(device_name or "")
    key = _match_by_name(text, total_mem_bytes, sm_count) if text else None
    if key is not None:
        return GpuMatch(GPU_CATALOG[key], "name")
    hits = _match_by_numbers(total_mem_bytes, sm_count)
    if hits and total_mem_bytes:  # (hits need the memory size)
        names = " or ".join(h.name for h in hits)
        same = " (the same datasheet figures)" if len(hits) > 1 else ""
        return GpuMatch(hits[0], "SM count and memory", f"{sm_count} SMs/CUs and {total_mem_bytes / 2**30:.0f} GiB: {names}{same}")
    return GpuMatch(None, "")


def _match_by_name(text: str, mem: int | None, sm_count: int | None) -> str | None:
    def big(threshold_bytes: float, when_unknown: bool = False) -> bool:
        return mem > threshold_bytes if mem is not None else when_unknown

    if "gb200" in text:
        return "gb200"
    if "gh200" in text:
        return "gh200-144gb" if "144" in text or big(120e9) else "gh200-96gb"
    if "b200" in text:
        return "b200"
    if "h200" in text:
        return "h200"
    if "h100" in text:
        # "H100 PCIe" names the PCIe card, "H100 NVL" the NVL board; "H100 80GB HBM3" / "H100 SXM5" the SXM module.
        return "h100-pcie" if "pcie" in text else "h100-nvl" if "nvl" in text else "h100-sxm"
    if re.search(r"h20(?!\d)", text):
        return "h20"
    if "a100" in text:
        if "80gb" in text:
            large = True
        elif "40gb" in text:
            large = False
        else:
            large = big(60e9)
        form = "pcie" if "pcie" in text else "sxm"
        return f"a100-{80 if large else 40}gb-{form}"
    if "a10g" in text:
        return "a10g"
    if re.search(r"a10(?!\d)", text):
        return "a10"
    if "l40s" in text:
        return "l40s"
    if text == "l4" or re.search(r"(^|[^a-z])l4(?!\d)", text) or (text.startswith("l4") and not text.startswith("l40")):
        return "l4"
    if re.search(r"(^|tesla)t4", text):
        return "t4"
    if "v100" in text:
        return f"v100-{32 if '32gb' in text or big(20e9) else 16}gb-{'pcie' if 'pcie' in text else 'sxm2'}"
    if "mi250" in text:
        # The runtime names both "AMD Instinct MI250X/MI250"; the CU count per GCD tells them apart (110 vs 104).
        return "mi250" if sm_count == 104 or "mi250x" not in text else "mi250x"
    for amd in ("mi355", "mi325", "mi300x", "mi210"):
        if amd in text:
            return amd + ("x" if amd in ("mi355", "mi325") else "")
    return None


def _match_by_numbers(mem: int | None, sm_count: int | None) -> list[GpuSpec]:
    """Catalog entries with this SM/CU count and a memory size within 3%, when they all have the same
    bandwidth and peaks (so whichever it is, the figures are right); [] otherwise."""
    if not mem or not sm_count:
        return []
    hits = [s for s in _ENTRIES if s.sm_count == sm_count and abs(s.memory_bytes - mem) <= 0.03 * s.memory_bytes]
    if hits and all(h.bandwidth_gbps == hits[0].bandwidth_gbps and h.peak_tflops == hits[0].peak_tflops for h in hits):
        return hits
    return []


def with_measured(spec: GpuSpec, bandwidth_gbps: float | None = None, peak_tflops: dict | None = None) -> GpuSpec:
    """``spec`` with measured ceilings in place of the datasheet's; ``source`` becomes "measured".

    ``peak_tflops`` entries (dtype names as ``peak_for_dtype`` accepts) replace those keys only.
    """
    peaks = dict(spec.peak_tflops)
    for dtype, value in (peak_tflops or {}).items():
        peaks[dtype_key(dtype)] = float(value)
    bandwidth = spec.bandwidth_gbps if bandwidth_gbps is None else float(bandwidth_gbps)
    return replace(spec, bandwidth_gbps=bandwidth, peak_tflops=peaks, source="measured")
