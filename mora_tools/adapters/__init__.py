"""Adapters: what a ``mora learn train`` run writes and generation applies: LoRA and its on-disk formats
(:mod:`~mora_tools.adapters.lora`), the self-modulation token (:mod:`~mora_tools.adapters.modulation`), and applying
both to a generation pipeline (:mod:`~mora_tools.adapters.apply`).

Layer: below both :mod:`mora_tools.training` (which writes them) and :mod:`mora_tools.pipelines` (which applies them);
it imports only ``mora_agents``' base modules. Import the submodules directly; this package imports nothing.
"""
