"""GPU specifications: the catalog of datasheet numbers and measured overrides."""

from profkit.hardware.catalog import GPU_CATALOG, GpuSpec, dtype_key, get_gpu, match_gpu, with_measured

__all__ = ["GPU_CATALOG", "GpuSpec", "dtype_key", "get_gpu", "match_gpu", "with_measured"]
