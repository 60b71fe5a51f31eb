"""PNG files from RGB arrays, with the standard library (``zlib``) and numpy alone."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def encode_png(image: np.ndarray) -> bytes:
    """An ``H x W x 3`` ``uint8`` array as the bytes of an 8-bit RGB PNG file."""
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    ):
        raise ValueError(f"need an H x W x 3 uint8 array, got {getattr(image, 'shape', image)!r}")
    height, width = image.shape[:2]
    rows = np.concatenate(  # each scanline starts with filter type 0 (none)
        [np.zeros((height, 1), dtype=np.uint8), image.reshape(height, width * 3)], axis=1
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def png_data_uri(image: np.ndarray) -> str:
    """``image`` as a ``data:image/png;base64,...`` URI (for a self-contained HTML page)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


__all__ = ["encode_png", "png_data_uri"]
