"""GPU specifications: the catalog of datasheet numbers and measured overrides."""

from profkit.hardware.catalog import GPU_CATALOG, GpuMatch, GpuSpec, dtype_key, get_gpu, identify_gpu, match_gpu, with_measured

__all__ = ["GPU_CATALOG", "GpuMatch", "GpuSpec", "dtype_key", "get_gpu", "identify_gpu", "match_gpu", "with_measured"]
