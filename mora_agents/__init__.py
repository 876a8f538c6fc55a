"""mora: a multi-agent video studio after the Mora paper.

Kept free of heavy imports on purpose: ``mora --help`` must not load torch.
"""

__version__ = "0.1.0"
