"""Pipelines: one tool per generative-model role (:mod:`~mora_tools.pipelines.text_to_image`,
:mod:`~mora_tools.pipelines.image_to_image`, :mod:`~mora_tools.pipelines.image_to_video`,
:mod:`~mora_tools.pipelines.video_connection`), the checked pipeline calls they share
(:mod:`~mora_tools.pipelines.calls`) and step progress (:mod:`~mora_tools.pipelines.progress`).

Layer: the top of :mod:`mora_tools`, above :mod:`mora_tools.loading` and :mod:`mora_tools.adapters`; imported by
``mora_agents`` (the stage agents, the studio, the doctor). Import the submodules directly; this package imports
nothing.
"""
