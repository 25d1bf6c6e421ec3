"""Greedy generation split into the two phases that profkit measures (the gpt-fast shape).

`prefill` runs the prompt and returns the first new token; `decode_one_token` runs one token
through the KV cache and returns the next. Both keep tokens on the device (argmax, no `.item()`),
so the loop adds no device-to-host copies of its own. `GenerationLoop` holds the per-configuration
state: the KV cache and, in compiled mode, the compiled decode step.

  eager    -- the Hugging Face forward with a `DynamicCache`, the way `model.generate` runs by default.
  compiled -- a `StaticCache` and `torch.compile(decode_one_token, mode="reduce-overhead",
              fullgraph=True)` (CUDA graphs) on GPU; inductor's default mode on CPU, which has no
              CUDA graphs. Prefill stays eager, as in gpt-fast and HF's own static-cache generate.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import StaticCache

COMPILE_MODES = {"cuda": "reduce-overhead", "cpu": "default"}
"""torch.compile mode of the compiled decode step, per device type."""


def prefill(model, input_ids: torch.Tensor, model_kwargs: dict) -> torch.Tensor:
    """Run the prompt through the model, filling the KV cache; return the first generated token per row.

    `model_kwargs` holds the cache (under the keyword the model's forward takes) and, for a static
    cache, the positions."""
    out = model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **model_kwargs)
    return out.logits[:, -1].argmax(dim=-1)


def decode_one_token(model, token: torch.Tensor, model_kwargs: dict) -> torch.Tensor:
    """Run one token per row through the model with the KV cache; return the next token per row."""
    out = model(input_ids=token[:, None], use_cache=True, **model_kwargs)
    return out.logits[:, -1].argmax(dim=-1)


class GenerationLoop:
    """Greedy generation for one configuration (model, batch size, mode); reusable across runs."""

    def __init__(self, model, mode: str, device: str, max_seq_len: int):
        self.model = model
        self.mode = mode
        self.device = device
        self.max_seq_len = max_seq_len
        self._signature = _forward_parameters(model)
        self._cache_kw = "cache" if "cache" in self._signature else "past_key_values"
        self._static_cache: StaticCache | None = None
        self._cache: Any = None  # the KV cache of the generation under way (DynamicCache or the StaticCache)
        self._position: torch.Tensor | None = None  # position of the next token, on the device
        self._decode = decode_one_token
        if mode == "compiled":
            self._setup_compiled()

    @property
    def compile_mode(self) -> str | None:
        return COMPILE_MODES[self.device] if self.mode == "compiled" else None

    def _setup_compiled(self) -> None:
        from transformers import StaticCache

        torch._dynamo.reset()  # a fresh compile per configuration: no recompile limit, no stale graphs
        if self.device == "cpu":
            _compile_in_process()
        self._static_cache = StaticCache(config=self.model.config, max_cache_len=self.max_seq_len)
        self._decode = torch.compile(decode_one_token, mode=self.compile_mode, fullgraph=True)

    def _new_cache(self):
        if self._static_cache is not None:
            self._static_cache.reset()
            return self._static_cache
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # transformers < 4.56
            return DynamicCache()

    def _model_kwargs(self, positions: torch.Tensor) -> dict:
        """The cache, plus explicit positions for a static cache (device tensors: no host copies).
        A dynamic cache lets the model count positions itself, as `generate` does."""
        kwargs = {self._cache_kw: self._cache}
        if self._static_cache is not None:
            kwargs["position_ids"] = positions[None]
            if "cache_position" in self._signature:  # transformers < 5 needs it with a StaticCache
                kwargs["cache_position"] = positions
        return kwargs

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Start a generation: a fresh (or reset) KV cache, then the prompt."""
        prompt_len = input_ids.shape[1]
        if prompt_len >= self.max_seq_len:
            raise ValueError(f"prompt of {prompt_len} tokens does not fit a {self.max_seq_len}-token cache")
        self._cache = self._new_cache()
        positions = torch.arange(prompt_len, device=input_ids.device)
        self._position = positions[-1:] + 1
        return prefill(self.model, input_ids, self._model_kwargs(positions))

    def decode(self, token: torch.Tensor) -> torch.Tensor:
        """One more token per row."""
        if self._cache is None or self._position is None:
            raise RuntimeError("decode() before prefill()")
        kwargs = self._model_kwargs(self._position)
        if self.mode == "compiled":
            torch.compiler.cudagraph_mark_step_begin()
        token = self._decode(self.model, token, kwargs)
        if self.mode == "compiled":
            token = token.clone()  # CUDA-graph outputs are overwritten by the next replay
        self._position = self._position + 1
        return token


def _compile_in_process() -> None:
    """On a CPU run, inductor's pool of compile workers keeps competing with the measured steps for
    the same cores long after compiling; compile in this process instead (also faster on few cores)."""
    import torch._inductor.config as inductor_config

    inductor_config.compile_threads = 1


def _forward_parameters(model) -> set[str]:
    return set(inspect.signature(type(model).forward).parameters)
