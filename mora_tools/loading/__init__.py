"""Loading: model profiles (:mod:`~mora_tools.loading.profiles`, with their YAML files), resolving, checking and
loading the pipelines they name (:mod:`~mora_tools.loading.models`), memory settings
(:mod:`~mora_tools.loading.memory`), what is on this machine (:mod:`~mora_tools.loading.catalog`) and OpenAI-compatible
endpoints (:mod:`~mora_tools.loading.endpoints`).

Layer: above :mod:`mora_tools.builders` and :mod:`mora_tools.cache`; imported by :mod:`mora_tools.pipelines`,
:mod:`mora_tools.training` and ``mora_agents``. Import the submodules directly; this package imports nothing.
"""
