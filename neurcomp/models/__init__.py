"""Model zoo classes. ``build_model(config)`` makes one from its ``config`` dict.

Every class implements :class:`~neurcomp.models.base.CompressionModel` (the contract); adding a
model is one new file in this folder plus one entry in ``MODEL_CLASSES``. A model with the iterative
methods (``"sga"`` in ``methods``) also implements :class:`~neurcomp.models.transform_coder.TransformCoder`,
a bits-back model :class:`~neurcomp.models.transform_coder.BitsBackCoder`.
"""
from .base import Compressed, CompressionModel
from .bitsback import BitsBackHyperprior
from .dvae import DiscretizedVAE, HierarchicalDVAE
from .hyperprior import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior
from .overfit import OverfitCodec
from .pln import PLN
from .transform_coder import BitsBackCoder, TransformCoder
from .vq import VQAutoencoder

MODEL_CLASSES = {cls.kind: cls for cls in (FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior, VQAutoencoder,
                                           DiscretizedVAE, HierarchicalDVAE, PLN, BitsBackHyperprior, OverfitCodec)}


def build_model(config: dict) -> CompressionModel:
    """Instantiate a model from ``{"kind": ..., **kwargs}`` (the ``config`` property of a model).

    Example:
        >>> build_model({"kind": "factorized", "N": 8, "M": 8, "lambdas": [0.01]}).config["M"]
        8
    """
    config = dict(config)
    kind = config.pop("kind")
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(sorted(MODEL_CLASSES))}")
    return MODEL_CLASSES[kind](**config)


__all__ = ["CompressionModel", "Compressed", "FactorizedPrior", "ScaleHyperprior", "MeanScaleHyperprior",
           "BitsBackHyperprior", "TransformCoder", "BitsBackCoder", "VQAutoencoder", "DiscretizedVAE", "HierarchicalDVAE",
           "PLN", "OverfitCodec", "MODEL_CLASSES", "build_model"]
