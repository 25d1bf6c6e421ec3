"""What a kernel does, read from its own name: the family (GEMM, attention, communication, ...) and,
for GEMMs, the data type, across vendors and libraries.

A kernel's name carries its function name, template arguments and parameter list, mangled or not:
`void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(Params)`,
`_ZN7ck_tile6kentryILi2ENS_38FmhaBatchPrefillWithPagedKVCacheKernel...`,
`std::enable_if<...>::type vllm::fused_add_rms_norm_kernel<c10::BFloat16, 8>(...)`. Words inside
template arguments say little about the kernel (`cutlass::bfloat16_t` in a MoE finalize kernel is no
GEMM), so rules look at the *head*: the function's qualified name, plus the first template argument
when the function is a generic launcher (`cutlass::Kernel2<...>`, `ck_tile::kentry<...>`).

The tables below are data, in the order they are tried: adding a library's kernel family is one line.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Launchers whose first template argument names the real kernel (incl. cuDNN's cutlass_cudnn_train::Kernel).
_WRAPPERS = ("::Kernel", "::Kernel2", "cutlass::device_kernel", "ck_tile::kentry", "ck::kernel_gemm", "kentry", "device_kernel")

# (family, pattern on the head), tried in order. Families are kernel categories of `profkit.analyses.kernels`.
STRONG_FAMILIES: tuple[tuple[str, str], ...] = (
    # collectives: NCCL/RCCL, vLLM/SGLang custom all-reduce, symmetric-memory and quick reduce, expert-parallel dispatch
    (
        "communication",
        r"nccl|rccl|msccl|all_?reduce|allgather|all_gather|reduce_?scatter|all_?to_?all|cross_device_reduce|custom_?ar\b|quick_?reduce|multimem|one_shot|two_shot|deep_?ep|pplx|moe_dispatch|moe_combine",
    ),
    # sampling and logits processing (FlashInfer's sampling kernels live in a `flashinfer::sampling` namespace)
    ("sampling", r"sampl|top_?k_?top_?p|top_?p_|min_?p_|multinomial|logprob|penalt|gumbel|argmax_?logits"),
    # KV-cache writes: vLLM reshape_and_cache(_flash), concat_and_cache_mla, SGLang store_kvcache, block copies
    (
        "kv_cache",
        r"reshape_and_cache|store_kv_?cache|concat_and_cache|kv_?cache_(write|store|copy|scatter)|set_kv_buffer|write_(to_)?kv_?cache|copy_blocks|swap_blocks|save_kv",
    ),
    # attention: flash/FlashInfer/fmha/paged/unified/MLA/decode & prefill kernels, CK tile FMHA, aiter asm attention
    # MoE combine kernels whose names mention the matmul they follow
    ("moe_routing", r"^_finalize_matmul|finalize_?scatter"),
    # (Triton prefix-prefill/decode attention of vLLM and SGLang is `_fwd_kernel`, `_fwd_grouped_kernel_stage1`, ...;
    # TRT-LLM's decode attention is XQA / masked multi-head attention)
    (
        "attention",
        r"reduce_segments|flash|fmha|attn|attention|sdpa|paged_?att|(?<![a-z])mla|mha_|batch_?prefill|batch_?decode|merge_?states|xformers|(?<![a-z])pa_|_pa_fwd|^_fwd_(grouped_)?kernel|_fwd_kernel_stage|xqa|mmha|masked_?multihead",
    ),
    # convolutions: cuDNN (scudnn, implicit-GEMM fprop/dgrad/wgrad, winograd), cutlass conv, MIOpen
    # (igemm_{fwd,bwd,wrw}_gtc, naive_conv), CK grouped_conv: before GEMMs, as many are implicit GEMMs
    (
        "convolution",
        r"conv(?!ert)|fprop|dgrad|wgrad|scudnn|implicit_?convolve|winograd|igemm_(fwd|bwd|wrw)|(?<![a-z])wrw_|cudnn::(cnn|ops)",
    ),
    # GEMMs: cuBLAS(Lt)/nvjet/xmma/cutlass, rocBLAS/hipBLASLt/Tensile Cijk/CK/aiter, Triton matmuls incl. MoE,
    # TRT-LLM/FlashInfer `bmm_*` (MXFP4/FP8 experts), skinny GEMV kernels, FBGEMM's GEMMs (`f8f8bf16_rowwise`, ...;
    # its other kernels -- permute, bucketize, embedding -- are no GEMMs though the namespace is fbgemm_gpu)
    # (Marlin/Machete/GPTQ/AWQ/ExLlama weight-only quantized GEMMs; aiter's fused-MoE `fmoe`/`ck_moe` kernels)
    (
        "gemm",
        r"(?<!fb)gemm|f8f8bf16|bf16i4bf16|i8i8bf16|gemv|^nvjet|cublas|^cijk_|xmma|cutlass.*(tensorop|wmma|sm\d\d)|_?matmul|^bmm_|fused_moe|moe_gemm|grouped_?mm|_mm_kernel|splitk|hipblaslt|rocblas|tensile|wvsplitk|^llmm1|skinny|scaled_mm|fp8_mm|w8a8|marlin|machete|gptq|awq|exllama|(?<![a-z])fmoe|ck_moe",
    ),
    # MoE routing, permutation and combine (not the expert GEMMs above)
    (
        "moe_routing",
        r"topk_?softmax|topk_?gating|gating_?softmax|moe_?sorting|moe_align|moe_sum|moe_?permute|moe_?unpermute|moe::dev::(routing|finalize)|routing|grouped_?topk|fused_?topk|expert_?(map|count|offset|index)|count_and_sort|sort_expert|shuffle_rows|bitmatrix|_topk_|^_topk|expt_|compute_expt|moe_?(gather|scatter|finalize)|token_?(dispatch|combine)",
    ),
    # (cuDNN's batch norm kernels are bn_fw_tr_*, bn_fw_inf_*, bn_bw_*)
    ("normalization", r"rms_?norm|layer_?norm|group_?norm|batch_?norm|instance_?norm|norm_kernel|rsqrt|(?<![a-z])bn_(fw|bw)"),
    ("quantize", r"quant|scaled_fp8|fp8_?cast|to_mxfp|to_nvfp|fp4_?cast|cvt_fp16_to_fp4|block_?scale|per_token_group|dynamic_scaled|_scale_kernel"),
)
# Generic PyTorch/ROCm/CUB kernels and activations: elementwise work unless the launching op says more.
WEAK_FAMILIES: tuple[tuple[str, str], ...] = (
    (
        "elementwise",
        r"rotary|rope|act_and_mul|silu|gelu|swiglu|activation|elementwise|transpose|subtensorop|tensorop|vectorized|unrolled|^at::|::at::|at_cuda_detail|rocprim|^cub::|thrust|index_?(select|put|copy)|gather|scatter|fill|arange|cumsum|softmax|embedding|copy|cat_?array|concat|reduce_kernel|compute_position",
    ),
)
_STRONG = tuple((family, re.compile(pattern, re.IGNORECASE)) for family, pattern in STRONG_FAMILIES)
_WEAK = tuple((family, re.compile(pattern, re.IGNORECASE)) for family, pattern in WEAK_FAMILIES)

# GEMM data types from kernel names, tried in order (first match wins); keys as `hardware.catalog.DTYPE_KEYS`
# plus "fp4". Tensile (`Cijk_Alik_Bljk_BBS_...`) and cuBLAS nvjet (`nvjet_tst_...`) encode it in a token.
_TENSILE_TYPE = re.compile(r"^Cijk_[A-Za-z]+_[A-Za-z]+_([A-Za-z0-9]+)_")
_TENSILE_PREFIXES = (("F8", "fp8"), ("B8", "fp8"), ("4xi8", "int8"), ("I8", "int8"), ("B", "bf16"), ("H", "fp16"), ("S", "fp32"), ("X", "tf32"), ("D", "fp32"))
_NVJET_TYPE = re.compile(r"^nvjet_(?:sm\d+_)?([a-z0-9]+?)_")
_NVJET_LETTERS = {"t": "bf16", "h": "fp16", "s": "fp32", "q": "fp8", "e": "fp8"}
GEMM_DTYPE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("fp4", r"e2m1|mxfp4|nvfp4|fp4"),
    ("fp8", r"e4m3|e5m2|fp8|f8f8|_f8_|float8"),
    # weight-only int4: torch/torchao tinygemm (packed int4 weights, 16-bit activations); Marlin kernels
    # serve 4- and 8-bit and fp8 weights alike, so their names alone say no dtype
    ("int4", r"tinygemm|int4|_w4a16|_s4_|_u4b"),
    # "igemm" is cuBLAS's int8 GEMM, but MIOpen's implicit-GEMM convolutions are igemm_{fwd,bwd,wrw}_gtc*
    ("int8", r"i8816|i16832|_s8_|gemm_s8|int8|imma|(?<![a-z])igemm(?!_(fwd|bwd|wrw))|_i8_"),
    ("bf16", r"bf16|bfloat16"),
    ("fp16", r"(?<![bt])f16|fp16|half|hgemm|_h\d{3,5}gemm|^ampere_h|^volta_h|_hsh_|_hhs_"),
    ("tf32", r"tf32|s1688gemm|s16816tf32"),
    ("fp32", r"sgemm|f32f32|fp32|_sss_"),
)
_GEMM_DTYPES = tuple((dtype, re.compile(pattern, re.IGNORECASE)) for dtype, pattern in GEMM_DTYPE_PATTERNS)


@lru_cache(maxsize=65536)
def kernel_head(name: str) -> str:
    """The kernel's qualified function name (for launchers, with the first template argument's head):
    'void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_...>(Params)' ->
    'cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_...>'."""
    if name.startswith("_Z"):
        return _mangled_head(name)
    outer, groups = _split_top_level(name.replace("(anonymous namespace)", "anon"))
    outer = outer.rstrip()
    if outer.endswith("()"):  # the parameter list
        outer = outer[:-2].rstrip()
    word = outer.split(" ")[-1] if outer else ""
    base = word.replace("<>", "").replace("()", "")
    if not base:
        return name
    bracket = word.find("<>")
    inner = groups.get(len(outer) - len(word) + bracket) if bracket >= 0 else None
    if inner and base.endswith(_WRAPPERS):
        return f"{base}<{kernel_head(_first_argument(inner))}>"
    return base


def _first_argument(arguments: str) -> str:
    """The first of comma-separated template arguments (commas inside nested brackets do not count)."""
    depth = 0
    for i, ch in enumerate(arguments):
        if ch in "(<{":
            depth += 1
        elif ch in ")>}":
            depth -= 1
        elif ch == "," and depth == 0:
            return arguments[:i].strip()
    return arguments.strip()


def _split_top_level(text: str) -> tuple[str, dict[int, str]]:
    """The text outside any (), <>, {} brackets, each group shown as its empty brackets, and the content
    of every top-level '<>' group keyed by the position of its '<' in that outer text. A '<' or '>'
    inside parentheses that does not pair up is a comparison, not a bracket."""
    closers = {")": "(", ">": "<", "}": "{"}
    outer: list[str] = []
    groups: dict[int, str] = {}
    stack: list[str] = []
    start = opened_at = 0
    for i, ch in enumerate(text):
        if ch in "(<{":
            if not stack:
                start, opened_at = i + 1, len(outer)
                outer.append(ch)
            stack.append(ch)
        elif ch in closers:
            opener = closers[ch]
            if opener not in stack or (ch == ">" and stack[-1] != "<"):
                if not stack:
                    outer.append(ch)
                continue
            while stack[-1] != opener:  # an unpaired '<' (a less-than) inside this group
                stack.pop()
            stack.pop()
            if not stack:
                if ch == ">":
                    groups[opened_at] = text[start:i]
                outer.append(ch)
        elif not stack:
            outer.append(ch)
    return "".join(outer), groups


def _mangled_head(name: str) -> str:
    """Itanium-mangled names: the nested name's identifiers ('_ZN5aiter24add_rmsnorm_quant_kernelI...' ->
    'aiter::add_rmsnorm_quant_kernel'); for launchers, the first template argument's nested name, else
    its first long identifier."""
    nested = name.startswith("_ZN")
    parts, pos = _identifiers(name, 3 if nested else 2, single=not nested)
    head = "::".join(parts) or name
    if parts and parts[-1] in {w.split("::")[-1] for w in _WRAPPERS} and name.startswith("I", pos):
        if name.startswith("N", pos + 1):
            argument, _ = _identifiers(name, pos + 2)
            if argument:
                return f"{head}<{'::'.join(argument)}>"
        for m in re.finditer(r"(\d+)([A-Za-z_])", name[pos:]):
            length = int(m.group(1))
            word = name[pos + m.start(2) : pos + m.start(2) + length]
            if length >= 6 and re.fullmatch(r"[A-Za-z_]\w*", word):
                return f"{head}<{word}>"
    return head


def _identifiers(name: str, pos: int, single: bool = False) -> tuple[list[str], int]:
    """The <length><identifier> parts of a mangled nested name from `pos` up to its template arguments
    ('I') or end ('E'), skipping qualifiers and substitutions (S_, S0_); with `single`, only the first
    (a plain name, followed by its parameter types). Returns them and the position after them."""
    parts: list[str] = []
    while pos < len(name):
        skip = re.match(r"S[0-9A-Z]*_|[KVrL]+", name[pos:])
        if skip:
            pos += len(skip.group())
            continue
        m = re.match(r"\d+", name[pos:])
        if not m:
            break
        length = int(m.group())
        pos += len(m.group())
        parts.append(name[pos : pos + length])
        pos += length
        if single or name.startswith(("I", "E"), pos):
            break
    return parts, pos


@lru_cache(maxsize=65536)
def name_family(name: str) -> str | None:
    """The kernel family its name shows clearly ('gemm', 'attention', 'communication', ...), else None."""
    head = kernel_head(name)
    for family, pattern in _STRONG:
        if pattern.search(head):
            return family
    return None


@lru_cache(maxsize=65536)
def generic_family(name: str) -> str | None:
    """'elementwise' for generic framework kernels (PyTorch native, rocPRIM, CUB, activations), else None."""
    head = kernel_head(name)
    for family, pattern in _WEAK:
        if pattern.search(head):
            return family
    return None


@lru_cache(maxsize=65536)
def gemm_dtype_from_name(name: str) -> str | None:
    """Data type of a GEMM kernel as its name spells it: 'bf16', 'fp16', 'fp32', 'tf32', 'fp8', 'fp4',
    'int8'; None when the name does not say."""
    head = kernel_head(name)
    m = _TENSILE_TYPE.match(head)
    if m:
        token = m.group(1)
        for prefix, dtype in _TENSILE_PREFIXES:
            if token.startswith(prefix):
                return dtype
    m = _NVJET_TYPE.match(head)
    if m and m.group(1)[:1] in _NVJET_LETTERS:
        token = m.group(1)
        return "fp8" if any(c in "qe" for c in token[:2]) else _NVJET_LETTERS[token[0]]
    for dtype, pattern in _GEMM_DTYPES:
        if pattern.search(head):
            return dtype
    return None
