"""The model side of mora: generative-model wrappers over diffusers pipelines, chosen by a model profile.

Layers, each importing only the ones below it (and ``mora_agents``' base modules: errors, containment, media,
media_guard, workspace):

1. :mod:`mora_tools.cache`: the cache folder, the atomic build-then-rename, quieting the libraries;
2. :mod:`mora_tools.builders`: random-weight models (``tiny/``, ``random/``) built from size tables;
3. :mod:`mora_tools.loading`: profiles, resolving and loading pipelines, memory, the catalog, endpoints;
4. :mod:`mora_tools.adapters`: what training writes and generation applies (LoRA formats, modulation tokens);
   :mod:`mora_tools.encoders`: the director's sentence encoder;
5. :mod:`mora_tools.pipelines`: one tool per generative role, their calls and progress;
   :mod:`mora_tools.training`: the trainable agents.

``mora_agents``' agents and services import these; nothing here imports them. Import the submodules directly
(``mora_tools.pipelines.text_to_image``); the packages keep torch and diffusers out of import time.
"""
