"""What `profkit run` runs: the settings of a sweep (`RunConfig`) and its configurations (`ConfigSpec`).

No torch import here: the CLI validates options before anything heavy is loaded. Defaults live
here and only here; the CLI reads them from `RunConfig`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from profkit.errors import ProfkitError, option
from profkit.store.layout import MANIFEST_FILE, NVML_SAMPLES_FILE, TRACE_SUFFIX  # noqa: F401  (re-exported)

PRECISIONS = ("int8", "fp16", "bf16", "nf4", "int8wo", "int4wo", "fp8")
"""int8 = bitsandbytes LLM.int8 (`load_in_8bit=True`); nf4 = bitsandbytes 4-bit NF4 (`load_in_4bit=True`);
int8wo / int4wo / fp8 = torchao int8 weight-only, int4 weight-only (tinygemm) and float8 dynamic
activation + weight (per row), every nn.Linear lm_head included, on a bf16 model (`profkit.capture.model`)."""
TORCHAO_PRECISIONS = ("int8wo", "int4wo", "fp8")
"""Precisions that torchao's `quantize_` sets up (needs the torchao package)."""
TORCHAO_REQUIREMENT = "torchao==0.18.0"
"""The torchao release profkit is tested with (torch 2.13): what the error for a missing torchao asks for."""


@dataclass(frozen=True)
class DeviceRequirement:
    """A precision that runs only on CUDA GPUs of at least some compute capability."""

    min_compute_capability: tuple[int, int]
    """Lowest (major, minor) compute capability whose kernels exist."""
    why: str
    """What needs it, in a few words (the refusal names it)."""


GPU_ONLY_PRECISIONS = {
    "int4wo": DeviceRequirement(
        (8, 0), "torchao's int4 weight-only GEMM is the tinygemm CUDA kernel (aten::_weight_int4pack_mm); torchao 0.18 has no CPU packing for it"
    ),
    "fp8": DeviceRequirement((8, 9), "float8 GEMMs (aten::_scaled_mm) need fp8 tensor cores: Ada, Hopper or newer"),
}
"""Precisions refused elsewhere (the CPU, older GPUs) with a one-line reason before anything runs."""
MODES = ("eager", "compiled")
"""eager = HF forward with a DynamicCache; compiled = StaticCache + torch.compile (CUDA graphs on GPU)."""
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_RANDOM_MODEL = {"cuda": "llama-3-8b", "cpu": "tiny"}
"""Random-weight shape when neither --model nor --model-config is given, per device: 8B parameters
would take hours on a CPU."""

# Output layout of one run: <out>/<run-id>/...
CONFIG_NAME = "{model}_{precision}_b{batch_size}_p{prompt_len}_{mode}"
"""A configuration's trace is CONFIG_NAME + TRACE_SUFFIX, e.g. llama-3-8b_int8_b16_p128_eager.pt.trace.json.gz."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class RunConfig:
    """Settings of one `profkit run` sweep. Every field is recorded in the manifest's `settings`."""

    model_path: str | None = None
    """Local Hugging Face checkpoint folder, loaded with `from_pretrained`. None: random weights."""
    model_config: str | None = None
    """Shape for random weights: a name in `profkit.models.LLAMA_CONFIGS` (e.g. `tiny`) or a
    config.json path. None with no `model_path`: DEFAULT_RANDOM_MODEL for the device."""
    precisions: tuple[str, ...] = ("int8", "fp16", "bf16")
    """Weight precisions to sweep, from PRECISIONS (int4wo and fp8 need a CUDA GPU: GPU_ONLY_PRECISIONS)."""
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    """Sequences decoded together."""
    modes: tuple[str, ...] = ("eager",)
    """Execution modes to sweep, from MODES."""
    prompt_len: int = 128
    """Prompt tokens per sequence."""
    new_tokens: int = 64
    """Tokens generated per sequence in the timed run: 1 from prefill + (new_tokens - 1) decode steps."""
    profile_steps: int = 5
    """Decode tokens traced by torch.profiler after the prefill step (at most new_tokens - 1 are)."""
    warmup_decode_tokens: int = 3
    """Decode tokens of the un-timed warm-up generation before each measurement (compiled mode needs
    a few for CUDA graphs to be recorded)."""
    int8_threshold: float = 6.0
    """LLM.int8 outlier threshold (`BitsAndBytesConfig.llm_int8_threshold`); 0 turns outlier handling off."""
    device: str = "auto"
    """auto (CUDA when available, else CPU), cpu or cuda."""
    seed: int = 0
    """Seed for random weights and random prompt token ids."""
    prompt_text: str | None = None
    """Prompt text encoded with the checkpoint's tokenizer and repeated/cut to prompt_len tokens.
    None: random token ids."""
    layer_ranges: bool = False
    """Also put an NVTX range + record_function around each decoder layer (eager mode only)."""
    nvml_interval_s: float = 0.05
    """Seconds between NVML (and process RSS) samples; at most 0.1 (10 Hz)."""
    out_dir: str = "traces"
    """Folder holding one sub-folder per run."""
    run_id: str | None = None
    """Name of the run folder. None: a time stamp and the model name."""
    resume: bool = False
    """Continue run_id: keep configurations already recorded as ok, run the rest."""

    def __post_init__(self):
        self._check_model()
        self._check_sweep()
        self._check_lengths()
        if not self.int8_threshold >= 0:
            raise ProfkitError(f"{option('int8_threshold')} must be >= 0, got {self.int8_threshold}")
        if self.device not in DEVICES:
            raise ProfkitError(f"{option('device')} must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not 0 < self.nvml_interval_s <= 0.1:
            raise ProfkitError(f"{option('nvml_interval_s')} must be in (0, 0.1] (at least 10 Hz), got {self.nvml_interval_s}")
        if self.run_id is not None and not _RUN_ID.match(self.run_id):
            raise ProfkitError(f"{option('run_id')} {self.run_id!r}: use letters, digits, '.', '_' or '-' (it names a folder)")
        if self.resume and self.run_id is None:
            raise ProfkitError(f"{option('resume')} needs {option('run_id')}: name the run to continue (see the folders under {option('out_dir')})")
        if self.layer_ranges and "compiled" in self.modes:
            raise ProfkitError(f"{option('layer_ranges')} works in eager mode only (hooks break CUDA graphs); drop it or use {option('modes')} eager")

    def _check_model(self) -> None:
        if self.model_path is not None and self.model_config is not None:
            raise ProfkitError(f"give either {option('model_path')} (a checkpoint) or {option('model_config')} (random weights), not both")
        if self.model_path is not None and not Path(self.model_path, "config.json").is_file():
            raise ProfkitError(f"{option('model_path')} {self.model_path}: no config.json there; give a local Hugging Face checkpoint folder")
        if self.prompt_text is not None and self.model_path is None:
            raise ProfkitError(f"{option('prompt_text')} needs a tokenizer: give {option('model_path')} with one, or drop it to use random token ids")

    def _check_sweep(self) -> None:
        for name, values, allowed in (("precisions", self.precisions, PRECISIONS), ("modes", self.modes, MODES)):
            named = option(name)
            if not values:
                raise ProfkitError(f"{named} is empty; give one or more of {','.join(allowed)}")
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ProfkitError(f"{named}: unknown {', '.join(map(repr, unknown))}; use {','.join(allowed)}")
            if len(set(values)) != len(values):
                raise ProfkitError(f"{named} lists a value twice: {','.join(values)}")
        if not self.batch_sizes:
            raise ProfkitError(f"{option('batch_sizes')} is empty; give e.g. 1,4,16")
        if any(b < 1 for b in self.batch_sizes) or len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ProfkitError(f"{option('batch_sizes')} must be distinct positive integers, got {','.join(map(str, self.batch_sizes))}")

    def _check_lengths(self) -> None:
        if self.prompt_len < 1:
            raise ProfkitError(f"{option('prompt_len')} must be >= 1, got {self.prompt_len}")
        if self.new_tokens < 2:
            raise ProfkitError(f"{option('new_tokens')} must be >= 2 (one from prefill, at least one decode step), got {self.new_tokens}")
        if self.profile_steps < 1:
            raise ProfkitError(f"{option('profile_steps')} must be >= 1, got {self.profile_steps}")
        if self.warmup_decode_tokens < 1:
            raise ProfkitError(f"{option('warmup_decode_tokens')} must be >= 1, got {self.warmup_decode_tokens}")

    @property
    def random_weights(self) -> bool:
        return self.model_path is None

    def model_ref(self, device: str) -> str:
        """What `profkit.models.model_shape` reads the shape from, on `device` (cpu or cuda)."""
        return self.model_path or self.model_config or DEFAULT_RANDOM_MODEL[device]

    @property
    def traced_decode_tokens(self) -> int:
        """Decode steps in each trace: profile_steps, capped by the decode steps of a generation."""
        return min(self.profile_steps, self.new_tokens - 1)

    @property
    def max_seq_len(self) -> int:
        """KV-cache length every generation of this sweep fits in."""
        return self.prompt_len + max(self.new_tokens, self.warmup_decode_tokens + 1, self.traced_decode_tokens + 1)

    def as_dict(self) -> dict:
        d = asdict(self)
        for key in ("precisions", "batch_sizes", "modes"):
            d[key] = list(d[key])
        return d


# Settings that change what a configuration measures; a resumed run must keep them.
RESUME_MUST_MATCH = (
    "model_path",
    "model_config",
    "prompt_len",
    "new_tokens",
    "profile_steps",
    "warmup_decode_tokens",
    "int8_threshold",
    "seed",
    "prompt_text",
    "layer_ranges",
)


@dataclass(frozen=True)
class ConfigSpec:
    """One configuration of the sweep: a trace file and a `configs` entry in the manifest."""

    model: str
    precision: str
    batch_size: int
    prompt_len: int
    mode: str
    new_tokens: int

    @property
    def name(self) -> str:
        return CONFIG_NAME.format(model=self.model, precision=self.precision, batch_size=self.batch_size, prompt_len=self.prompt_len, mode=self.mode)

    @property
    def trace_file(self) -> str:
        return self.name + TRACE_SUFFIX


def check_precisions_runnable(precisions, device: str, compute_capability: tuple[int, int] | None = None, gpu_name: str | None = None) -> None:
    """ProfkitError (one line, naming the precisions option) for the first precision that cannot run on `device`
    (a GPU of `compute_capability`): a refusal before anything is loaded or written."""
    for precision in precisions:
        need = GPU_ONLY_PRECISIONS.get(precision)
        if need is None:
            continue
        major, minor = need.min_compute_capability
        if device != "cuda":
            where = "this run is on the CPU"
        elif compute_capability is not None and tuple(compute_capability) < need.min_compute_capability:
            where = f"{gpu_name or 'this GPU'} is compute capability {compute_capability[0]}.{compute_capability[1]}"
        else:
            continue
        raise ProfkitError(
            f"{option('precisions')} {precision}: needs a CUDA GPU of compute capability {major}.{minor} or newer "
            f"({need.why}); {where}. Drop {precision} from {option('precisions')}"
        )


def file_safe(name: str) -> str:
    """A model name fit for file names (a checkpoint folder may be called anything)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def expand_sweep(cfg: RunConfig, model_name: str) -> list[ConfigSpec]:
    """Configurations in run order: per precision (one model load), per mode, per batch size."""
    model_name = file_safe(model_name)
    return [
        ConfigSpec(model_name, precision, batch, cfg.prompt_len, mode, cfg.new_tokens)
        for precision in cfg.precisions
        for mode in cfg.modes
        for batch in cfg.batch_sizes
    ]
