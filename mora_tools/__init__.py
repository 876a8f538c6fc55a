"""Tools: one wrapper per generative-model role over diffusers pipelines, chosen by a model profile.

Import the submodules directly (``mora_tools.text_to_image``, ``mora_tools.image_to_video``); this package keeps
torch and diffusers out of import time.
"""
