"""Published reference numbers the book and the benchmarks compare with, defined in one place.

Every number here is copied from a paper's or a library's published result files (named with each
constant), never measured by us; the chapters cite them next to where they are shown.

Example:
    >>> REFERENCE_KODAK["mean-scale hyperprior (Minnen 2018)"][0.5]
    33.41
    >>> len(COMPRESSAI_KODAK["mbt2018-mean"][0])
    8
"""
from __future__ import annotations

#: Kodak PSNR (RGB, dB) at 0.25 / 0.5 / 1.0 bpp, from CompressAI's published result files
#: (``results/image/kodak/*.json``; JPEG and WebP there are Pillow defaults).
REFERENCE_KODAK: dict[str, dict[float, float]] = {
    "JPEG": {0.25: 24.66, 0.5: 28.95, 1.0: 32.59},
    "WebP": {0.25: 28.55, 0.5: 31.32, 1.0: 35.11},
    "JPEG 2000": {0.25: 28.57, 0.5: 31.27, 1.0: 34.71},
    "factorized prior (Balle 2017)": {0.25: 29.15, 0.5: 31.83, 1.0: 35.58},
    "scale hyperprior (Balle 2018)": {0.25: 29.95, 0.5: 33.06, 1.0: 37.14},
    "BPG 4:4:4": {0.25: 30.32, 0.5: 33.32, 1.0: 37.16},
    "mean-scale hyperprior (Minnen 2018)": {0.25: 30.30, 0.5: 33.41, 1.0: 37.49},
    "VTM (VVC intra)": {0.25: 31.27, 0.5: 34.37, 1.0: 38.24},
}

#: published Kodak points (bpp, PSNR dB) of CompressAI's retrained models (its results/image/kodak files, MSE, q 1..8)
COMPRESSAI_KODAK = {
    "bmshj2018-factorized": ([.1226, .1885, .2878, .4404, .6481, .9670, 1.3512, 1.8333],
                             [26.91, 28.22, 29.62, 31.28, 32.96, 35.38, 37.40, 39.62]),
    "bmshj2018-hyperprior": ([.1313, .2089, .3199, .4784, .6687, .9388, 1.2592, 1.6602],
                             [27.58, 29.20, 30.97, 32.84, 34.53, 36.74, 38.58, 40.56]),
    "mbt2018-mean": ([.1239, .1980, .3072, .4606, .6617, .9144, 1.2342, 1.6191],
                     [27.70, 29.36, 31.13, 32.95, 34.97, 36.91, 38.84, 40.63]),
}
#: Yang, Bamler & Mandt 2020's own result files: Kodak PSNR (dB) at 0.25 / 0.5 / 1.0 bpp, and BD-rates vs base
YANG2020_KODAK = {"base hyperprior": {0.25: 30.28, 0.5: 33.33, 1.0: 37.38},
                  "SGA": {0.25: 31.05, 0.5: 34.13, 1.0: 38.16}}
YANG2020_BD = {"SGA vs base": -15.2, "SGA + BB vs base": -16.8}
#: Flamich, Havasi & Hernandez-Lobato 2020: actual REC rate / KL with Elias-delta index codes
FLAMICH2020_RATIO = (1.6, 1.8)


__all__ = ["REFERENCE_KODAK", "COMPRESSAI_KODAK", "YANG2020_KODAK", "YANG2020_BD", "FLAMICH2020_RATIO"]
