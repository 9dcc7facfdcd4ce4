"""The structural image check: accepts every valid encoding, rejects truncated and damaged files."""
import io

import numpy as np
import pytest
from PIL import Image

from src.inputs.files import image_data_problem

RNG = np.random.default_rng(0)
PIXELS = np.asarray(Image.fromarray(RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((200, 150)))


def encode(fmt="JPEG", mode="RGB", **options):
    stream = io.BytesIO()
    Image.fromarray(PIXELS).convert(mode).save(stream, fmt, **options)
    return stream.getvalue()


def exif_bytes():
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    return exif.tobytes()


VALID = {
    "baseline": lambda: encode(),
    "progressive": lambda: encode(progressive=True),
    "optimized tables": lambda: encode(optimize=True),
    "4:4:4": lambda: encode(subsampling=0),
    "greyscale": lambda: encode(mode="L"),
    "CMYK": lambda: encode(mode="CMYK"),
    "EXIF": lambda: encode(exif=exif_bytes(), progressive=True),
    "stray bytes before a marker": lambda: encode().replace(b"\xff\xdb", b"\x00\x00\xff\xdb", 1),
    "data after the end marker": lambda: encode() + b"camera trailer",
    "PNG": lambda: encode("PNG"),
    "RGBA PNG": lambda: encode("PNG", "RGBA"),
    "BMP": lambda: encode("BMP"),
    "TIFF": lambda: encode("TIFF"),
}


@pytest.mark.parametrize("kind", VALID)
def test_valid_images_pass(kind):
    assert image_data_problem(VALID[kind]()) is None


@pytest.mark.parametrize("kind", ["baseline", "progressive", "EXIF"])
def test_every_truncation_of_a_jpeg_is_caught(kind):
    data = VALID[kind]()
    missed = [length for length in range(1, len(data) - 1) if image_data_problem(data[:length]) is None]
    assert not missed


def _segment(data, marker):
    """Offset of the first segment with `marker` (its body starts 4 bytes later)."""
    return data.index(bytes([0xFF, marker]))


def _set(data, offset, value):
    damaged = bytearray(data)
    damaged[offset] = value
    return bytes(damaged)


def _oversubscribed_huffman(data):
    """Pillow's DC table has one 2-bit and five 3-bit codes; two and four leave no free all-ones code."""
    counts = _segment(data, 0xC4) + 4 + 1  # after the class/id byte: counts of 1-bit, 2-bit, ... codes
    assert data[counts + 1:counts + 3] == b"\x01\x05"
    return _set(_set(data, counts + 1, 2), counts + 2, 4)


DAMAGED = {  # (damage, message) on a JPEG written by Pillow (quantization tables 0 and 1)
    "undefined quantization table": (lambda d: _set(d, _segment(d, 0xC0) + 4 + 8, 3),
                                     "corrupt JPEG: quantization table 3 is not defined"),
    "quantization selector out of range": (lambda d: _set(d, _segment(d, 0xC0) + 4 + 8, 9),
                                           "corrupt JPEG: bad frame header"),
    "zero width": (lambda d: _set(_set(d, _segment(d, 0xC0) + 4 + 3, 0), _segment(d, 0xC0) + 4 + 4, 0),
                   "corrupt JPEG: bad frame header"),
    "progressive DC scan with AC coefficients": (
        lambda d: _set(d, _segment(d, 0xDA) + 4 + 1 + 2 * 3 + 1, 5),
        "corrupt JPEG: bad progressive scan parameters"),
    "12-bit samples": (lambda d: _set(d, _segment(d, 0xC0) + 4, 12), "corrupt JPEG: unsupported 12-bit JPEG"),
    "oversubscribed Huffman table": (_oversubscribed_huffman, "corrupt JPEG: bad Huffman table"),
    "DC symbol above 15": (lambda d: _set(d, _segment(d, 0xC4) + 4 + 17, 200), "corrupt JPEG: bad Huffman table"),
    "scan of an unknown component": (lambda d: _set(d, _segment(d, 0xDA) + 5, 77), "corrupt JPEG: bad scan header"),
    "reserved marker": (lambda d: _set(d, _segment(d, 0xC0) + 1, 0xA7), "corrupt JPEG: unexpected marker 0xA7"),
    "headers cut short": (lambda d: d[:_segment(d, 0xC4) + 10] + b"\xff\xd9", "truncated JPEG: it ends inside"),
    "no image data": (lambda d: d[:_segment(d, 0xC0)] + b"\xff\xd9", "corrupt JPEG: it ends before any image data"),
}


def _without_huffman_tables(data):
    """The JPEG without the Huffman table segments before its first scan (as in Motion-JPEG frames)."""
    first_scan, pos, kept = data.index(b"\xff\xda"), 2, bytearray(data[:2])
    while pos < first_scan:
        length = 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        kept += data[pos:pos + length] if data[pos + 1] != 0xC4 else b""
        pos += length
    return bytes(kept + data[first_scan:])


def test_missing_huffman_tables_are_an_error_only_in_progressive_jpegs():
    """libjpeg decodes a baseline JPEG without them with the standard tables; MindSpore's decoder
    crashes on a progressive one."""
    assert image_data_problem(_without_huffman_tables(VALID["baseline"]())) is None
    problem = image_data_problem(_without_huffman_tables(VALID["progressive"]()))
    assert problem == "corrupt JPEG: DC Huffman table 0 is not defined"


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_jpeg_headers_are_named(kind):
    damage, message = DAMAGED[kind]
    good = VALID["progressive" if kind.startswith("progressive") else "baseline"]()
    assert image_data_problem(damage(good)).startswith(message)


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"<html>not found</html>", "not a JPEG, PNG, BMP or TIFF image (starts with b'<html>no')"),
    (b"GIF89a" + bytes(20), "a GIF image, a format MindSpore's decoder cannot read (it reads JPEG, PNG, BMP or TIFF)"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20), "a WebP image, a format MindSpore's decoder cannot read"),
    (b"\x00\x00\x00\x18ftypheic" + bytes(20), "a HEIF/HEIC image, a format MindSpore's decoder cannot read"),
    (b"\x00\x00\x00\x1cftypavif" + bytes(20), "an AVIF image, a format MindSpore's decoder cannot read"),
])
def test_empty_and_non_image_files_are_named(data, message):
    assert image_data_problem(data).startswith(message)


def test_truncated_png_and_bmp_are_caught():
    png, bmp = VALID["PNG"](), VALID["BMP"]()
    assert image_data_problem(png[:len(png) // 2]) == "truncated PNG: no IEND chunk"
    assert image_data_problem(bmp[:1000]) == f"truncated BMP: 1000 of {len(bmp)} bytes"
