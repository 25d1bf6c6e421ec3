"""Serving engines' own step annotations: what each scheduled batch was (phase, requests, tokens, the
context lengths attention read), from the names vLLM and SGLang give their profiler ranges.

vLLM (V1 worker `annotate_profile`, and the variants other builds write):
  execute_context_{ctx_reqs}({ctx_tokens})_generation_{gen_reqs}({gen_tokens})
  execute_context_1(888_788544)_generation_0(0)                       tokens _ sum of squares
  execute_{tokens}_context_{n}(sq{q}sk{k}sqsq{q2}sqsk{qk})_generation_{m}(sq..sk..sqsq..sqsk..)
      sq = query tokens scheduled, sk = tokens of context attention reads (KV length summed over
      the requests), sqsq / sqsk = sums of their squares and products
SGLang (scheduler batches):
  step[EXTEND bs=15 toks=15360]   step[DECODE bs=32]   step[MIXED ...]   step[IDLE ...]

A batch with only context (prompt) requests is a prefill, with only generation requests a decode,
with both a mixed step. Names that follow neither grammar are not engine steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from profkit.trace.model import Trace

PREFILL, DECODE, MIXED, IDLE = "prefill", "decode", "mixed", "idle"

_VLLM = re.compile(r"^execute_(?:(?P<total>\d+)_)?context_(?P<ctx>\d+)\((?P<ctx_field>[^)]*)\)_generation_(?P<gen>\d+)\((?P<gen_field>[^)]*)\)")
_VLLM_SEQ_FIELD = re.compile(r"^sq(?P<q>\d+)sk(?P<k>\d+)")
_VLLM_TOKEN_FIELD = re.compile(r"^(?P<q>\d+)(?:_\d+)*$")
_SGLANG = re.compile(r"^step\[(?P<mode>[A-Z_]+)(?P<fields>(?:\s+\w+=[^\s\]]+)*)\s*\]$")
# SGLang ForwardMode names -> phase; speculative decoding's verify/draft passes serve decode.
_SGLANG_MODES = {
    "EXTEND": PREFILL,
    "PREFILL": PREFILL,
    "DECODE": DECODE,
    "MIXED": MIXED,
    "IDLE": IDLE,
    "DUMMY_FIRST": IDLE,
    "TARGET_VERIFY": DECODE,
    "DRAFT_EXTEND": DECODE,
    "DRAFT_EXTEND_V2": DECODE,
}


@dataclass(frozen=True)
class EngineBatch:
    """One scheduled batch as the engine annotated it. Counts are None where the annotation omits them."""

    engine: str  # "vllm" or "sglang"
    phase: str  # prefill, decode, mixed, idle (or "step" for an unknown SGLang mode)
    requests: int | None  # sequences in the batch (context + generation)
    tokens: int | None  # query tokens computed in the step (prompt tokens + generated tokens)
    prefill_requests: int | None = None
    prefill_tokens: int | None = None
    decode_requests: int | None = None
    decode_tokens: int | None = None
    context_tokens: int | None = None  # KV tokens attention reads, summed over requests (vLLM's sk fields)

    def merged(self, outer: EngineBatch) -> EngineBatch:
        """This batch with the fields it lacks taken from an enclosing annotation of the same batch."""
        values = {k: getattr(self, k) if getattr(self, k) is not None else getattr(outer, k) for k in self.__dataclass_fields__}
        return EngineBatch(**values)


def parse_annotation(name: str) -> EngineBatch | None:
    """The batch an engine step annotation describes; None when `name` is no engine step."""
    if name.startswith("execute_"):
        return _vllm(name)
    if name.startswith("step["):
        return _sglang(name)
    return None


def _vllm(name: str) -> EngineBatch | None:
    m = _VLLM.match(name)
    if not m:
        return None
    ctx_reqs, gen_reqs = int(m["ctx"]), int(m["gen"])
    ctx_q, ctx_k = _vllm_field(m["ctx_field"])
    gen_q, gen_k = _vllm_field(m["gen_field"])
    phase = MIXED if ctx_reqs and gen_reqs else PREFILL if ctx_reqs else DECODE if gen_reqs else IDLE
    tokens = int(m["total"]) if m["total"] else _sum(ctx_q if ctx_reqs else 0, gen_q if gen_reqs else 0)
    context = _sum(ctx_k if ctx_reqs else 0, gen_k if gen_reqs else 0) if (ctx_k is not None or not ctx_reqs) and (gen_k is not None or not gen_reqs) else None
    return EngineBatch(
        engine="vllm",
        phase=phase,
        requests=ctx_reqs + gen_reqs,
        tokens=tokens,
        prefill_requests=ctx_reqs,
        prefill_tokens=ctx_q if ctx_reqs else 0,
        decode_requests=gen_reqs,
        decode_tokens=gen_q if gen_reqs else 0,
        context_tokens=context if phase != IDLE else 0,
    )


def _vllm_field(text: str) -> tuple[int | None, int | None]:
    """(query tokens, KV tokens read) of one parenthesised vLLM field; None where it does not say."""
    m = _VLLM_SEQ_FIELD.match(text)
    if m:
        return int(m["q"]), int(m["k"])
    m = _VLLM_TOKEN_FIELD.match(text)
    if m:
        return int(m["q"]), None
    return None, None


def _sum(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _sglang(name: str) -> EngineBatch | None:
    m = _SGLANG.match(name)
    if not m:
        return None
    fields = dict(part.split("=", 1) for part in m["fields"].split())
    phase = _SGLANG_MODES.get(m["mode"], "step")
    requests = _int(fields.get("bs"))
    tokens = _int(fields.get("toks") or fields.get("tokens"))
    if tokens is None and phase == DECODE and m["mode"] == "DECODE":
        tokens = requests  # one new token per sequence
    return EngineBatch(
        engine="sglang",
        phase=phase,
        requests=requests,
        tokens=tokens,
        prefill_requests=requests if phase == PREFILL else 0 if phase == DECODE else None,
        prefill_tokens=tokens if phase == PREFILL else 0 if phase == DECODE else None,
        decode_requests=requests if phase == DECODE else 0 if phase == PREFILL else None,
        decode_tokens=tokens if phase == DECODE else 0 if phase == PREFILL else None,
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class EngineStep:
    """An engine step annotation on the host: where it lies (ns from the trace's start) and its batch."""

    name: str
    lo_ns: int
    hi_ns: int
    batch: EngineBatch


def engine_steps(trace: Trace) -> list[EngineStep]:
    """The engine's step annotations in time order, memoised. Where annotations of two grammars
    describe the same batch (one encloses the other), the innermost is the step and takes the fields
    it lacks from the enclosing one."""
    if "engine_steps" in trace.memo:
        return trace.memo["engine_steps"]
    ann = trace.annotations
    found: list[EngineStep] = []
    parsed: dict[int, EngineBatch | None] = {}
    for row, name_id in enumerate(ann.name_id.tolist()):
        if name_id not in parsed:
            parsed[name_id] = parse_annotation(trace.name(name_id))
        batch = parsed[name_id]
        if batch is not None:
            lo = int(ann.ts_ns[row])
            found.append(EngineStep(trace.name(name_id), lo, lo + int(ann.dur_ns[row]), batch))
    found.sort(key=lambda s: (s.lo_ns, -s.hi_ns))
    steps = _innermost(found)
    trace.memo["engine_steps"] = steps
    return steps


def _innermost(found: list[EngineStep]) -> list[EngineStep]:
    """Drop annotations that enclose another engine annotation, merging their fields into the ones
    they enclose. `found` is sorted by start (ties: longest first)."""
    wrapper = [False] * len(found)
    enclosing: list[list[int]] = [[] for _ in found]
    for i, outer in enumerate(found):
        j = i + 1
        while j < len(found) and found[j].lo_ns < outer.hi_ns:
            if found[j].hi_ns <= outer.hi_ns:
                wrapper[i] = True
                enclosing[j].append(i)
            j += 1
    result = []
    for i, step in enumerate(found):
        if wrapper[i]:
            continue
        batch = step.batch
        for k in enclosing[i]:
            if found[k].batch.phase == batch.phase:
                batch = batch.merged(found[k].batch)
        result.append(EngineStep(step.name, step.lo_ns, step.hi_ns, batch))
    return result


def batch_sizes(steps: list[EngineStep], phase: str) -> list[int]:
    """Requests per step of one phase, where annotated."""
    return [s.batch.requests for s in steps if s.batch.phase == phase and s.batch.requests is not None]


def most_common(values: list[int]) -> int | None:
    """The most frequent value (the smallest among ties), None for no values."""
    if not values:
        return None
    uniq, counts = np.unique(np.asarray(values), return_counts=True)
    return int(uniq[np.argmax(counts)])
