"""Random-weight model builders: the profiles' architectures at the `tiny` and the `bench` sizes, for tests, offline
demos and benchmarks, saved into the mora cache and loaded like any real model.

Layer: above :mod:`mora_tools.cache`, below :mod:`mora_tools.loading.models` (which resolves ``tiny/`` and ``random/``
references through :mod:`mora_tools.builders.registry`). Anything above may import it; it imports only the cache
layer. Torch and diffusers are imported inside the builders, never at import time.
"""
