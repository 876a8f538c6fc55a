"""Encoders: text encoders used outside the generative pipelines, such as the sentence encoder the director routes
with and the paper metrics compare texts with (:mod:`~mora_tools.encoders.sentence`).

Layer: beside :mod:`mora_tools.loading`, importing only ``mora_agents``' base modules; imported by ``mora_agents``
(director, evaluation). Import the submodules directly; this package imports nothing.
"""
