"""Memory and roofline-speed estimates for a Llama-family model on a GPU, before running anything.

Pure functions of a `LlamaShape`, a `GpuSpec` and a precision; nothing here prints or measures.

Memory model (bytes, as the device holds them):

- **weights** as each scheme stores them (`weight_bytes_breakdown`);
- **CUDA context**: the driver context, cuBLAS/cuDNN handles and kernel images that take device
  memory before the first tensor; about 300-600 MiB with recent PyTorch on A100/H100. We take
  `CUDA_CONTEXT_BYTES` = 512 MiB;
- **activations/workspace**: the transient tensors of prefilling one sequence of `context_len`
  tokens (serving engines admit sequences one at a time or in chunks): at the widest point of a
  layer, the MLP, each token holds the residual and its normalized copy (2 x hidden) and gate, up and
  SiLU(gate) (3 x intermediate) in 16-bit. Attention via SDPA/flash keeps no T x T matrix. Plus,
  per sequence in the batch, the last position's logits in fp32 (vocab x 4 bytes);
- **KV cache**: `kv_bytes_per_token` x context x batch.

``headroom_bytes`` = capacity - weights - CUDA context: what is left for the KV cache and
activations. ``max_batch`` = floor((capacity - weights - CUDA context - prefill activations) /
(KV bytes per sequence at context_len + logits bytes per sequence)).

Speed model (rooflines; upper bounds that no real stack reaches):

- a **decode step** yields one token per sequence. It reads every weight once (not the embedding
  table: one 16-bit row per sequence), each sequence's KV cache at ``context_len`` tokens, and
  writes one KV entry per sequence. Its FLOPs are 2 per linear/lm_head parameter per sequence plus
  attention (QK^T and PV: 4 x heads x head_dim x context per layer per sequence). Step time =
  max(bytes / bandwidth, FLOPs / peak).
- **prefill** of ``batch_size`` prompts of ``context_len`` tokens: 2 FLOPs per linear parameter per
  token, causal attention 2 x heads x head_dim x T(T+1) per layer, lm_head for the last position only.
- the **compute-bound batch** is the smallest batch where a decode step's FLOPs time reaches its
  bytes time. KV reads grow with the batch as fast as FLOPs do (GQA attention does ~num_heads /
  num_kv_heads FLOPs per KV byte), so at long contexts decode may never turn compute-bound: None.

GEMM dtypes: bf16/fp16 run 16-bit GEMMs; bitsandbytes int8 runs int8 tensor-core GEMMs for the
decoder linears (lm_head and attention in fp16); nf4 and the weight-only schemes (int8wo, int4wo)
dequantize to bf16 inside bf16 GEMMs; fp8 runs fp8 tensor-core GEMMs (lm_head included).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

from profkit.errors import ProfkitError
from profkit.hardware.catalog import GpuSpec
from profkit.models import LlamaShape

#: Device memory taken by the CUDA context, cuBLAS workspaces and kernel images (512 MiB).
CUDA_CONTEXT_BYTES = 512 * 1024**2
#: Bytes per KV-cache element: 16-bit K and V.
KV_DTYPE_BYTES = 2
#: Bytes per activation element (16-bit).
ACTIVATION_DTYPE_BYTES = 2
#: Bytes per logit: Hugging Face upcasts the logits to fp32.
LOGITS_DTYPE_BYTES = 4
#: Fraction of the bandwidth roofline that optimized serving stacks (CUDA graphs, fused kernels:
#: vLLM, TensorRT-LLM, gpt-fast) typically reach in batch-1 decode. Guidance, not a measurement.
ENGINE_BANDWIDTH_EFFICIENCY = (0.6, 0.8)

DEFAULT_MODEL = "llama-3-8b"
DEFAULT_GPU = "a100-40gb-sxm"  # the A100 40GB this project serves on
DEFAULT_PRECISION = "int8"
DEFAULT_CONTEXT_LEN = 8192
DEFAULT_BATCH_SIZE = 1


@dataclass(frozen=True)
class PrecisionScheme:
    """How one precision stores the weights and which GEMMs it runs."""

    key: str
    """Name used on the command line: ``"int8"``."""
    description: str
    """One line for reports."""
    linear_bytes_per_param: float
    """Bytes per decoder-linear weight (q, k, v, o, gate, up, down)."""
    row_scale_bytes: int
    """Bytes of scale (and zero point) per output row of a quantized linear (0 = none)."""
    block_size: int
    """Weights per quantization group along a row (in_features), with one scale each (0 = no groups)."""
    block_scale_bytes: int
    """Bytes of scale (and zero point) per group."""
    quantize_lm_head: bool
    """Whether lm_head is quantized like the decoder linears (else kept in 16-bit)."""
    linear_gemm_dtype: str
    """Dtype the decoder-linear GEMMs run in (selects the GPU peak)."""
    activation_dtype: str
    """16-bit dtype of activations, attention, the embedding, norms and unquantized lm_head."""
    pad_in_features: int = 1
    """A quantized linear's in_features are padded to a multiple of this (tinygemm int4: 1024)."""
    pad_out_features: int = 1
    """A quantized linear's out_features are padded to a multiple of this (tinygemm int4: 8)."""

    def linear_bytes(self, in_features: int, out_features: int, count: int = 1) -> tuple[int, int]:
        """(weight bytes, scale bytes) of `count` quantized linears of this shape, padding included."""
        k = -(-in_features // self.pad_in_features) * self.pad_in_features
        n = -(-out_features // self.pad_out_features) * self.pad_out_features
        weight = math.ceil(k * n * self.linear_bytes_per_param)
        scales = n * self.row_scale_bytes
        if self.block_size:
            scales += n * math.ceil(k / self.block_size) * self.block_scale_bytes
        return weight * count, scales * count


PRECISIONS: dict[str, PrecisionScheme] = {
    "bf16": PrecisionScheme("bf16", "bfloat16 weights", 2, 0, 0, 0, True, "bf16", "bf16"),
    "fp16": PrecisionScheme("fp16", "float16 weights", 2, 0, 0, 0, True, "fp16", "fp16"),
    # bitsandbytes LLM.int8 (Linear8bitLt, has_fp16_weights=False): int8 weights + one fp32 absmax
    # (SCB) per output row; embeddings, lm_head and norms stay fp16; int8 GEMMs.
    "int8": PrecisionScheme(
        "int8",
        "bitsandbytes LLM.int8: int8 linears + fp32 row scales; embeddings, lm_head fp16",
        1,
        4,
        0,
        0,
        False,
        "int8",
        "fp16",
    ),
    # bitsandbytes NF4 (Linear4bit, blocksize 64, no double quantization, compute dtype bf16):
    # 4-bit weights + one fp32 absmax per 64 weights; embeddings, lm_head and norms stay 16-bit.
    "nf4": PrecisionScheme(
        "nf4",
        "bitsandbytes NF4: 4-bit linears + fp32 absmax per 64 weights; embeddings, lm_head bf16",
        0.5,
        0,
        64,
        4,
        False,
        "bf16",
        "bf16",
    ),
    # torchao Int8WeightOnlyConfig (`profkit run --precisions int8wo`; gpt-fast int8 stores the same
    # weights): every nn.Linear, lm_head included, in int8 + per output row an fp32 scale and an int8
    # zero point (torchao 0.18's Int8Tensor); dequantized inside bf16 GEMMs.
    "int8wo": PrecisionScheme(
        "int8wo",
        "int8 weight-only (torchao): int8 linears and lm_head + fp32 scale and int8 zero point per row; embedding bf16",
        1,
        5,
        0,
        0,
        True,
        "bf16",
        "bf16",
    ),
    # torchao Int4WeightOnlyConfig(group_size=128, tile_packed_to_4d) = tinygemm: 4-bit weights packed
    # two per byte, a bf16 scale and a bf16 zero per 128 weights of a row; in_features padded to 1024,
    # out_features to 8; lm_head included; dequantized inside bf16 GEMMs.
    "int4wo": PrecisionScheme(
        "int4wo",
        "int4 weight-only (torchao tinygemm): 4-bit linears and lm_head + bf16 scale and zero per 128 weights; embedding bf16",
        0.5,
        0,
        128,
        4,
        True,
        "bf16",
        "bf16",
        pad_in_features=1024,
        pad_out_features=8,
    ),
    # torchao Float8DynamicActivationFloat8WeightConfig(PerRow): e4m3 weights + an fp32 scale per row,
    # lm_head included; activations quantized per row on the fly; fp8 tensor-core GEMMs.
    "fp8": PrecisionScheme(
        "fp8",
        "float8 (torchao, per row): e4m3 linears and lm_head + fp32 row scales, fp8 GEMMs; embedding bf16",
        1,
        4,
        0,
        0,
        True,
        "fp8",
        "bf16",
    ),
}
PRECISION_ALIASES = {"int8-weight-only": "int8wo"}
"""Other names of a scheme (earlier profkit versions called int8wo "int8-weight-only")."""


def precision_scheme(precision: str) -> PrecisionScheme:
    """The scheme for a precision key (or alias); ProfkitError naming the choices otherwise."""
    try:
        return PRECISIONS[PRECISION_ALIASES.get(precision, precision)]
    except KeyError:
        raise ProfkitError(f"unknown precision {precision!r}: give one of {', '.join(PRECISIONS)}") from None


@dataclass(frozen=True)
class WeightBytes:
    """Where a model's weight bytes sit, as one precision stores them."""

    linear_bytes: int
    """Decoder-linear weights (7 per layer), quantized or 16-bit."""
    scale_bytes: int
    """Quantization scales of the quantized linears (and of lm_head when it is quantized)."""
    embedding_bytes: int
    """Token-embedding table (always 16-bit)."""
    lm_head_bytes: int
    """lm_head weights (0 when tied to the embedding)."""
    norm_bytes: int
    """RMSNorm weights (16-bit)."""

    @property
    def total_bytes(self) -> int:
        return self.linear_bytes + self.scale_bytes + self.embedding_bytes + self.lm_head_bytes + self.norm_bytes


def weight_bytes_breakdown(shape: LlamaShape, precision: str) -> WeightBytes:
    """Weight bytes per part as ``precision`` really stores them (scales and padding included)."""
    scheme = precision_scheme(precision)
    act = ACTIVATION_DTYPE_BYTES
    linear = scales = 0
    for in_features, out_features in shape.linear_shapes:
        w, sc = scheme.linear_bytes(in_features, out_features, count=shape.num_layers)
        linear, scales = linear + w, scales + sc
    if shape.lm_head_params and scheme.quantize_lm_head and scheme.linear_bytes_per_param != act:
        lm_head, lm_scales = scheme.linear_bytes(shape.hidden_size, shape.vocab_size)
        scales += lm_scales
    else:
        lm_head = shape.lm_head_params * act  # untied: 16-bit; tied: 0 (the embedding table serves)
    return WeightBytes(
        linear_bytes=linear,
        scale_bytes=scales,
        embedding_bytes=shape.embedding_params * act,
        lm_head_bytes=lm_head,
        norm_bytes=shape.norm_params * act,
    )


def weights_bytes(shape: LlamaShape, precision: str) -> int:
    """Total weight bytes as ``precision`` stores them (bf16 Llama 3 8B: 16,060,522,496)."""
    return weight_bytes_breakdown(shape, precision).total_bytes


def kv_bytes_per_token(shape: LlamaShape, kv_dtype_bytes: int = KV_DTYPE_BYTES) -> int:
    """KV-cache bytes one token takes: 2 (K and V) x layers x KV heads x head_dim x bytes (Llama 3 8B, 16-bit: 131,072)."""
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * kv_dtype_bytes


def decode_weight_read_bytes(shape: LlamaShape, precision: str) -> int:
    """Weight bytes one decode step reads, whatever the batch: all weights but the embedding table
    (only its rows for the step's tokens are read; a tied embedding is read whole as lm_head)."""
    w = weight_bytes_breakdown(shape, precision)
    read = w.linear_bytes + w.scale_bytes + w.lm_head_bytes + w.norm_bytes
    if shape.tie_word_embeddings:
        read += w.embedding_bytes
    return read


def decode_bytes_per_token(
    shape: LlamaShape,
    precision: str,
    context_len: int,
    batch_size: int = 1,
    kv_dtype_bytes: int = KV_DTYPE_BYTES,
) -> int:
    """DRAM bytes one decode step moves (it yields one token per sequence of the batch).

    Weights once (`decode_weight_read_bytes`), per sequence one 16-bit embedding row, the KV cache
    of ``context_len`` tokens read and the new token's K and V written. At batch 1 this is the bytes
    per generated token. Activations (a few MB) are left out.
    """
    kv = kv_bytes_per_token(shape, kv_dtype_bytes)
    per_sequence = shape.hidden_size * ACTIVATION_DTYPE_BYTES + context_len * kv + kv
    return decode_weight_read_bytes(shape, precision) + batch_size * per_sequence


@dataclass(frozen=True)
class Flops:
    """FLOPs split by the dtype they run in."""

    linear: float
    """Decoder-linear GEMM FLOPs (run in the scheme's linear GEMM dtype)."""
    other: float
    """lm_head and attention FLOPs (run in the 16-bit activation dtype, or the linear dtype for a quantized lm_head)."""

    @property
    def total(self) -> float:
        return self.linear + self.other


def _attention_flops_per_layer(shape: LlamaShape, keys: float) -> float:
    """QK^T and PV FLOPs of one query token against ``keys`` keys in one layer."""
    return 4.0 * shape.num_heads * shape.head_dim * keys


def _decode_flops(shape: LlamaShape, context_len: int, quantized_lm_head: bool) -> Flops:
    linear = 2.0 * shape.num_layers * shape.linear_params_per_layer
    lm_head = 2.0 * shape.vocab_size * shape.hidden_size
    attention = shape.num_layers * _attention_flops_per_layer(shape, context_len)
    if quantized_lm_head:
        return Flops(linear=linear + lm_head, other=attention)
    return Flops(linear=linear, other=lm_head + attention)


def _prefill_flops(shape: LlamaShape, tokens: int, quantized_lm_head: bool) -> Flops:
    """One sequence of ``tokens`` prompt tokens: linears per token, causal attention, lm_head for the last position."""
    linear = 2.0 * shape.num_layers * shape.linear_params_per_layer * tokens
    lm_head = 2.0 * shape.vocab_size * shape.hidden_size
    attention = 2.0 * shape.num_layers * shape.num_heads * shape.head_dim * tokens * (tokens + 1)
    if quantized_lm_head:
        return Flops(linear=linear + lm_head, other=attention)
    return Flops(linear=linear, other=lm_head + attention)


def prefill_activation_bytes(shape: LlamaShape, tokens: int) -> int:
    """Peak transient activations of prefilling one sequence of ``tokens`` tokens (the MLP's:
    residual + normalized input + gate, up and SiLU(gate), 16-bit)."""
    return tokens * ACTIVATION_DTYPE_BYTES * (2 * shape.hidden_size + 3 * shape.intermediate_size)


def logits_bytes_per_sequence(shape: LlamaShape) -> int:
    """fp32 logits of one position (the one being sampled) for one sequence."""
    return shape.vocab_size * LOGITS_DTYPE_BYTES


@dataclass(frozen=True)
class EstimateConfig:
    """What to estimate. Defaults live here (the CLI reads them)."""

    precision: str = DEFAULT_PRECISION
    """Weight precision: one of ``PRECISIONS`` (bf16, fp16, int8, nf4, int8wo, int4wo, fp8) or an alias."""
    context_len: int = DEFAULT_CONTEXT_LEN
    """Tokens per sequence held in the KV cache (prompt + generated), >= 1."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Sequences decoded together, >= 1."""
    kv_dtype_bytes: int = KV_DTYPE_BYTES
    """Bytes per KV-cache element: 2 (16-bit), 1 (8-bit cache) or 4 (fp32)."""
    cuda_context_bytes: int = CUDA_CONTEXT_BYTES
    """Device memory the CUDA context takes before any tensor, bytes, >= 0."""

    def __post_init__(self):
        precision_scheme(self.precision)
        if not isinstance(self.context_len, int) or self.context_len < 1:
            raise ProfkitError(f"context_len must be a whole number >= 1, got {self.context_len!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ProfkitError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if self.kv_dtype_bytes not in (1, 2, 4):
            raise ProfkitError(f"kv_dtype_bytes must be 1, 2 or 4, got {self.kv_dtype_bytes!r}")
        if self.cuda_context_bytes < 0:
            raise ProfkitError(f"cuda_context_bytes must be >= 0, got {self.cuda_context_bytes!r}")


@dataclass(frozen=True)
class Estimate:
    """Memory and ideal speed of one model / GPU / precision / context / batch. Speeds are upper bounds."""

    model: str
    gpu_key: str
    gpu_name: str
    gpu_source: str
    """"spec" (datasheet numbers) or "measured"."""
    precision: str
    precision_description: str
    context_len: int
    batch_size: int
    # Memory
    memory_bytes: int
    """GPU capacity CUDA reports."""
    weights_bytes: int
    weights: WeightBytes
    kv_bytes_per_token: int
    kv_bytes: int
    """KV cache of the whole batch at context_len."""
    cuda_context_bytes: int
    activation_bytes: int
    """Prefill activations of one context_len sequence + the batch's fp32 logits."""
    total_bytes: int
    headroom_bytes: int
    """Capacity - weights - CUDA context."""
    free_bytes: int
    """Capacity - total (negative: does not fit)."""
    fits: bool
    max_batch: int
    """Largest batch whose KV cache fits at context_len (0: not even one sequence)."""
    # Speed
    bandwidth_gbps: float
    linear_peak_tflops: float
    """Peak used for the decoder-linear GEMMs (TOPS for int8)."""
    other_peak_tflops: float
    """Peak used for attention and lm_head."""
    decode_bytes_per_step: int
    decode_flops_per_step: float
    decode_ms_ideal: float
    """One decode step (one token per sequence) at context_len."""
    decode_bound: str
    """"memory" or "compute"."""
    decode_tokens_per_s_ideal: float
    """Per sequence, at batch_size and context_len."""
    decode_tokens_per_s_ideal_aggregate: float
    decode_tokens_per_s_ideal_empty_cache: float
    """Per sequence at batch_size with an empty KV cache (the first generated token of a short prompt)."""
    decode_tokens_per_s_engine_range: tuple[float, float]
    """decode_tokens_per_s_ideal x ENGINE_BANDWIDTH_EFFICIENCY: what optimized engines typically reach (guidance)."""
    decode_compute_bound_batch: int | None
    """Smallest batch where decode turns compute-bound at context_len; None: never (KV reads grow as fast)."""
    decode_compute_bound_batch_empty_cache: int | None
    """The same with an empty KV cache (weights only)."""
    prefill_flops: float
    prefill_ms_ideal: float
    """Prefill of batch_size prompts of context_len tokens."""
    prefill_bound: str
    prefill_tokens_per_s_ideal: float
    warnings: tuple[str, ...] = field(default_factory=tuple)
    """Things the reader must know: does not fit, context beyond the model's, ..."""
    measured: tuple[MeasuredDecode, ...] = ()
    """Runs of this model, precision and batch size that measured decode (`with_measured`); empty: modelled only."""
    measured_notes: tuple[str, ...] = ()
    """What `with_measured` set aside and why (another model, a CPU run)."""

    def to_dict(self) -> dict:
        """Plain JSON-ready data: every field (bytes, ms, tokens/s as named) plus the notes."""
        data = asdict(self)
        data["weights"]["total_bytes"] = self.weights.total_bytes
        data["decode_tokens_per_s_engine_range"] = list(self.decode_tokens_per_s_engine_range)
        data["warnings"] = list(self.warnings)
        data["measured"] = [asdict(m) for m in self.measured]
        data["measured_notes"] = list(self.measured_notes)
        data["notes"] = estimate_notes(self)
        return data

    def to_frame(self):
        """One row of every scalar figure (nested ones as `weights.linear_bytes`, ...), plus one row
        per measured run when there are any (`kind` says which)."""
        import pandas as pd

        data = self.to_dict()
        measured = data.pop("measured")
        for key in ("warnings", "measured_notes", "notes", "decode_tokens_per_s_engine_range"):
            data.pop(key)
        rows = [{"kind": "modelled", **data}] + [{"kind": "measured", **m} for m in measured]
        return pd.json_normalize(rows)


def _compute_seconds(flops: Flops, linear_peak_tflops: float, other_peak_tflops: float) -> float:
    return flops.linear / (linear_peak_tflops * 1e12) + flops.other / (other_peak_tflops * 1e12)


def _compute_bound_batch(weight_s: float, per_seq_memory_s: float, per_seq_compute_s: float) -> int | None:
    """Smallest B with B x compute >= weights + B x per-sequence bytes (all in seconds)."""
    slope = per_seq_compute_s - per_seq_memory_s
    if slope <= 0:
        return None
    return max(1, math.ceil(weight_s / slope))


@dataclass(frozen=True)
class _Memory:
    """The memory model's bytes for one configuration (see the module docstring)."""

    weights: WeightBytes
    kv_bytes_per_token: int
    kv_bytes: int
    activation_bytes: int
    total_bytes: int
    headroom_bytes: int
    free_bytes: int
    max_batch: int


def _memory(shape: LlamaShape, gpu: GpuSpec, cfg: EstimateConfig) -> _Memory:
    """Weights, KV cache, activations and CUDA context against the GPU's capacity; the largest batch that fits."""
    weights = weight_bytes_breakdown(shape, cfg.precision)
    kv_token = kv_bytes_per_token(shape, cfg.kv_dtype_bytes)
    kv_per_sequence = kv_token * cfg.context_len
    logits_seq = logits_bytes_per_sequence(shape)
    prefill_act = prefill_activation_bytes(shape, cfg.context_len)
    activations = prefill_act + cfg.batch_size * logits_seq
    kv_total = kv_per_sequence * cfg.batch_size
    total = weights.total_bytes + cfg.cuda_context_bytes + activations + kv_total
    headroom = gpu.memory_bytes - weights.total_bytes - cfg.cuda_context_bytes
    max_batch = max(0, (headroom - prefill_act) // (kv_per_sequence + logits_seq))
    return _Memory(weights, kv_token, kv_total, activations, total, headroom, gpu.memory_bytes - total, max_batch)


def _warnings(shape: LlamaShape, gpu: GpuSpec, cfg: EstimateConfig, mem: _Memory) -> tuple[str, ...]:
    """What the reader must know: the weights or the batch do not fit; the context exceeds the model's."""
    warnings = []
    if mem.headroom_bytes <= 0:
        warnings.append(f"the weights alone ({mem.weights.total_bytes / 2**30:.2f} GiB) do not fit on {gpu.name}; pick a smaller precision or a bigger GPU")
    elif mem.free_bytes < 0:
        warnings.append(
            f"batch {cfg.batch_size} at {cfg.context_len} tokens does not fit ({mem.total_bytes / 2**30:.2f} GiB needed, "
            f"{gpu.memory_bytes / 2**30:.2f} GiB on the GPU); the largest batch that fits is {mem.max_batch}"
        )
    if cfg.context_len > shape.max_position_embeddings:
        warnings.append(f"context_len {cfg.context_len} exceeds the model's max_position_embeddings {shape.max_position_embeddings}")
    return tuple(warnings)


@dataclass(frozen=True)
class _Step:
    """One decode step or prefill at the roofline: bytes moved, FLOPs, and the time each takes alone (s)."""

    bytes: int
    flops: Flops
    memory_s: float
    compute_s: float

    @property
    def seconds(self) -> float:
        return max(self.memory_s, self.compute_s)


@dataclass(frozen=True)
class _Roofline:
    """One model / precision / KV dtype on one GPU: DRAM bandwidth (B/s) and the GEMM peaks (TFLOP/s)."""

    shape: LlamaShape
    cfg: EstimateConfig
    bandwidth_bytes_per_s: float
    linear_peak_tflops: float
    other_peak_tflops: float
    quantized_lm_head: bool

    def _step(self, step_bytes: int, flops: Flops) -> _Step:
        compute_s = _compute_seconds(flops, self.linear_peak_tflops, self.other_peak_tflops)
        return _Step(step_bytes, flops, step_bytes / self.bandwidth_bytes_per_s, compute_s)

    def decode_step(self, context: int, batch: int) -> _Step:
        """One decode step of `batch` sequences at `context` cached tokens."""
        step_bytes = decode_bytes_per_token(self.shape, self.cfg.precision, context, batch, self.cfg.kv_dtype_bytes)
        per_seq = _decode_flops(self.shape, context, self.quantized_lm_head)
        return self._step(step_bytes, Flops(per_seq.linear * batch, per_seq.other * batch))

    def prefill(self, tokens: int, batch: int) -> _Step:
        """Prefill of `batch` prompts of `tokens` tokens: weights once, each token's KV entry and embedding row."""
        per_seq = _prefill_flops(self.shape, tokens, self.quantized_lm_head)
        kv_token = kv_bytes_per_token(self.shape, self.cfg.kv_dtype_bytes)
        step_bytes = decode_weight_read_bytes(self.shape, self.cfg.precision) + batch * tokens * (kv_token + self.shape.hidden_size * ACTIVATION_DTYPE_BYTES)
        return self._step(step_bytes, Flops(per_seq.linear * batch, per_seq.other * batch))

    def compute_bound_batch(self, context: int) -> int | None:
        """Smallest batch whose decode step at `context` is compute-bound (None: never)."""
        weight_s = decode_weight_read_bytes(self.shape, self.cfg.precision) / self.bandwidth_bytes_per_s
        one = self.decode_step(context, 1)
        return _compute_bound_batch(weight_s, one.memory_s - weight_s, one.compute_s)


def _roofline(shape: LlamaShape, gpu: GpuSpec, cfg: EstimateConfig, scheme: PrecisionScheme) -> _Roofline:
    """The ceilings `scheme`'s GEMMs and reads meet on `gpu`."""
    return _Roofline(
        shape,
        cfg,
        gpu.bandwidth_gbps * 1e9,
        gpu.peak_for_dtype(scheme.linear_gemm_dtype),
        gpu.peak_for_dtype(scheme.activation_dtype),
        scheme.quantize_lm_head and bool(shape.lm_head_params),
    )


def estimate(
    shape: LlamaShape,
    gpu: GpuSpec,
    precision: str = DEFAULT_PRECISION,
    context_len: int = DEFAULT_CONTEXT_LEN,
    batch_size: int = DEFAULT_BATCH_SIZE,
    kv_dtype_bytes: int = KV_DTYPE_BYTES,
    cuda_context_bytes: int = CUDA_CONTEXT_BYTES,
) -> Estimate:
    """Memory, headroom, max batch and roofline speeds of ``shape`` on ``gpu`` at ``precision``."""
    cfg = EstimateConfig(PRECISION_ALIASES.get(precision, precision), context_len, batch_size, kv_dtype_bytes, cuda_context_bytes)
    scheme = precision_scheme(cfg.precision)
    mem = _memory(shape, gpu, cfg)
    roof = _roofline(shape, gpu, cfg, scheme)
    step, empty = roof.decode_step(cfg.context_len, cfg.batch_size), roof.decode_step(0, cfg.batch_size)
    prefill = roof.prefill(cfg.context_len, cfg.batch_size)
    low, high = ENGINE_BANDWIDTH_EFFICIENCY
    return Estimate(
        model=shape.name,
        gpu_key=gpu.key,
        gpu_name=gpu.name,
        gpu_source=gpu.source,
        precision=cfg.precision,
        precision_description=scheme.description,
        context_len=cfg.context_len,
        batch_size=cfg.batch_size,
        # Memory
        memory_bytes=gpu.memory_bytes,
        weights_bytes=mem.weights.total_bytes,
        weights=mem.weights,
        kv_bytes_per_token=mem.kv_bytes_per_token,
        kv_bytes=mem.kv_bytes,
        cuda_context_bytes=cfg.cuda_context_bytes,
        activation_bytes=mem.activation_bytes,
        total_bytes=mem.total_bytes,
        headroom_bytes=mem.headroom_bytes,
        free_bytes=mem.free_bytes,
        fits=mem.free_bytes >= 0,
        max_batch=int(mem.max_batch),
        # Speed
        bandwidth_gbps=gpu.bandwidth_gbps,
        linear_peak_tflops=roof.linear_peak_tflops,
        other_peak_tflops=roof.other_peak_tflops,
        decode_bytes_per_step=step.bytes,
        decode_flops_per_step=step.flops.total,
        decode_ms_ideal=step.seconds * 1e3,
        decode_bound="memory" if step.memory_s >= step.compute_s else "compute",
        decode_tokens_per_s_ideal=1.0 / step.seconds,
        decode_tokens_per_s_ideal_aggregate=cfg.batch_size / step.seconds,
        decode_tokens_per_s_ideal_empty_cache=1.0 / empty.seconds,
        decode_tokens_per_s_engine_range=(low / step.seconds, high / step.seconds),
        decode_compute_bound_batch=roof.compute_bound_batch(cfg.context_len),
        decode_compute_bound_batch_empty_cache=roof.compute_bound_batch(0),
        prefill_flops=prefill.flops.total,
        prefill_ms_ideal=prefill.seconds * 1e3,
        prefill_bound="compute" if prefill.compute_s >= prefill.memory_s else "memory",
        prefill_tokens_per_s_ideal=cfg.batch_size * cfg.context_len / prefill.seconds,
        warnings=_warnings(shape, gpu, cfg, mem),
    )


# ---- measured beside modelled -------------------------------------------------------------------
@dataclass(frozen=True)
class MeasuredDecode:
    """One run's un-profiled decode timing of the estimate's model, precision and batch size.

    The time is measured; bytes per step (for MBU) and the roofline come from the model above, at the
    mean KV-cache length of the timed decode (prompt + half the generated tokens), on the GPU the
    run used."""

    label: str
    """Precision, batch and mode, e.g. "int8wo b1 compiled"."""
    gpu_name: str
    on_estimate_gpu: bool
    """Measured on the GPU this estimate is for (else the figures are that other GPU's)."""
    context_len: int
    """Mean KV-cache length of the timed decode steps."""
    tpot_ms: float
    tokens_per_s_per_sequence: float
    tokens_per_s_aggregate: float
    roofline_tokens_per_s: float
    """Per sequence, the model's bound at `context_len` on the run's GPU (datasheet numbers)."""
    mbu_wall: float | None
    """Modelled bytes per step / measured TPOT / the run's GPU bandwidth; None when above 100% (the
    byte model does not fit the run: it is never printed as a figure)."""
    source: str


def with_measured(est: Estimate, shape: LlamaShape, gpu: GpuSpec, configs, configs_model: LlamaShape) -> Estimate:
    """`est` with the measured decode timings among `configs` (`evidence.MeasuredConfig`s of a run of
    `configs_model`) that match its precision and batch size: the measured figure beside the modelled one."""
    notes = []
    if configs_model.name != shape.name:
        notes.append(f"the runs given measured {configs_model.name}, not {shape.name}: their timings are left out")
        configs = []
    matching = [c for c in configs if c.ok and PRECISION_ALIASES.get(c.precision, c.precision) == est.precision and c.batch_size == est.batch_size]
    on_cpu = [c for c in matching if c.gpu is None]
    if on_cpu:
        notes.append(
            f"{len(on_cpu)} matching run(s) without a known GPU (a CPU run, or a GPU missing from the catalog) left out: their speed says nothing about a GPU"
        )
    measured = tuple(_measured_decode(shape, gpu, est, c) for c in matching if c.gpu is not None)
    if not matching:
        notes.append(f"no run of {est.precision} at batch {est.batch_size} among the runs given: modelled figures only")
    return dataclasses.replace(est, measured=measured, measured_notes=tuple(notes))


def _measured_decode(shape: LlamaShape, gpu: GpuSpec, est: Estimate, c) -> MeasuredDecode:
    run_gpu = gpu if c.gpu.key == gpu.key else c.gpu
    context = (c.prompt_len or 0) + (c.new_tokens or 0) // 2
    cfg = EstimateConfig(est.precision, max(context, 1), c.batch_size)
    step = _roofline(shape, run_gpu, cfg, precision_scheme(est.precision)).decode_step(cfg.context_len, c.batch_size)
    mbu = step.bytes / (c.tpot_median_ms / 1e3) / (run_gpu.bandwidth_gbps * 1e9)
    aggregate = c.decode_tokens_per_s or c.batch_size * 1e3 / c.tpot_median_ms
    return MeasuredDecode(
        label=c.label,
        gpu_name=c.gpu_name or run_gpu.name,
        on_estimate_gpu=run_gpu is gpu,
        context_len=cfg.context_len,
        tpot_ms=c.tpot_median_ms,
        tokens_per_s_per_sequence=aggregate / c.batch_size,
        tokens_per_s_aggregate=aggregate,
        roofline_tokens_per_s=1.0 / step.seconds,
        mbu_wall=mbu if mbu <= 1.0 else None,
        source=c.source,
    )


def estimate_notes(est: Estimate) -> list[str]:
    """What the reader must keep in mind; warnings first."""
    low, high = ENGINE_BANDWIDTH_EFFICIENCY
    lo_tps, hi_tps = est.decode_tokens_per_s_engine_range
    notes = list(est.warnings) + list(est.measured_notes)
    notes.append(
        "Speeds are upper bounds: bytes / bandwidth and FLOPs / peak, perfectly overlapped, at the GPU's "
        f"{'measured' if est.gpu_source == 'measured' else 'datasheet'} numbers. Optimized engines (CUDA graphs, "
        f"fused kernels: vLLM, TensorRT-LLM, gpt-fast) typically reach {low:.0%}-{high:.0%} of the bandwidth bound in "
        f"decode, about {lo_tps:.0f}-{hi_tps:.0f} tok/s per sequence here (guidance, not a measurement). Hugging Face "
        "eager generate is host/launch-bound and reaches far less (profkit's H200 reference run: bf16 batch 1 about 6% "
        "of its bound; bitsandbytes int8, with host syncs in every int8 linear, under 2%)."
    )
    notes.append(
        f"Memory: capacity as CUDA reports it; {est.cuda_context_bytes / 2**20:.0f} MiB for the CUDA context; "
        f"activations = the prefill of one {est.context_len:,}-token sequence plus fp32 logits per sequence. "
        "The first decode tokens run at the empty-cache rate; the rate falls as the KV cache fills."
    )
    return notes
