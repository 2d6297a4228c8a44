"""What every chapter of the book needs: the setup cell and the helpers the chapters share.

A chapter starts with::

    import os
    from neurcomp import book
    ch = book.setup(os.environ.get("NEURCOMP_PROFILE", "quick"), device="auto")

:func:`setup` checks the compute profile (``quick``: a CPU, minutes; ``full``: paper-sized,
hours, a GPU if there is one), sets the thread count, picks the device, applies the book's
plot style and returns a :class:`Chapter` with what the chapter uses (``ch.profile``,
``ch.quick``, ``ch.device``, ``ch.pick(quick_value, full_value)``, ``ch.done()``).

The rest are small helpers that several chapters used to copy, one module per concern
(:mod:`~neurcomp.book.chapter`, :mod:`~neurcomp.book.shipped`, :mod:`~neurcomp.book.records`,
:mod:`~neurcomp.book.figures`, :mod:`~neurcomp.book.explorers`, :mod:`~neurcomp.book.training`,
:mod:`~neurcomp.book.latents`), all importable from here:

- shipped networks: :func:`networks`, :func:`network` (with a stand-in for a checkout without
  weights), :func:`nearest`, :func:`describe_networks`, :func:`load`, :func:`weights_used` (the
  fingerprints of the weights a chapter's outputs come from, printed in a cell nbval compares),
  :func:`hyperprior_rate_points` and :func:`published_network` (the full profile's paper-scale
  hyperprior: CompressAI's published weights);
- images and the real codec: :func:`load_crop`, :func:`code_sweep`, :func:`round_trip`,
  :func:`print_header`, :func:`same_rate`, :func:`forward`;
- rate-distortion records, curves and tables: :func:`evaluate_networks`, :func:`baseline_records`,
  :func:`curves`, :func:`means`, :func:`bd`, :func:`bd_table`, :func:`psnr_at`, :func:`psnr_table`,
  :func:`table`;
- figures: :func:`rd_figure`, :func:`zoom_rd`, :func:`plot_sweep`, :func:`label_points`,
  :func:`colors`, :func:`crop_grid`, :func:`show_image`, :func:`image_strip`, :func:`stacked_bars`,
  :func:`moving_average`, :func:`smooth`, :func:`plot_training`, :func:`learning_curve`,
  :func:`plot_learning_curve`;
- widget explorers that work without a kernel: :func:`png`, :func:`fig_png`, :func:`card`,
  :func:`pages`, :func:`slider`, :func:`stack`, :func:`explorer`;
- live training demos: :func:`train_live`, :func:`training_images` (``$NEURCOMP_DATA/train``, or Kodak
  as a labelled stand-in);
- hyperprior latents (chapters 5 and 6): :func:`decode_latents`, :func:`rd_point`, :func:`final_gap`.

Units, unless a docstring says otherwise: rates in bits per pixel (bpp) of the image that
was coded, PSNR in dB on 8-bit RGB, images as float tensors ``[3, H, W]`` in ``[0, 1]`` or
uint8 arrays ``[H, W, 3]``, times in seconds.

This module is the top layer of the package: it may import any other module, and nothing
in the package imports it.

Examples
--------
>>> ch = setup("quick", banner=False)
>>> ch.profile, ch.quick, ch.pick(300, 2000)
('quick', True, 300)
"""

from .chapter import PROFILES, Chapter, setup, shown_path
from .shipped import (describe_networks, hyperprior_rate_points, load, load_crop, nearest, network, networks,
                      published_network, weights_used)
from .records import (baseline_records, bd, bd_table, code_sweep, curves, evaluate_networks, means, print_header,
                      psnr_at, psnr_table, round_trip, same_rate, table)
from .figures import (colors, crop_grid, image_strip, label_points, learning_curve, moving_average, plot_learning_curve,
                      plot_sweep, plot_training, rd_figure, show_image, smooth, stacked_bars, zoom_rd)
from .explorers import card, explorer, fig_png, grid_explorer, pages, png, slider, stack
from .training import train_live, training_images
from .latents import decode_latents, final_gap, forward, rd_point

__all__ = ["PROFILES", "Chapter", "setup", "shown_path", "networks", "network", "nearest", "describe_networks", "weights_used", "published_network",
           "hyperprior_rate_points", "load", "load_crop",
           "evaluate_networks", "baseline_records", "code_sweep", "round_trip", "curves", "means", "bd", "bd_table",
           "psnr_table", "psnr_at", "same_rate", "print_header", "table", "moving_average", "smooth", "plot_training",
           "zoom_rd", "colors", "label_points", "plot_sweep", "rd_figure", "show_image", "stacked_bars", "crop_grid",
           "image_strip", "learning_curve", "plot_learning_curve", "png", "fig_png", "card", "slider", "pages",
           "stack", "explorer", "grid_explorer", "train_live", "training_images", "final_gap", "forward", "decode_latents", "rd_point"]
