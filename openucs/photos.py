"""User photos: decoding uploads and scaling them to the sizes clients ask for (Pillow).

An upload is accepted only when Pillow decodes it as a JPEG or PNG image. It is stored
normalised — turned upright by its EXIF orientation, flattened onto white, at most 648 x 648
pixels (Exchange's largest stored photo), as a JPEG — so every later answer starts from a small,
known image. Its entity tag is a digest of those bytes: the same photo set twice has the same
tag, a new one a new tag, which is what keeps cached and conditional answers right.
"""

import hashlib
import io
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageOps

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 50_000_000  # decompression bombs: refuse before decoding
STORED_SIZE = 648
JPEG_QUALITY = 90

ACCEPTED_FORMATS = ("JPEG", "PNG")

_SIZE = re.compile(r"HR(\d+)x(\d+|N)")
SIZES: tuple[str, ...] = (
    "HR48x48",
    "HR64x64",
    "HR96x96",
    "HR120x120",
    "HR240x240",
    "HR360x360",
    "HR432x432",
    "HR504x504",
    "HR648x648",
    "HR1024xN",
    "HR1920xN",
)
CONTENT_TYPE = "image/jpeg"


class PhotoRejected(ValueError):
    """Not a photo openucs accepts; the message says why, for the administrator."""


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    data: bytes  # JPEG, at most STORED_SIZE on each side
    etag: str


def etag_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def normalise(upload: bytes) -> StoredPhoto:
    """An uploaded JPEG or PNG → the stored photo; PhotoRejected for anything else."""
    if len(upload) > MAX_UPLOAD_BYTES:
        raise PhotoRejected(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(upload), formats=ACCEPTED_FORMATS)
            if image.width * image.height > MAX_UPLOAD_PIXELS:
                raise PhotoRejected(f"the image has more than {MAX_UPLOAD_PIXELS} pixels")
            image.load()
    except PhotoRejected:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow names anything it cannot identify as one of the formats an OSError.
        raise PhotoRejected("not a JPEG or PNG image (only those two formats are accepted)") from None
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail((STORED_SIZE, STORED_SIZE), Image.Resampling.LANCZOS)
    data = _jpeg(_flatten(upright))
    return StoredPhoto(data, etag_of(data))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no transparency, and palette or grey images become colour."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def scale(stored: bytes, size: str) -> bytes:
    """The stored photo at a requested size: HRnxn is a centred square crop of n x n (never
    enlarged: a smaller photo is sent as it is, squared); HRnxN is at most n wide."""
    match = _SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"unknown photo size {size!r}")
    width = int(match.group(1))
    with Image.open(io.BytesIO(stored), formats=("JPEG",)) as image:
        image.load()
        if match.group(2) == "N":
            if image.width <= width:
                return stored
            scaled = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
            return _jpeg(scaled)
        side = min(width, image.width, image.height)
        squared = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
        return _jpeg(squared)


class ScaledPhotos:
    """Scaled photos kept in memory, least recently used out first, bounded in bytes. Keys are
    (photo entity tag, size): a changed photo has a new tag, so nothing here is ever stale and
    every process may keep its own."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, etag: str, size: str) -> bytes | None:
        with self._lock:
            data = self._entries.get((etag, size))
            if data is not None:
                self._entries.move_to_end((etag, size))
            return data

    def put(self, etag: str, size: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 8:
            return
        with self._lock:
            old = self._entries.pop((etag, size), None)
            if old is not None:
                self._size -= len(old)
            self._entries[(etag, size)] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)
