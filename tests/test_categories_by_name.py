"""Kernel categorisation on the kernel names of cuBLAS, cutlass, cuDNN, flash and Triton builds."""

from __future__ import annotations

import json

import pytest

from profkit.analyses.kernels import CATEGORIES, categorize
from profkit.trace.loader import parse_trace

KERNELS = [
    # (kernel name, launching op, input dims, expected category)
    (
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas",
        "aten::mm",
        [[16, 4096], [4096, 4096]],
        "gemm",
    ),
    ("nvjet_sm90_tst_64x8_64x16_2x1_v_bz_TNT", "aten::mm", [[1, 4096], [4096, 4096]], "gemm"),
    ("ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_stages_64x3_tn", "aten::addmm", [[4096], [8, 4096], [4096, 4096]], "gemm"),
    ("void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(Params)", "aten::mm", [[8, 4096], [4096, 4096]], "gemm"),
    ("void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16>", "aten::mm", [[1, 4096], [4096, 4096]], "gemm"),
    ("triton_tem_fused_mm_0", "Torch-Compiled Region: 0/0", None, "gemm_other"),  # a compiled region records no dtype
    (
        "void cutlass::Kernel2<cutlass_80_tensorop_i16832gemm_s8_64x64_64x6_tn_align16>(Params)",
        "bitsandbytes::int8_linear_matmul",
        [[1, 4096], [4096, 4096]],
        "int8_gemm",
    ),
    (
        "void kInt8VectorQuant<__half, 1024, 1>(__half*, signed char*, float*, float, int, int)",
        "bitsandbytes::int8_vectorwise_quant",
        [[1, 4096], []],
        "int8_quant",
    ),
    (
        "void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 32, 4>>(Flash_fwd_params)",
        "aten::_flash_attention_forward",
        [[1, 32, 1, 128]],
        "attention",
    ),
    (
        "fmha_cutlassF_bf16_aligned_64x128_rf_sm80(PyTorchMemEffAttention::AttentionKernel)",
        "aten::_efficient_attention_forward",
        [[1, 32, 1, 128]],
        "attention",
    ),
    ("triton_per_fused__to_copy_add_mean_mul_pow_rsqrt_1", "Torch-Compiled Region: 0/0", None, "normalization"),
    ("triton_poi_fused_index_copy_3", "Torch-Compiled Region: 0/0", None, "kv_cache"),
    ("triton_poi_fused_cat_cos_mul_neg_sin_2", "Torch-Compiled Region: 0/0", None, "elementwise"),
    ("void at::native::vectorized_elementwise_kernel<8, at::native::silu_kernel>", "aten::silu", [[1, 1, 14336]], "elementwise"),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, MeanOps>>", "aten::mean", [[1, 1, 4096], [], [], []], "normalization"),
    (
        "void at::native::CatArrayBatchedCopy<at::native::OpaqueType<2u>, unsigned int, 4, 64, 64>",
        "aten::cat",
        [[[1, 8, 132, 128], [1, 8, 1, 128]], []],
        "kv_cache",
    ),
    (
        "void at::native::CatArrayBatchedCopy<at::native::OpaqueType<2u>, unsigned int, 4, 64, 64>",
        "aten::cat",
        [[[1, 32, 1, 64], [1, 32, 1, 64]], []],
        "elementwise",
    ),
    ("some_custom_kernel", "", None, "other"),
    # Convolutions: cuDNN runs 1x1 convolutions as sgemm (the op says it is the convolution), implicit-GEMM
    # kernels of cuDNN, cutlass and MIOpen say so in their names; FBGEMM's namespace makes no GEMM
    ("volta_sgemm_64x64_nn", "aten::cudnn_convolution", [[8, 64, 56, 56], [64, 64, 1, 1]], "convolution"),
    ("cudnn_train_volta_scudnn_128x128_stridedB_splitK_medium_nn_v1", "aten::convolution_backward", None, "convolution"),
    ("void cutlass__5x_cudnn::Kernel<cutlass_tensorop_bf16_s16816fprop_optimized_bf16_256x64_32x4_nhwc_align8>(Params)", "", None, "convolution"),
    ("igemm_fwd_gtcx3_nhwc_bf16_bx0_ex1_bt128x128x32_wt32x32x8_ws1x1_wr2x2", "", None, "convolution"),
    # a mangled launcher whose template argument is a nested name (S_ substitutes the launcher's namespace)
    (
        "_ZN19cutlass_cudnn_train6KernelINS_4conv6kernel23ImplicitGemmConvolutionINS1_11threadblock22ImplicitGemmMultistageEEEEEvNT_6ParamsE",
        "",
        None,
        "convolution",
    ),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>>", "aten::cudnn_convolution", None, "elementwise"),
    ("void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, 512, true, 1>(cudnnTensorStruct, float const*)", "aten::cudnn_batch_norm", None, "normalization"),
    ("void fbgemm_gpu::permute_2D_lengths_kernel<int>(int, int, int const*, int*)", "fbgemm::permute_2D_sparse_data", None, "other"),
    ("void fbgemm_gpu::f8f8bf16_rowwise_kernel<128>(Params)", "fbgemm::f8f8bf16_rowwise", None, "gemm_fp8_fp4"),
    # Foreign kernels with no launching op (graph replays, custom ops): the name alone decides.
    ("Cijk_Alik_Bljk_BBS_BH_Bias_HA_S_SAV_UserArgs_MT256x32x64_MI16x16x1_SN_LDSB1", "", None, "gemm"),
    ("Cijk_Ailk_Bljk_SB_MT64x64x8_SN_1LDSB0_APM1", "", None, "gemm_fp32"),
    ("nvjet_sss_64x8_64x16_2x1_v_bz_TNT", "", None, "gemm_fp32"),
    ("ampere_sgemm_128x64_nn", "", None, "gemm_fp32"),
    ("bmm_MxE4m3_MxE2m1MxE4m3_Fp32_t128x16x256u2_s3_et128x16_m128x16x32_cga1x1x1_16dp256b_rM_TN", "vllm::moe_forward", [[888, 2880]], "gemm_fp8_fp4"),
    ("_matmul_ogs_NNT_bf16xbf16xmxfp4_16x128x256x1_swiglu", "", None, "gemm_fp8_fp4"),
    ("fused_moe_kernel", "vllm::outplace_fused_experts", [[16, 4096]], "gemm_other"),  # not a GEMM op: its input types need not be the weights'
    ("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_64x64_32x6_tn_align4>(Params)", "", None, "gemm_fp32"),
    ("kernel_unified_attention_3d", "", None, "attention"),
    ("reduce_segments", "", None, "attention"),
    ("void paged_attention_ll4mi_QKV_mfma16_kernel<0, __hip_bfloat16, __hip_bfloat16, (vllm::Fp8KVCacheDataType)0, 1>(float)", "", None, "attention"),
    (
        "_ZN7ck_tile6kentryILi2ENS_38FmhaBatchPrefillWithPagedKVCacheKernelINS_40BlockFmhaBatchPrefillPipelineQRKSVSAsy",
        "aiter::mha_batch_prefill",
        None,
        "attention",
    ),
    ("fmhaSm100aKernel_QkvE4m3OBfloat16H64PagedKvCausalP16VarSeqQ128Kv128PersistentContext", "vllm::unified_attention_with_output", None, "attention"),
    ("void flashinfer::BatchDecodeWithPagedKVCacheKernel<true, 128u>(flashinfer::Params)", "", None, "attention"),
    (
        "void vllm::reshape_and_cache_flash_kernel<__nv_bfloat16, unsigned char, (vllm::Fp8KVCacheDataType)1>(__nv_bfloat16 const*)",
        "_C_cache_ops::reshape_and_cache_flash",
        None,
        "kv_cache",
    ),
    ("void (anonymous namespace)::store_kvcache<2048l, 4, false, long>((anonymous namespace)::StoreKVCacheParams)", "sglang::store_cache", None, "kv_cache"),
    ("ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)", "record_param_comms", None, "communication"),
    ("void vllm::cross_device_reduce_1stage<__nv_bfloat16, 8>(vllm::RankData*, vllm::RankSignals)", "_C_custom_ar::all_reduce", None, "communication"),
    (
        "void (anonymous namespace)::multimem_all_reduce_kernel<c10::BFloat16, 16>(c10::BFloat16*, unsigned long)",
        "symm_mem::multimem_all_reduce_",
        None,
        "communication",
    ),
    (
        "void moe::dev::routing::routingIndicesHistogramKernel<moe::dev::routing::routingRenormalize::KernelParams<__nv_bfloat16, __nv_bfloat16, 128, false> >(moe::dev::routing::KernelParams)",
        "vllm::moe_forward",
        None,
        "moe_routing",
    ),
    (
        "void moe::dev::finalize::finalizeKernelVecLoad<moe::dev::finalize::KernelParams<cutlass::bfloat16_t, cutlass::bfloat16_t, 4, true> >(moe::dev::finalize::KernelParams)",
        "vllm::moe_forward",
        None,
        "moe_routing",
    ),
    ("_topk_forward", "", None, "moe_routing"),
    ("void vllm::moe::topkGatingSoftmax<8, 128, 4, 16, 32, int, __nv_bfloat16>(__nv_bfloat16 const*)", "_moe_C::topk_softmax", None, "moe_routing"),
    ("void flashinfer::sampling::TopKTopPSamplingFromProbKernel<1024u, (cub::BlockScanAlgorithm)2, 4u>(float*)", "", None, "sampling"),
    (
        "void tensorrt_llm::kernels::quantize_with_block_size<(tensorrt_llm::BlockScaleQuantizationType)2, __nv_bfloat16, 32, true>(int, int)",
        "vllm::moe_forward",
        None,
        "quantize",
    ),
    ("_ZN5aiter24add_rmsnorm_quant_kernelIDF16bDF16bLi64ELi8ELb0ELb0ELb1ELi1EEEvPT0_PT_PfS4_S4_S4_diiiiiiib", "aiter::rmsnorm", None, "normalization"),
    (
        "std::enable_if<(((8)>(0)))&&vllm::_typeConvert<c10::BFloat16>::exists, void>::type vllm::fused_add_rms_norm_kernel<c10::BFloat16, 8>(c10::BFloat16*, long)",
        "_C::fused_add_rms_norm",
        None,
        "normalization",
    ),
    (
        "_ZN7sgl_hip10activation18act_and_mul_kernelI14__hip_bfloat16TnPFT_RKS3_EXadL_Z4siluIS2_ES3_S5_EEEEvPS3_PS4_i",
        "sgl_kernel::silu_and_mul",
        None,
        "elementwise",
    ),
    ("void vllm::rotary_embedding_kernel<c10::BFloat16, true>(long const*, c10::BFloat16*)", "_C::rotary_embedding", None, "elementwise"),
    ("_fwd_grouped_kernel_stage1", "", None, "attention"),  # SGLang/vLLM Triton decode attention
    ("void vllm::paged_attention_v2_kernel<__nv_bfloat16, __nv_bfloat16, 128, 16, 128>(float*)", "_C::paged_attention_v2", None, "attention"),
    ("void marlin::Marlin<256, 1, 8, 8, 4, 8>(int4 const*)", "_C::gptq_marlin_gemm", None, "gemm_other"),
    ("void vllm::moe::moe_align_block_size_kernel<int>(int const*)", "_moe_C::moe_align_block_size", None, "moe_routing"),
    ("void vllm::act_and_mul_kernel<c10::BFloat16, &(vllm::silu_kernel<c10::BFloat16>)>(c10::BFloat16*)", "_C::silu_and_mul", None, "elementwise"),
    ("ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)", "c10d::allreduce_", None, "communication"),
]


@pytest.fixture(scope="module")
def categories(tmp_path_factory):
    events = []
    for i, (kernel, op, dims, _) in enumerate(KERNELS):
        ts = 100.0 * i
        if op:
            events.append(
                {
                    "ph": "X",
                    "cat": "cpu_op",
                    "name": op,
                    "pid": 1,
                    "tid": 1,
                    "ts": ts,
                    "dur": 50.0,
                    "args": {"External id": i + 1, "Input Dims": dims or [], "Input type": ["c10::BFloat16"] * len(dims or [])},
                }
            )
        events.append(
            {
                "ph": "X",
                "cat": "cuda_runtime",
                "name": "cudaLaunchKernel",
                "pid": 1,
                "tid": 1,
                "ts": ts + 1,
                "dur": 5.0,
                "args": {"External id": i + 1 if op else -1, "correlation": 1000 + i},
            }
        )
        events.append(
            {
                "ph": "X",
                "cat": "kernel",
                "name": kernel,
                "pid": 0,
                "tid": 7,
                "ts": ts + 10,
                "dur": 3.0,
                "args": {"External id": i + 1 if op else -1, "correlation": 1000 + i, "stream": 7, "device": 0},
            }
        )
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
