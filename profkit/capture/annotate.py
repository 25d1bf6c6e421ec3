"""Named ranges around the phases of generation, visible to both Nsight Systems and Kineto.

An NVTX range (the `nvtx` package) shows in Nsight Systems but not in a torch.profiler trace, so
each range is mirrored by `torch.profiler.record_function` with the same name, which Kineto
records as a `user_annotation` (CPU) and `gpu_user_annotation` (GPU) event.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import nvtx
import torch

from profkit.errors import ProfkitError, option

PREFILL = "prefill"
DECODE = "decode"
LAYER = "decoder_layer.{index}"
NVTX_DOMAIN = "profkit"


@contextmanager
def phase_range(name: str, kineto: bool = True):
    """NVTX range `name`, mirrored by a record_function when `kineto` (a profiled run)."""
    mirror = torch.profiler.record_function(name) if kineto else nullcontext()
    with nvtx.annotate(name, domain=NVTX_DOMAIN), mirror:
        yield


class LayerRanges:
    """NVTX + record_function ranges around every decoder layer, through forward hooks (eager only)."""

    def __init__(self, model, kineto: bool = True):
        self._handles = []
        self._open: list = []
        self._kineto = kineto
        for index, layer in enumerate(_decoder_layers(model)):
            name = LAYER.format(index=index)
            self._handles.append(layer.register_forward_pre_hook(self._enter(name)))
            self._handles.append(layer.register_forward_hook(self._exit))

    def _enter(self, name: str):
        def hook(module, args):
            rng = phase_range(name, self._kineto)
            rng.__enter__()
            self._open.append(rng)

        return hook

    def _exit(self, module, args, output):
        self._open.pop().__exit__(None, None, None)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _decoder_layers(model):
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ProfkitError(f"{type(model).__name__} has no model.layers to annotate; run without {option('layer_ranges')}")
    return list(layers)
