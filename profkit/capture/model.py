"""Building the model a configuration runs: random weights of a known shape, or a local checkpoint.

Precisions:
  fp16, bf16 -- the whole model in that dtype.
  int8       -- bitsandbytes LLM.int8 exactly as `from_pretrained(..., quantization_config=
                BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=T))` sets it up: every
                nn.Linear except lm_head becomes `bnb.nn.Linear8bitLt(has_fp16_weights=False)`,
                the rest stays fp16. Random weights take the same two steps transformers takes
                (`replace_with_bnb_linear`, then `Int8Params(...).to(device)` quantizes).
  nf4        -- bitsandbytes 4-bit NF4 (`load_in_4bit=True`), bf16 compute and base dtype.
  int8wo     -- torchao `Int8WeightOnlyConfig()`: int8 weights, one fp32 scale (+ int8 zero point) per
                output row. Eager runs dequantize + bf16 mm; torch.compile fuses it into an int8 GEMM
                (`aten::_weight_int8pack_mm` on CPU, a Triton kernel on GPU).
  int4wo     -- torchao `Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d")`:
                packed 4-bit weights + bf16 scale and zero per 128 weights, tinygemm
                `aten::_weight_int4pack_mm` (CUDA, compute capability >= 8.0).
  fp8        -- torchao `Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())`: e4m3 weights
                with an fp32 scale per row, activations quantized per row on the fly, `aten::_scaled_mm`
                (CUDA, compute capability >= 8.9).
The torchao precisions build the bf16 model and call `torchao.quantization.quantize_` on it, which
converts every nn.Linear, lm_head included (torchao's default filter); the embedding and norms stay
bf16. Their configs are built with `set_inductor_config=False` so that loading a model never changes
process-wide Inductor settings; compiled mode applies torchao's recommended Inductor settings
(`TORCHAO_INDUCTOR_SETTINGS`) only while the configuration runs (`inductor_settings`).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import logging
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from profkit.capture.config import TORCHAO_PRECISIONS, TORCHAO_REQUIREMENT
from profkit.errors import ProfkitError, option
from profkit.models import LlamaShape, model_shape

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BASE_DTYPES = {
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "int8": torch.float16,
    "nf4": torch.bfloat16,
    "int8wo": torch.bfloat16,
    "int4wo": torch.bfloat16,
    "fp8": torch.bfloat16,
}
"""Dtype of everything that is not a quantized linear (embeddings, norms, KV cache; lm_head unless torchao quantizes it)."""
NF4_COMPUTE_DTYPE = torch.bfloat16
INT4_GROUP_SIZE = 128
"""Weights per int4 scale/zero group (torchao's default; Llama 3's in_features are multiples of it)."""
TORCHAO_INDUCTOR_SETTINGS = {
    "coordinate_descent_tuning": True,
    "coordinate_descent_check_all_directions": True,
    "force_fuse_int_mm_with_mul": True,
    "fx_graph_cache": True,
    "triton.unique_kernel_names": True,
}
"""What torchao's `recommended_inductor_config_setter` (set_inductor_config=True) sets, applied in
compiled mode for the torchao precisions while their configuration runs (torchao 0.18's list)."""


@dataclass
class LoadedModel:
    model: PreTrainedModel
    shape: LlamaShape
    precision: str
    device: str
    tokenizer: PreTrainedTokenizerBase | None
    load_s: float
    weights_bytes: int
    decode_weight_bytes: int
    """weights_bytes less the embedding table (a decode step reads one row of it per sequence)."""

    @property
    def dtype(self) -> torch.dtype:
        return BASE_DTYPES[self.precision]


def quantization_config(precision: str, int8_threshold: float):
    """The `BitsAndBytesConfig` that `from_pretrained` would get for this precision, or None."""
    from transformers import BitsAndBytesConfig

    if precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=int8_threshold, llm_int8_has_fp16_weight=False)
    if precision == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=NF4_COMPUTE_DTYPE)
    return None


def torchao_config(precision: str):
    """The torchao `quantize_` config of a torchao precision, or None for the others."""
    if precision not in TORCHAO_PRECISIONS:
        return None
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Int4WeightOnlyConfig,
        Int8WeightOnlyConfig,
        PerRow,
    )

    if precision == "int8wo":
        return Int8WeightOnlyConfig(set_inductor_config=False)
    if precision == "int4wo":
        return Int4WeightOnlyConfig(group_size=INT4_GROUP_SIZE, int4_packing_format="tile_packed_to_4d", set_inductor_config=False)
    return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow(), set_inductor_config=False)


def quantization_record(precision: str, int8_threshold: float, mode: str) -> dict | None:
    """The manifest's per-configuration `quantization`: the library, its version, the config class and
    every argument it was built with, and for a compiled torchao configuration the Inductor settings
    it ran under (None for fp16/bf16)."""
    from profkit.capture.environment import version_of

    if precision in TORCHAO_PRECISIONS:
        config, library = torchao_config(precision), "torchao"
        extra = {"inductor_settings": dict(TORCHAO_INDUCTOR_SETTINGS)} if mode == "compiled" else {}
    else:
        config, library = quantization_config(precision, int8_threshold), "bitsandbytes"
        extra = {}
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        args = {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}
    else:  # transformers' BitsAndBytesConfig is a plain class with to_dict()
        args = {k: _jsonable(v) for k, v in config.to_dict().items()}
    return {"library": library, "version": version_of(library), "config": type(config).__name__, "args": args, **extra}


def _jsonable(value):
    """A config argument as JSON: enums by value, dtypes by name, nested configs as {class, fields}."""
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"class": type(value).__name__, **{f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@contextmanager
def inductor_settings(precision: str, mode: str):
    """torchao's recommended Inductor settings around a compiled torchao configuration; nothing otherwise."""
    if precision not in TORCHAO_PRECISIONS or mode != "compiled":
        yield
        return
    import torch._inductor.config as inductor_config

    with inductor_config.patch(TORCHAO_INDUCTOR_SETTINGS):
        yield


def load_model(model_ref: str, from_checkpoint: bool, precision: str, device: str, int8_threshold: float, seed: int) -> LoadedModel:
    """Random weights of `model_ref`'s shape, or the checkpoint folder `model_ref`, ready for inference."""
    _import_libraries(precision, device)  # not part of the load time
    t0 = time.perf_counter()
    shape = model_shape(model_ref)
    if from_checkpoint:
        model = _from_checkpoint(model_ref, precision, device, int8_threshold)
        tokenizer = load_tokenizer(model_ref)
    else:
        model = build_random(shape, precision, device, int8_threshold, seed)
        tokenizer = None
    model.eval()
    model.requires_grad_(False)
    if device == "cuda":
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    total = weights_bytes(model)
    return LoadedModel(model, shape, precision, device, tokenizer, load_s, total, total - _embedding_bytes(model))


def _import_libraries(precision: str, device: str = "cpu") -> None:
    import transformers  # noqa: F401

    if precision in TORCHAO_PRECISIONS:
        import_torchao(precision, device)
    elif quantization_config(precision, 0.0) is not None:
        import bitsandbytes  # noqa: F401


def import_torchao(precision: str, device: str):
    """Import torchao, or a ProfkitError saying how to install it. Held back while it loads: torch's
    deprecation notice about the enums torchao registers with pytree (for torchao's developers), and
    on a CPU torchao's warnings that its CUDA-only extensions cannot load (nothing to do with a CPU run)."""
    try:
        with _quiet_logger(_PYTREE_LOGGER), _quiet_logger("torchao") if device == "cpu" else nullcontext():
            import torchao
    except ImportError:
        raise ProfkitError(f"{option('precisions')} {precision} runs torchao, which is not installed: pip install {TORCHAO_REQUIREMENT}") from None
    return torchao


_PYTREE_LOGGER = "torch.utils._pytree"


@contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def hf_config(shape: LlamaShape):
    """A transformers LlamaConfig of exactly this shape."""
    from transformers import LlamaConfig

    keys = shape.to_hf_dict()
    for token in ("bos_token_id", "eos_token_id"):  # small test vocabularies lack Llama 3's ids
        if keys.get(token) is not None and keys[token] >= shape.vocab_size:
            keys[token] = None
    return LlamaConfig(**keys)


def build_random(shape: LlamaShape, precision: str, device: str, int8_threshold: float, seed: int) -> PreTrainedModel:
    """The Llama architecture with random (normal, std 0.02) weights, built directly on `device`."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(hf_config(shape), **_dtype_kwarg(BASE_DTYPES[precision]))
    qconfig = quantization_config(precision, int8_threshold)
    if qconfig is not None:
        replace_linears_with_bnb(model, qconfig, device)
    quantize_with_torchao(model, precision)
    return model


def quantize_with_torchao(model: torch.nn.Module, precision: str) -> None:
    """torchao's `quantize_` with the precision's config, in place (every nn.Linear, lm_head included);
    nothing for the other precisions."""
    config = torchao_config(precision)
    if config is None:
        return
    from torchao.quantization import quantize_

    quantize_(model, config)


def replace_linears_with_bnb(model: torch.nn.Module, qconfig, device: str) -> None:
    """What `load_in_8bit` / `load_in_4bit` do to a model: swap nn.Linear for bitsandbytes layers
    (`replace_with_bnb_linear`, lm_head kept), then quantize each weight by moving it from the CPU
    to `device` as transformers' `Bnb8bitQuantize` / `Bnb4bitQuantize` ops do."""
    import bitsandbytes as bnb
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear

    keep = _keys_to_not_convert(model)
    dense = {name: (m.weight.data, m.bias) for name, m in model.named_modules() if type(m) is torch.nn.Linear}
    replace_with_bnb_linear(model, modules_to_not_convert=keep, quantization_config=qconfig)
    for name, module in model.named_modules():
        if isinstance(module, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)):
            weight, bias = dense.pop(name)
            module.weight = _quantized_param(module.weight, weight, device)
            module.bias = bias  # None for Llama


def _quantized_param(meta_param, dense: torch.Tensor, device: str):
    kwargs = dict(meta_param.__dict__)  # quant_type, blocksize, has_fp16_weights, ... as the layer set them
    kwargs.pop("SCB", None)
    param = type(meta_param)(dense.to("cpu"), requires_grad=False, **kwargs)
    return param.to(device)


def _keys_to_not_convert(model) -> list[str]:
    try:  # transformers >= 5
        from transformers.quantizers.base import get_keys_to_not_convert
    except ImportError:
        try:
            from transformers.integrations import get_keys_to_not_convert  # type: ignore[attr-defined,no-redef]  # transformers < 5
        except ImportError:
            return ["lm_head"]
    return get_keys_to_not_convert(model)


def _from_checkpoint(path: str, precision: str, device: str, int8_threshold: float) -> PreTrainedModel:
    from transformers import AutoModelForCausalLM

    qconfig = quantization_config(precision, int8_threshold)
    has_accelerate = importlib.util.find_spec("accelerate") is not None
    if qconfig is not None and not has_accelerate:
        raise ProfkitError(
            f"{precision} from a checkpoint goes through transformers' bitsandbytes loader, which needs accelerate: "
            "pip install accelerate (random weights need no accelerate)"
        )
    kwargs = dict(_dtype_kwarg(BASE_DTYPES[precision]), local_files_only=True)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    if has_accelerate:
        kwargs["device_map"] = {"": device}  # weights go straight to the device
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ProfkitError(f"{option('model_path')} {path}: cannot load the checkpoint ({exc}); is it a complete Hugging Face folder?") from None
    if qconfig is not None:
        return model
    model = model.to(device)  # type: ignore[arg-type]  # transformers' @wraps(Module.to) types it as Module.to unbound
    quantize_with_torchao(model, precision)
    return model


def load_tokenizer(path: str):
    """The checkpoint's tokenizer, or None when the folder has none."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError):
        return None


def _dtype_kwarg(dtype: torch.dtype) -> dict:
    """`dtype=` (transformers >= 4.56) or the older `torch_dtype=`."""
    import transformers

    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def weights_bytes(model: torch.nn.Module) -> int:
    """Bytes of all parameters as stored (int8 / packed 4-bit for quantized weights), plus the int8
    layers' per-row scales (SCB) and the 4-bit absmax tables: what a forward pass reads. A torchao
    weight counts the tensors it is made of (data, scales, zero points), not its logical bf16 size."""
    total = sum(stored_bytes(p) for p in model.parameters())
    for module in model.modules():
        for stats in _quantization_stats(module):
            total += stats.numel() * stats.element_size()
    return total


def _embedding_bytes(model: PreTrainedModel) -> int:
    """Bytes of the token-embedding table, 0 when lm_head shares it (then every step reads it whole)."""
    embedding = model.get_input_embeddings().weight
    assert isinstance(embedding, torch.Tensor), "an embedding's weight is a parameter"
    output = model.get_output_embeddings()
    if output is not None and output.weight is embedding:
        return 0
    return stored_bytes(embedding)


def stored_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor occupies: a tensor subclass (torchao's Int8Tensor, Float8Tensor, ...) is the sum of
    the inner tensors `__tensor_flatten__` names; a plain tensor numel x element size."""
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is None or type(tensor) in (torch.Tensor, torch.nn.Parameter):
        return tensor.numel() * tensor.element_size()
    names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]  # the subclasses define it (checked above)
    return sum(stored_bytes(inner) for inner in (getattr(tensor, n) for n in names) if isinstance(inner, torch.Tensor))


def _quantization_stats(module) -> list[torch.Tensor]:
    weight = getattr(module, "weight", None)
    # Linear8bitLt moves SCB from the weight to its `state` on the first forward
    scb = getattr(weight, "SCB", None)
    if scb is None:
        scb = getattr(getattr(module, "state", None), "SCB", None)
    absmax = getattr(getattr(weight, "quant_state", None), "absmax", None)
    return [t for t in (scb, absmax) if isinstance(t, torch.Tensor)]


def make_prompt(loaded: LoadedModel, batch_size: int, prompt_len: int, seed: int, text: str | None) -> torch.Tensor:
    """[batch_size, prompt_len] token ids: random ids, or `text` through the tokenizer, repeated or cut
    to exactly prompt_len tokens (every configuration of a sweep sees the same length)."""
    if text is None:
        gen = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, loaded.shape.vocab_size, (1, prompt_len), generator=gen)
    else:
        if loaded.tokenizer is None:
            raise ProfkitError(f"{option('prompt_text')}: the checkpoint has no tokenizer; drop {option('prompt_text')} to use random token ids")
        encoded = loaded.tokenizer(text, return_tensors="pt").input_ids
        if encoded.numel() == 0:
            raise ProfkitError(f"{option('prompt_text')} encodes to no tokens; give some text")
        repeats = -(-prompt_len // encoded.shape[1])
        ids = encoded.repeat(1, repeats)[:, :prompt_len]
    return ids.expand(batch_size, prompt_len).contiguous().to(loaded.device)
