"""Capture: running Llama inference under torch.profiler and leaving traces + a manifest behind.

  config       RunConfig (all settings, validated), ConfigSpec, output file names    -- no torch
  model        random-weight / checkpoint models in fp16, bf16, int8 (LLM.int8), nf4, torchao int8wo/int4wo/fp8
  generate     prefill() / decode_one_token() and GenerationLoop (eager or compiled)
  annotate     NVTX ranges mirrored by record_function (`prefill`, `decode`)
  timing       un-profiled, device-synchronized timing; TTFT / TPOT / tokens/s
  profile      the profiled generation and its .pt.trace.json.gz
  nvml         background NVML + RSS sampler
  environment  device choice, versions
  manifest     manifest.json schema, configuration states, resume
  files        atomic writes
  sweep        run_sweep(RunConfig): the whole thing

This package's __init__ imports nothing heavy, so `profkit.capture.config` loads without torch.
Entry point: `from profkit.capture.sweep import run_sweep`.
"""
