"""Kernel categorisation on the kernel names of cuBLAS, cutlass, cuDNN, flash and Triton builds."""

from __future__ import annotations

import json

import pytest

from profkit.analyses.kernels import CATEGORIES, categorize
from profkit.trace.loader import parse_trace

KERNELS = [
    # (kernel name, launching op, input dims, expected category)
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas", "aten::mm", [[16, 4096], [4096, 4096]], "gemm"),
    ("nvjet_sm90_tst_64x8_64x16_2x1_v_bz_TNT", "aten::mm", [[1, 4096], [4096, 4096]], "gemm"),
    ("ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_stages_64x3_tn", "aten::addmm", [[4096], [8, 4096], [4096, 4096]], "gemm"),
    ("void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(Params)", "aten::mm", [[8, 4096], [4096, 4096]], "gemm"),
    ("void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16>", "aten::mm", [[1, 4096], [4096, 4096]], "gemm"),
    ("triton_tem_fused_mm_0", "Torch-Compiled Region: 0/0", None, "gemm"),
    ("void cutlass::Kernel2<cutlass_80_tensorop_i16832gemm_s8_64x64_64x6_tn_align16>(Params)", "bitsandbytes::int8_linear_matmul", [[1, 4096], [4096, 4096]], "int8_gemm"),
    ("void kInt8VectorQuant<__half, 1024, 1>(__half*, signed char*, float*, float, int, int)", "bitsandbytes::int8_vectorwise_quant", [[1, 4096], []], "int8_quant"),
    ("void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 32, 4>>(Flash_fwd_params)", "aten::_flash_attention_forward", [[1, 32, 1, 128]], "attention"),
    ("fmha_cutlassF_bf16_aligned_64x128_rf_sm80(PyTorchMemEffAttention::AttentionKernel)", "aten::_efficient_attention_forward", [[1, 32, 1, 128]], "attention"),
    ("triton_per_fused__to_copy_add_mean_mul_pow_rsqrt_1", "Torch-Compiled Region: 0/0", None, "normalization"),
    ("triton_poi_fused_index_copy_3", "Torch-Compiled Region: 0/0", None, "kv_cache"),
    ("triton_poi_fused_cat_cos_mul_neg_sin_2", "Torch-Compiled Region: 0/0", None, "elementwise"),
    ("void at::native::vectorized_elementwise_kernel<8, at::native::silu_kernel>", "aten::silu", [[1, 1, 14336]], "elementwise"),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, MeanOps>>", "aten::mean", [[1, 1, 4096], [], [], []], "normalization"),
    ("void at::native::CatArrayBatchedCopy<at::native::OpaqueType<2u>, unsigned int, 4, 64, 64>", "aten::cat", [[[1, 8, 132, 128], [1, 8, 1, 128]], []], "kv_cache"),
    ("void at::native::CatArrayBatchedCopy<at::native::OpaqueType<2u>, unsigned int, 4, 64, 64>", "aten::cat", [[[1, 32, 1, 64], [1, 32, 1, 64]], []], "elementwise"),
    ("some_custom_kernel", "", None, "other"),
]


@pytest.fixture(scope="module")
def categories(tmp_path_factory):
    events = []
    for i, (kernel, op, dims, _) in enumerate(KERNELS):
        ts = 100.0 * i
        if op:
            events.append({"ph": "X", "cat": "cpu_op", "name": op, "pid": 1, "tid": 1, "ts": ts, "dur": 50.0, "args": {"External id": i + 1, "Input Dims": dims or [], "Input type": ["c10::BFloat16"] * len(dims or [])}})
        events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": ts + 1, "dur": 5.0, "args": {"External id": i + 1 if op else -1, "correlation": 1000 + i}})
        events.append({"ph": "X", "cat": "kernel", "name": kernel, "pid": 0, "tid": 7, "ts": ts + 10, "dur": 3.0, "args": {"External id": i + 1 if op else -1, "correlation": 1000 + i, "stream": 7, "device": 0}})
    path = tmp_path_factory.mktemp("names") / "names.json"
    path.write_text(json.dumps({"traceEvents": events}))
    trace = parse_trace(path)
    names = trace.names(trace.gpu.name_id)
    return [(n, CATEGORIES[c]) for n, c in zip(names, categorize(trace))]


@pytest.mark.parametrize("index", range(len(KERNELS)), ids=[k[3] + ":" + k[0][:30] for k in KERNELS])
def test_kernel_category(categories, index):
    name, category = categories[index]
    assert name == KERNELS[index][0]
    assert category == KERNELS[index][3]
