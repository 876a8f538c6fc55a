"""Training: the tools side of Mora's self-modulated multi-agent fine-tuning (paper Algorithm 1): each trainable
agent's denoiser, its teacher-forced denoising loss, its LoRA (or full) parameters, and its modulation token's initial
value.

The training loop (``mora_agents.learning``) owns optimizers, learning rates, EMA and checkpoints; it gets one
:class:`~mora_tools.training.base.TrainableAgent` per role from :func:`mora_tools.training.load.load_trainable_agent`
and calls its ``loss`` on batches whose targets are the target video's own intermediates (teacher forcing: A2 learns
the target's first frame from the prompt, A4 the target video from the target's first frame). What training writes
(LoRA formats, modulation tokens) lives in :mod:`mora_tools.adapters`, which generation reads too.

Layer: above :mod:`mora_tools.loading` and :mod:`mora_tools.adapters`; imported by ``mora_agents`` only (the learning
loop, benchmarks, tests). Import the submodules directly; this package imports nothing.
"""
