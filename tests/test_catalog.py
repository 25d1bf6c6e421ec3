"""The GPU catalog: datasheet numbers, lookups by name, trace device names, measured overrides."""

import pytest

from profkit.errors import ProfkitError
from profkit.hardware.catalog import GPU_CATALOG, GpuSpec, get_gpu, match_gpu, with_measured

REQUIRED_KEYS = (
    "a100-40gb-sxm",
    "a100-40gb-pcie",
    "a100-80gb-sxm",
    "a100-80gb-pcie",
    "h100-sxm",
    "h100-pcie",
    "h200",
    "l4",
    "l40s",
)


def test_catalog_has_required_gpus():
    assert set(REQUIRED_KEYS) <= set(GPU_CATALOG)
    for key, spec in GPU_CATALOG.items():
        assert spec.key == key
        assert spec.source == "spec"


@pytest.mark.parametrize(
    "key, bandwidth_gbps, bf16_tflops, sm_count",
    [
        ("a100-40gb-sxm", 1555, 312, 108),
        ("a100-40gb-pcie", 1555, 312, 108),
        ("a100-80gb-sxm", 2039, 312, 108),
        ("a100-80gb-pcie", 1935, 312, 108),
        ("h100-sxm", 3352, 989.4, 132),
        ("h100-pcie", 2039, 756, 114),
        ("h200", 4800, 989.4, 132),
        ("l4", 300, 121, 58),
        ("l40s", 864, 362, 142),
    ],
)
def test_datasheet_numbers(key, bandwidth_gbps, bf16_tflops, sm_count):
    spec = GPU_CATALOG[key]
    assert spec.bandwidth_gbps == bandwidth_gbps
    assert spec.peak_for_dtype("bf16") == pytest.approx(bf16_tflops)
    assert spec.peak_for_dtype("fp16") == pytest.approx(bf16_tflops)
    assert spec.sm_count == sm_count


def test_a100_peaks_and_no_fp8():
    a100 = get_gpu("a100-40gb-sxm")
    assert a100.peak_tflops == {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0, "int8": 624.0}
    with pytest.raises(ProfkitError, match="no fp8"):
        a100.peak_for_dtype("fp8")


def test_hopper_peaks():
    h100 = get_gpu("h100-sxm")
    assert h100.peak_for_dtype("fp8") == pytest.approx(1978.9)
    assert h100.peak_for_dtype("int8") == pytest.approx(1978.9)
    assert h100.peak_for_dtype("tf32") == pytest.approx(494.7)
    assert get_gpu("h200").peak_tflops == h100.peak_tflops
    assert get_gpu("h100-pcie").peak_for_dtype("fp8") == pytest.approx(1513)


def test_memory_is_cuda_reported_capacity():
    # totalGlobalMem recorded on real devices: A100-SXM4-40GB, H100 80GB HBM3, H200 (our traces).
    assert get_gpu("a100-40gb-sxm").memory_bytes == 42_505_273_344
    assert get_gpu("h100-sxm").memory_bytes == 85_017_493_504
    assert get_gpu("h200").memory_bytes == 150_109_880_320
    nominal = {
        "l4": 24,
        "l40s": 48,
        "h200": 141,
        "v100-16gb-sxm2": 16,
        "v100-16gb-pcie": 16,
        "v100-32gb-sxm2": 32,
        "v100-32gb-pcie": 32,
        "t4": 16,
        "a10": 24,
        "a10g": 24,
        "h100-nvl": 94,
        "h20": 96,
        "gh200-96gb": 96,
        "gh200-144gb": 144,
        "b200": 180,
        "gb200": 186,
        "mi210": 64,
        "mi250x": 64,
        "mi250": 64,
        "mi300x": 192,
        "mi325x": 256,
        "mi355x": 288,
    }
    for spec in GPU_CATALOG.values():
        nominal_gb = nominal.get(spec.key, 40 if "40gb" in spec.key else 80)
        # Usable capacity lies a few percent under the nominal GiB figure, and above the nominal GB one for HBM.
        assert 0.9 * nominal_gb * 1024**3 < spec.memory_bytes < nominal_gb * 1024**3


@pytest.mark.parametrize(
    "dtype, expected",
    [
        ("c10::BFloat16", 312),
        ("bfloat16", 312),
        ("torch.bfloat16", 312),
        ("c10::Half", 312),
        ("float16", 312),
        ("half", 312),
        ("int8", 624),
        ("float", 19.5),
        ("float32", 19.5),
        ("tf32", 156),
    ],
)
def test_peak_for_torch_names(dtype, expected):
    assert get_gpu("a100-40gb-sxm").peak_for_dtype(dtype) == pytest.approx(expected)


def test_peak_for_unknown_dtype_raises():
    with pytest.raises(ProfkitError, match="unknown dtype 'complex64'"):
        get_gpu("h200").peak_for_dtype("complex64")


@pytest.mark.parametrize(
    "text, key",
    [
        ("a100-40gb-sxm", "a100-40gb-sxm"),
        ("A100 40GB", "a100-40gb-sxm"),
        ("a100", "a100-40gb-sxm"),
        ("NVIDIA A100 40GB SXM", "a100-40gb-sxm"),
        ("H100", "h100-sxm"),
        ("h100 pcie", "h100-pcie"),
        ("H200", "h200"),
        ("nvidia l40s", "l40s"),
        ("A100 80GB PCIe", "a100-80gb-pcie"),
    ],
)
def test_get_gpu_by_key_name_alias(text, key):
    assert get_gpu(text).key == key


def test_get_gpu_unknown_lists_keys():
    with pytest.raises(ProfkitError) as info:
        get_gpu("rtx 4090")
    assert "a100-40gb-sxm" in str(info.value) and "l40s" in str(info.value)


@pytest.mark.parametrize(
    "device_name, mem, key",
    [
        ("NVIDIA H200", 150_109_880_320, "h200"),
        ("NVIDIA H100 80GB HBM3", 85_017_493_504, "h100-sxm"),
        ("NVIDIA H100 PCIe", None, "h100-pcie"),
        ("NVIDIA A100-SXM4-40GB", None, "a100-40gb-sxm"),
        ("NVIDIA A100-SXM4-80GB", None, "a100-80gb-sxm"),
        ("NVIDIA A100-PCIE-40GB", None, "a100-40gb-pcie"),
        ("NVIDIA A100 80GB PCIe", None, "a100-80gb-pcie"),
        ("NVIDIA A100-SXM4", 85_198_045_184, "a100-80gb-sxm"),
        ("NVIDIA A100-SXM4", 42_505_273_344, "a100-40gb-sxm"),
        ("NVIDIA L4", None, "l4"),
        ("NVIDIA L40S", None, "l40s"),
    ],
)
def test_match_gpu(device_name, mem, key):
    assert match_gpu(device_name, mem).key == key


@pytest.mark.parametrize("device_name", ["NVIDIA L40", "", "NVIDIA GeForce RTX 4090", "AMD Radeon RX 7900 XTX", "ARTEMIS"])
def test_match_gpu_unknown_is_none(device_name):
    assert match_gpu(device_name) is None


@pytest.mark.parametrize(
    "device_name, mem, sms, key",
    [
        # device names as real traces record them (traces/external and their sources)
        ("NVIDIA A100-PG509-200", 42_505_273_344, 108, "a100-40gb-sxm"),
        ("NVIDIA A100-SXM4-80GB", 84_990_623_744, 108, "a100-80gb-sxm"),
        ("NVIDIA B200", 191_503_138_816, 148, "b200"),
        ("AMD Instinct MI300X", 206_141_652_992, 304, "mi300x"),
        ("AMD Instinct MI300X VF", 205_571_227_648, 304, "mi300x"),
        ("AMD Instinct MI210", 68_702_699_520, 104, "mi210"),
        ("AMD Instinct MI250X/MI250", 68_702_699_520, 110, "mi250x"),
        ("AMD Instinct MI250X/MI250", 68_702_699_520, 104, "mi250"),
        ("AMD Instinct MI325X", None, None, "mi325x"),
        ("AMD Instinct MI355X", None, None, "mi355x"),
        ("Tesla V100-SXM2-16GB", 16_945_512_448, 80, "v100-16gb-sxm2"),
        ("Tesla V100-SXM2-32GB", None, 80, "v100-32gb-sxm2"),
        ("Tesla V100-PCIE-32GB", None, 80, "v100-32gb-pcie"),
        ("Tesla T4", None, 40, "t4"),
        ("NVIDIA A10", None, 72, "a10"),
        ("NVIDIA A10G", None, 80, "a10g"),
        ("NVIDIA H100 NVL", None, 132, "h100-nvl"),
        ("NVIDIA H20", None, 78, "h20"),
        ("NVIDIA GH200 480GB", 102_005_473_280, 132, "gh200-96gb"),
        ("NVIDIA GH200 144G HBM3e", None, 132, "gh200-144gb"),
        ("NVIDIA GB200", None, 148, "gb200"),
        # no usable name: the SM/CU count and memory decide when they are unambiguous
        ("", 206_141_652_992, 304, "mi300x"),
        ("AMD Radeon Graphics", 68_702_699_520, 104, "mi210"),  # MI210 or an MI250 GCD: the same figures
    ],
)
def test_match_foreign_devices(device_name, mem, sms, key):
    assert match_gpu(device_name, mem, sms).key == key


def test_every_entry_has_bandwidth_and_a_tensor_peak():
    for spec in GPU_CATALOG.values():
        assert spec.bandwidth_gbps > 0 and spec.sm_count > 0
        assert {"fp16"} <= set(spec.peak_tflops) and "fp32" in spec.peak_tflops


def test_with_measured_overrides_and_marks_source():
    spec = get_gpu("h200")
    measured = with_measured(spec, bandwidth_gbps=4251.8 / 2, peak_tflops={"c10::BFloat16": 791.1})
    assert measured.source == "measured"
    assert measured.bandwidth_gbps == pytest.approx(2125.9)
    assert measured.peak_for_dtype("bf16") == pytest.approx(791.1)
    assert measured.peak_for_dtype("fp16") == pytest.approx(989.4)  # untouched keys keep the datasheet value
    assert spec.source == "spec" and spec.peak_for_dtype("bf16") == pytest.approx(989.4)  # original unchanged
    assert with_measured(spec).bandwidth_gbps == spec.bandwidth_gbps


def test_spec_validation():
    with pytest.raises(ProfkitError, match="bandwidth_gbps"):
        GpuSpec("x", "X", 1, 0.0, {"bf16": 1.0})
    with pytest.raises(ProfkitError, match="unknown peak_tflops key"):
        GpuSpec("x", "X", 1, 1.0, {"bfloat16": 1.0})
