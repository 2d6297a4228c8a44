"""Image input/output, the Kodak test set, and a random-crop training dataset.

Every image in ``neurcomp`` is a ``torch.float32`` tensor of shape ``[3, H, W]``
with values in ``[0, 1]`` that are exact multiples of ``1/255`` (see
:func:`load_image` for how odd image modes are converted).

Data lives outside the repository, in the folder given by ``$NEURCOMP_DATA``
(default ``~/.cache/neurcomp``)::

    $NEURCOMP_DATA/kodak/kodim01.png ... kodim24.png
    $NEURCOMP_DATA/train/**/*.png|jpg   (any layout, searched recursively)

Example:
    >>> from neurcomp import data
    >>> name, x = data.kodak()[0]            # doctest: +SKIP
    >>> name, tuple(x.shape)                 # doctest: +SKIP
    ('kodim01', (3, 512, 768))
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .fileio import atomic_write, sha256_file

__all__ = [
    "DataError",
    "data_dir",
    "load_image",
    "to_uint8",
    "save_png",
    "KODAK_SHA256",
    "KODAK_URL",
    "kodak_paths",
    "kodak",
    "IMAGE_EXTENSIONS",
    "list_images",
    "CropDataset",
    "training_paths",
    "pad_to_multiple",
    "unpad",
]


class DataError(RuntimeError):
    """A data file or folder is missing, unreadable, or not what was expected."""


# ----------------------------------------------------------------------------- folders


def data_dir() -> Path:
    """The data folder: ``$NEURCOMP_DATA`` if set, else ``~/.cache/neurcomp``.

    The folder is not created here; loaders create it when they download.

    Example:
        >>> data_dir()                   # with NEURCOMP_DATA=/data   # doctest: +SKIP
        PosixPath('/data')
    """
    env = os.environ.get("NEURCOMP_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "neurcomp"


_DATA_HINT = "set NEURCOMP_DATA to the data folder"


# ----------------------------------------------------------------------------- image I/O


def _sixteen_bit_to_8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit values (0..65535) to 8 bits by rounding ``v * 255 / 65535``."""
    arr = np.clip(arr.astype(np.float64), 0, 65535)
    return np.rint(arr * 255.0 / 65535.0).astype(np.uint8)


def _to_rgb8(img: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB following the rule in :func:`load_image`."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale (Pillow stores it as "I;16*" or as 32-bit "I").
        gray = _sixteen_bit_to_8(np.asarray(img))
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    if mode == "F":
        # 32-bit float greyscale: Pillow clips to 0..255 and rounds.
        img = img.convert("L")
        mode = "L"
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA", "P") or "transparency" in img.info
    if has_alpha:  # palette images always go through RGBA
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as a float32 tensor ``[3, H, W]`` with values in ``[0, 1]``.

    Conversion rule (every image goes through 8-bit RGB, so every value is
    exactly ``k / 255`` for an integer ``k``):

    * greyscale (``1``, ``L``, ``I;16``, ``I``, ``F``) is replicated to R, G and B;
    * 16-bit greyscale is reduced to 8 bits by rounding ``v * 255 / 65535``
      (16-bit *RGB* files are reduced to 8 bits by Pillow itself when it opens them);
    * images with an alpha channel (``RGBA``, ``LA``, palette or RGB with a
      transparency entry) are composited over a white background;
    * palette images (``P``) are converted through RGBA;
    * other modes (``CMYK``, ``YCbCr``, ...) use Pillow's ``convert("RGB")``;
    * the EXIF orientation tag, if any, is applied; a multi-frame file gives its first frame.

    Raises :class:`DataError` naming the file if it is missing or is not an image.

    Example:
        >>> import tempfile
        >>> path = save_png(torch.rand(3, 16, 24), tempfile.mkdtemp() + "/noise.png")
        >>> x = load_image(path)
        >>> x.shape, x.dtype
        (torch.Size([3, 16, 24]), torch.float32)
    """
    arr = _read_rgb8(Path(path))
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def _read_rgb8(path: Path) -> np.ndarray:
    """Read ``path`` as a uint8 array ``[H, W, 3]`` following the :func:`load_image` rule."""
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb8(img)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file (Pillow cannot identify it)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"{path}: cannot read image ({msg})") from None
    return np.array(rgb, dtype=np.uint8)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Convert an image tensor in ``[0, 1]`` to a uint8 array ``[H, W, 3]``.

    Accepts ``[3, H, W]`` or ``[1, 3, H, W]``; values are clamped to ``[0, 1]``,
    multiplied by 255 and rounded (half to even); NaN becomes 0.

    Example:
        >>> to_uint8(torch.full((3, 2, 2), 0.5))[0, 0]
        array([128, 128, 128], dtype=uint8)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"to_uint8 expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_uint8 takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"expected an image tensor [3, H, W], got shape {tuple(x.shape)}")
    x = torch.nan_to_num(x.detach().float().cpu(), nan=0.0)
    q = x.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return q.permute(1, 2, 0).contiguous().numpy()


def save_png(x: torch.Tensor | np.ndarray, path: str | os.PathLike) -> Path:
    """Save an image as an 8-bit RGB PNG, atomically (temp file + ``os.replace``).

    ``x`` is a tensor ``[3, H, W]`` or ``[1, 3, H, W]`` in ``[0, 1]`` (converted with
    :func:`to_uint8`) or a uint8 array ``[H, W, 3]``. Returns the path.

    Example:
        >>> import tempfile
        >>> save_png(torch.rand(3, 16, 16), tempfile.mkdtemp() + "/noise.png").name
        'noise.png'
    """
    if isinstance(x, torch.Tensor):
        arr = to_uint8(x)
    else:
        arr = np.asarray(x)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(
                f"save_png expects a tensor or a uint8 array [H, W, 3], got {arr.dtype} {arr.shape}"
            )
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), "RGB").save(buf, format="PNG")
    return atomic_write(path, buf.getvalue())


# ----------------------------------------------------------------------------- Kodak

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}"

#: sha256 of the 24 Kodak PNGs (768x512 or 512x768, 8-bit RGB).
KODAK_SHA256: dict[str, str] = {
    "kodim01.png": "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f",
    "kodim02.png": "1788370471429d992750a09caf6702ac74e56962447de02520d4b161738c0369",
    "kodim03.png": "b9c800ee568f0b18c983817df08d9f7f24a7ddb3abfdc31bde9234c4fde83137",
    "kodim04.png": "0c60c62599ad33fd78b29c36013fbe4120946f6c327c0ef0ec6983297fb48d23",
    "kodim05.png": "ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e",
    "kodim06.png": "f4212cc927d1d579c712843cf8320c7eccb571e5ea80456022ffe99d67e9cd5d",
    "kodim07.png": "7cdd6d63ae0a245f6f9d983d740e11c6808c2efc24f8351aad9b5f676c27b55a",
    "kodim08.png": "5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb",
    "kodim09.png": "4d8d801592aeaf446978bbd1c83b76c498242d0f684769311a4e7248289500bf",
    "kodim10.png": "7aca487dc83db732a5690b7affe8558e9dadf5bb44a4589ba2b607480a07228b",
    "kodim11.png": "c7c02bd6e942d1181518e3ce2d97cf0451e4494a5e9d6ddee276940e4875d746",
    "kodim12.png": "df571f5e66d1aefd764ea77855e81e3be61528c34962a0fd1d50557502162c1e",
    "kodim13.png": "797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d",
    "kodim14.png": "08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846",
    "kodim15.png": "416c475f39b0eb9203ce7f77d2af8824f5bffc1a86a4605865017f04c41639b9",
    "kodim16.png": "5d03303693decdf7a1e1e930b5ca6684283aa80a9e7d8d6a842a74fa5f790640",
    "kodim17.png": "19d90e98e5835efae20a6e17e22e5ac6814ee2c8efb32d188ea4359abaf9f5bd",
    "kodim18.png": "83df267dfec61e9b9d3756c422502160b2fab595650c73a8b12940540ad09ec5",
    "kodim19.png": "86560efe85a13413b228ef7e42dde0d439b25a94fb8e2d6fb1dc1631cf48853b",
    "kodim20.png": "1ae187d92b3a4483b6717f7fd08592846ffdfc340c6424f6756627a27f3d8ea7",
    "kodim21.png": "26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b",
    "kodim22.png": "627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939",
    "kodim23.png": "85c67d7ea758cb0604fb6980ab0c65091a2eefa7b3b50cbb1bc702a60206dfe5",
    "kodim24.png": "9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe",
}


def _download(url: str, timeout: float = 30.0) -> bytes:
    """Fetch ``url`` and return its bytes (tests replace this function)."""
    req = urllib.request.Request(url, headers={"User-Agent": "neurcomp"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


class DownloadError(OSError):
    """A download that failed (offline, HTTP error, timeout); nothing was saved."""


class ChecksumMismatch(DownloadError):
    """A download whose SHA-256 is not the expected one; nothing was saved."""


def fetch_verified(url: str, path: Path, sha256_prefix: str, timeout: float = 30.0) -> Path:
    """Download ``url`` into ``path``: checked against ``sha256_prefix`` (a whole SHA-256 or its first
    characters) *before* anything is written, then written atomically. The package's one download
    (Kodak, CompressAI's published weights); raises :class:`DownloadError` (offline, HTTP error,
    timeout), :class:`ChecksumMismatch` and OSError when ``path`` cannot be written. (``torch.hub``'s downloader
    has no timeout, and ``pooch`` is not a dependency.)"""
    try:
        blob = _download(url, timeout=timeout)
    except Exception as err:  # offline, DNS, HTTP error, timeout ...
        raise DownloadError(" ".join(str(err).split()) or type(err).__name__) from None
    digest = hashlib.sha256(blob).hexdigest()
    if not digest.startswith(sha256_prefix):
        raise ChecksumMismatch(f"downloaded {url} has sha256 {digest[:12]}..., expected {sha256_prefix[:12]}...; not saved")
    return atomic_write(path, blob)


def _kodak_folder(root: str | os.PathLike | None) -> Path:
    base = data_dir() if root is None else Path(root).expanduser()
    # accept both the data folder (with kodak/ inside) and the kodak folder itself
    if (base / "kodim01.png").is_file() and not (base / "kodak" / "kodim01.png").is_file():
        return base
    return base / "kodak"


def kodak_paths(root: str | os.PathLike | None = None, verify: bool = False) -> list[Path]:
    """Paths of the 24 Kodak images ``kodim01.png .. kodim24.png``, sorted.

    Looks in ``root/kodak`` (or ``root`` itself if it holds the files); ``root``
    defaults to :func:`data_dir`. Missing files are downloaded from
    ``https://r0k.us/graphics/kodak/kodak/`` into that folder and checked against
    :data:`KODAK_SHA256` before anything is written: a download with the wrong
    checksum is thrown away and raises :class:`DataError`. Files already there are trusted unless
    ``verify=True``, which hashes them too (about 15 MB).

    Raises :class:`DataError` with a one-line hint about ``NEURCOMP_DATA`` when the
    images are missing and cannot be downloaded (offline).

    Example:
        >>> paths = kodak_paths()                 # doctest: +SKIP
        >>> len(paths), paths[0].name             # doctest: +SKIP
        (24, 'kodim01.png')
    """
    folder = _kodak_folder(root)
    names = sorted(KODAK_SHA256)
    for name in names:
        path = folder / name
        if path.is_file():
            if verify and sha256_file(path) != KODAK_SHA256[name]:
                raise DataError(f"{path}: sha256 does not match the Kodak original; delete it to re-download")
            continue
        url = KODAK_URL.format(name=name)
        try:
            fetch_verified(url, path, KODAK_SHA256[name])
        except ChecksumMismatch as err:
            raise DataError(f"{err}. Set NEURCOMP_DATA to a folder containing kodak/kodim01.png ... "
                                "kodim24.png") from None
        except DownloadError as err:
            raise DataError(
                f"Kodak images not found in {folder} and could not be downloaded ({err}); "
                "set NEURCOMP_DATA to a folder containing kodak/kodim01.png ... kodak/kodim24.png"
            ) from None
        except OSError as err:
            raise DataError(
                f"cannot write {path} ({err.strerror or err}); {_DATA_HINT} (a writable folder)"
            ) from None
    return [folder / n for n in names]


def kodak(root: str | os.PathLike | None = None) -> list[tuple[str, torch.Tensor]]:
    """The 24 Kodak images as ``(name, tensor)`` pairs, e.g. ``("kodim01", x)`` with
    ``x`` a float tensor ``[3, 512, 768]`` (or ``[3, 768, 512]``) in ``[0, 1]``.

    Example:
        >>> images = kodak()                      # doctest: +SKIP
        >>> images[3][0], tuple(images[3][1].shape)  # doctest: +SKIP
        ('kodim04', (3, 768, 512))
    """
    return [(p.stem, load_image(p)) for p in kodak_paths(root)]


# ----------------------------------------------------------------------------- folders of images

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder_or_files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """List image files.

    ``folder_or_files`` is a folder (searched recursively for files ending in
    png, jpg, jpeg, bmp, tif, tiff, webp or ppm, any case; hidden files skipped;
    result sorted), a single image file, or an iterable of files and folders
    (kept in the given order, folders expanded in place).

    Raises :class:`DataError` if a path does not exist or no image is found.

    Example:
        >>> list_images("/data/kodak")[:2]        # doctest: +SKIP
        [PosixPath('/data/kodak/kodim01.png'), PosixPath('/data/kodak/kodim02.png')]
    """
    if isinstance(folder_or_files, (str, os.PathLike)):
        items = [Path(folder_or_files)]
        where = str(folder_or_files)
    else:
        items = [Path(p) for p in folder_or_files]
        where = f"the {len(items)} given paths"
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out.extend(sorted(p for p in item.rglob("*") if p.is_file() and _is_image_name(p)))
        elif item.is_file():
            out.append(item)
        else:
            raise DataError(f"no such file or folder: {item}")
    if not out:
        exts = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise DataError(f"no images found in {where} (looked for {exts})")
    return out


#: photos of the training folder that no training run sees, the evaluation set beside Kodak (so that no
#: number is tuned to Kodak): BSDS500's own test split (200 photos of 481 x 321) and every fifth of the
#: Wikipedia photos (9 of 49, several megapixels each). Paths relative to ``train/``; a folder ends in "/".
#: (Networks trained before this split, shipped up to 2026-12, saw these photos.)
HELD_OUT = ("bsds500/test/", *(f"wikipedia_photos/{k:03d}.png" for k in range(5, 50, 5)))


def _held_out(path: Path, folder: Path) -> bool:
    rel = path.relative_to(folder).as_posix()
    return any(rel.startswith(h) if h.endswith("/") else rel == h for h in HELD_OUT)


def training_paths(root: str | os.PathLike | None = None, held_out: bool = False) -> list[Path]:
    """The training images under ``root/train`` (recursively), without the :data:`HELD_OUT` photos
    (``held_out=True``: only those, for evaluation); ``root`` defaults to :func:`data_dir`.

    Raises :class:`DataError` with a hint about ``NEURCOMP_DATA`` when there are none.

    Example:
        >>> len(training_paths("/work/shared/data")), len(training_paths("/work/shared/data", held_out=True))  # doctest: +SKIP
        (340, 209)
    """
    base = data_dir() if root is None else Path(root).expanduser()
    folder = base / "train"
    try:
        paths = list_images(folder)
    except DataError:
        raise DataError(
            f"no training images found under {folder}; "
            "set NEURCOMP_DATA to a folder with a train/ subfolder of images (searched recursively)"
        ) from None
    chosen = [p for p in paths if _held_out(p, folder) == held_out]
    if not chosen:
        raise DataError(f"no {'held-out' if held_out else 'training'} images under {folder} (HELD_OUT in "
                        "neurcomp/data.py says which are held out)")
    return chosen


# ----------------------------------------------------------------------------- dataset


class CropDataset(torch.utils.data.Dataset):
    """Random square crops from a set of images held in memory.

    All images are loaded once (with :func:`load_image`) and kept as uint8 tensors
    ``[3, H, W]``. An image smaller than ``crop`` on a side is padded at the bottom /
    right by reflection (repeated reflection if it is much smaller) until it fits;
    no image is skipped.

    ``dataset[i]`` is a random ``[3, crop, crop]`` float crop in ``[0, 1]`` from image
    ``i % n_images``, flipped left-right with probability 1/2 (no vertical flips).
    Its randomness comes from torch's global RNG, which ``DataLoader`` seeds
    differently in every worker. ``len(dataset)`` is ``length`` (default: the number
    of images). :meth:`sample_batch` draws a whole batch without a ``DataLoader``.

    Args:
        paths: image files (anything :func:`list_images` accepts).
        crop: side of the square crop in pixels.
        length: value of ``len(dataset)``; default the number of images.
        seed: seeds the private generator :meth:`sample_batch` uses by default.

    Example:
        >>> ds = CropDataset(training_paths(), crop=128)       # doctest: +SKIP
        >>> ds.sample_batch(8).shape                           # doctest: +SKIP
        torch.Size([8, 3, 128, 128])
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike] | str | os.PathLike,
        crop: int = 128,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        if int(crop) < 1:
            raise ValueError(f"crop must be a positive number of pixels, got {crop}")
        self.crop = int(crop)
        self.paths = list_images(paths)
        self.images: list[torch.Tensor] = []
        padded = 0
        for p in self.paths:
            arr = _read_rgb8(p)
            h, w = arr.shape[:2]
            if h < self.crop or w < self.crop:
                pad = ((0, max(0, self.crop - h)), (0, max(0, self.crop - w)), (0, 0))
                arr = np.pad(arr, pad, mode="reflect" if min(h, w) > 1 else "edge")
                padded += 1
            self.images.append(torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous())
        if padded:
            warnings.warn(f"CropDataset: {padded} image(s) smaller than {self.crop} px were padded by reflection")
        self.length = len(self.images) if length is None else int(length)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.length

    def _crop(self, img: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        _, h, w = img.shape
        top = int(torch.randint(0, h - self.crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - self.crop + 1, (1,), generator=generator))
        patch = img[:, top : top + self.crop, left : left + self.crop]
        if bool(torch.rand((), generator=generator) < 0.5):
            patch = patch.flip(-1)
        return patch

    def __getitem__(self, i: int) -> torch.Tensor:
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for CropDataset of length {self.length}")
        img = self.images[i % len(self.images)]
        return self._crop(img, None).float().div_(255.0)

    def sample_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch ``[B, 3, crop, crop]`` of float crops in ``[0, 1]``, from images drawn
        uniformly with replacement. Uses ``generator`` or the dataset's own seeded one.

        Example:
            >>> ds.sample_batch(4, torch.Generator().manual_seed(1)).shape   # doctest: +SKIP
            torch.Size([4, 3, 128, 128])
        """
        gen = self.generator if generator is None else generator
        idx = torch.randint(0, len(self.images), (int(batch_size),), generator=gen)
        patches = [self._crop(self.images[int(k)], gen) for k in idx]
        return torch.stack(patches).float().div_(255.0)


# ----------------------------------------------------------------------------- padding


def pad_to_multiple(
    x: torch.Tensor, stride: int, mode: str = "replicate"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of ``x`` so that H and W are multiples of ``stride``.

    ``x`` is ``[B, C, H, W]`` or ``[C, H, W]``; ``mode`` is any ``torch.nn.functional.pad``
    mode ("replicate", "reflect", "constant"). Returns the padded tensor and the
    original ``(H, W)``, which :func:`unpad` uses to crop back.

    Example:
        >>> y, hw = pad_to_multiple(torch.zeros(3, 30, 50), 16)
        >>> tuple(y.shape), hw
        ((3, 32, 64), (30, 50))
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if x.dim() not in (3, 4):
        raise ValueError(f"expected [C, H, W] or [B, C, H, W], got shape {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph, pw = (-h) % stride, (-w) % stride
    if ph == 0 and pw == 0:
        return x, (h, w)
    squeeze = x.dim() == 3
    y = x.unsqueeze(0) if squeeze else x
    y = F.pad(y, (0, pw, 0, ph), mode=mode)
    return (y[0] if squeeze else y), (h, w)


def unpad(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Crop ``x`` (``[..., H', W']``) back to its top-left ``(H, W)``; undoes :func:`pad_to_multiple`.

    Example:
        >>> unpad(torch.zeros(3, 32, 64), (30, 50)).shape
        torch.Size([3, 30, 50])
    """
    h, w = hw
    return x[..., :h, :w]
