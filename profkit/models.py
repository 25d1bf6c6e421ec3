"""Model shapes as data keyed by name (the gpt-fast habit). No torch import here.

`LLAMA_CONFIGS["llama-3-8b"]` is the exact Llama 3 8B architecture; `"tiny"` is a small Llama
with the same structure (GQA, untied lm_head) for CPUs and CI.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from profkit.errors import ProfkitError


@dataclass(frozen=True)
class LlamaShape:
    """Architecture numbers of a Llama-family decoder."""

    name: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    rope_theta: float = 500000.0
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 8192
    rms_norm_eps: float = 1e-5

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ProfkitError(f"model {self.name}: hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.num_heads % self.num_kv_heads:
            raise ProfkitError(f"model {self.name}: num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def linear_shapes(self) -> tuple[tuple[int, int], ...]:
        """(in_features, out_features) of one decoder layer's projections: q, k, v, o, gate, up, down."""
        h, kv, i = self.hidden_size, self.num_kv_heads * self.head_dim, self.intermediate_size
        return ((h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h))

    @property
    def linear_params_per_layer(self) -> int:
        """Parameters of the seven projection matrices of one decoder layer (q, k, v, o, gate, up, down)."""
        h, kv = self.hidden_size, self.num_kv_heads * self.head_dim
        return h * h + 2 * h * kv + h * h + 3 * h * self.intermediate_size

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size

    @property
    def norm_params(self) -> int:
        return (2 * self.num_layers + 1) * self.hidden_size

    @property
    def total_params(self) -> int:
        return self.num_layers * self.linear_params_per_layer + self.embedding_params + self.lm_head_params + self.norm_params

    def to_hf_dict(self) -> dict:
        """The keys of a Hugging Face LlamaConfig."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "vocab_size": self.vocab_size,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "hidden_act": "silu",
            # Llama 3's special tokens; a smaller vocabulary (tiny) uses its last two ids instead.
            "bos_token_id": 128000 if self.vocab_size > 128001 else self.vocab_size - 2,
            "eos_token_id": 128001 if self.vocab_size > 128001 else self.vocab_size - 1,
        }

    def as_dict(self) -> dict:
        return asdict(self)


LLAMA_CONFIGS: dict[str, LlamaShape] = {
    "llama-3-8b": LlamaShape(
        name="llama-3-8b",
        hidden_size=4096,
        intermediate_size=14336,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        vocab_size=128256,
        rope_theta=500000.0,
        tie_word_embeddings=False,
        max_position_embeddings=8192,
    ),
    "tiny": LlamaShape(
        name="tiny",
        hidden_size=256,
        intermediate_size=512,
        num_layers=2,
        num_heads=8,
        num_kv_heads=2,
        vocab_size=1024,
        rope_theta=500000.0,
        tie_word_embeddings=False,
        max_position_embeddings=2048,
    ),
}


def model_shape(name_or_path: str) -> LlamaShape:
    """A built-in shape by name, or the shape read from a Hugging Face `config.json` (file or folder)."""
    if name_or_path in LLAMA_CONFIGS:
        return LLAMA_CONFIGS[name_or_path]
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        known = ", ".join(sorted(LLAMA_CONFIGS))
        raise ProfkitError(f"unknown model {name_or_path!r}: give one of {known} or a Hugging Face config.json path")
    return shape_from_hf_config(json.loads(path.read_text()), name=path.parent.name or path.stem)


def _rope_theta(cfg: dict) -> float:
    """transformers 5 stores rope_theta under rope_parameters; older configs at the top level."""
    nested = cfg.get("rope_parameters") or {}
    return float(cfg.get("rope_theta") or nested.get("rope_theta") or 10000.0)


def shape_from_hf_config(cfg: dict, name: str = "custom") -> LlamaShape:
    """Read a Hugging Face LlamaConfig-style dict."""
    try:
        heads = int(cfg["num_attention_heads"])
        return LlamaShape(
            name=name,
            hidden_size=int(cfg["hidden_size"]),
            intermediate_size=int(cfg["intermediate_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            vocab_size=int(cfg["vocab_size"]),
            rope_theta=_rope_theta(cfg),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 8192)),
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-5)),
        )
    except KeyError as exc:
        raise ProfkitError(f"model config {name}: missing key {exc.args[0]!r}; is it a Llama-style config.json?") from None
