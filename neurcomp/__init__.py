"""neurcomp: neural image compression you can run.

Learned codecs that write real bitstreams (constriction range / ANS coders),
inference methods that close the approximation gaps of VAE-based compression,
and the tools the book uses (data, metrics, baselines, plotting).
"""
__version__ = "0.1.0"


class BitstreamError(ValueError):
    """A stream that is truncated, corrupted, from another model, or not a neurcomp stream."""


__all__ = ["BitstreamError", "__version__"]
