"""Training a ContrastDM network, stage by stage (:func:`fit` reads as the list of stages).

``context`` holds what every stage shares; ``pretrain``, ``synthesis``, ``finetune``, ``pseudo`` and
``refinement`` are the stages; ``common`` the helpers several of them use.
"""

from .fit import FitResult, fit

__all__ = ["FitResult", "fit"]
