"""The evaluation layer: video quality metrics and ``mora eval`` (issue 7).

It sits just above the model tools (:mod:`mora_tools`) and the base modules (:mod:`mora_agents.errors`,
``containment``, ``media``, ``media_guard``, ``messages``, ``workspace``), which are all it imports, and below the
agents: the judges (:mod:`mora_agents.agents`), the learning loop and the front ends (``mora eval``, benchmarks) may
import it; the agents, SOPs, director, studio and front ends never are imported from here.

* :mod:`~mora_agents.evaluation.metrics`: the metrics themselves, one module per family, their metrics profiles and
  their models.
* :mod:`~mora_agents.evaluation.selection`: which metrics a task or a ``--metrics`` list asks for.
* :mod:`~mora_agents.evaluation.inputs`: what a video is evaluated against.
* :mod:`~mora_agents.evaluation.scoring`: computing the metrics for one video.
* :mod:`~mora_agents.evaluation.record`: the evaluation record and its JSON file.
* :mod:`~mora_agents.evaluation.run_folder`: reading a run folder.
* :mod:`~mora_agents.evaluation.evaluate`: evaluating a bare video or a run folder.
* :mod:`~mora_agents.evaluation.vbench`: the VBench export.

Importing this package imports nothing (no torch, no OpenCV): import the module you need.
"""
