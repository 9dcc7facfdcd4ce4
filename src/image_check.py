"""Cheap structural checks of image file bytes, run on every file as the pipeline reads it.

MindSpore 2.10's JPEG decoder needs them: it silently fills a truncated JPEG with grey, and it crashes the
whole process (SIGSEGV/SIGFPE, no file named) on a JPEG whose headers are cut short or damaged (about 1 in
10 single-byte header corruptions: benchmarks/fuzz_jpeg_decoder.py). The checks parse the headers as
libjpeg does (for progressive JPEGs, those of every scan) and reject what libjpeg would reject later;
damage inside the compressed image data is not detected.
"""

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x00, 0x01, *range(0xD0, 0xD8)})
"""Markers without a length (0x00 after 0xFF is stuffing, which libjpeg skips like stray bytes)."""
_PROGRESSIVE_SOF_MARKERS = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_DQT, _DHT, _SOS, _SOI, _EOI = 0xDB, 0xC4, 0xDA, 0xD8, 0xD9


def _u16(data, pos):
    return int.from_bytes(data[pos:pos + 2], "big")


def _dqt_problem(body, quant_tables):
    pos = 0
    while pos < len(body):
        precision, table = body[pos] >> 4, body[pos] & 15
        size = 64 * (precision + 1)
        if precision > 1 or table > 3 or pos + 1 + size > len(body):
            return "bad quantization table"
        quant_tables.add(table)
        pos += 1 + size
    return None


def _huffman_problem(counts, symbols, is_dc):
    """libjpeg's table checks: DC symbols up to 15, and the code lengths must leave the all-ones code free."""
    if is_dc and any(symbol > 15 for symbol in symbols):
        return "bad Huffman table"
    lengths = [length for length, count in enumerate(counts, 1) if count]
    code = 0
    for length in range(lengths[0], lengths[-1] + 1) if lengths else ():
        code += counts[length - 1]
        if code >= 1 << length:
            return "bad Huffman table"
        code <<= 1
    return None


def _dht_problem(body, huffman_tables):
    pos = 0
    while pos < len(body):
        table_class, table = body[pos] >> 4, body[pos] & 15
        counts = body[pos + 1:pos + 17]
        total = sum(counts)
        if table_class > 1 or table > 3 or len(counts) < 16 or total > 256 or pos + 17 + total > len(body):
            return "bad Huffman table"
        problem = _huffman_problem(counts, body[pos + 17:pos + 17 + total], table_class == 0)
        if problem:
            return problem
        huffman_tables.add((table_class, table))
        pos += 17 + total
    return None


def _frame(body):
    """(problem, {component id: quantization table}) of a start-of-frame segment."""
    if len(body) < 6:
        return "bad frame header", None
    precision, height, width, count = body[0], _u16(body, 1), _u16(body, 3), body[5]
    if precision != 8:
        return f"unsupported {precision}-bit JPEG", None
    if not height or not width or not 1 <= count <= 4 or len(body) != 6 + 3 * count:
        return "bad frame header", None
    components = {}
    for pos in range(6, len(body), 3):
        sampling, table = body[pos + 1], body[pos + 2]
        if not (1 <= sampling >> 4 <= 4 and 1 <= sampling & 15 <= 4) or table > 3:
            return "bad frame header", None
        components[body[pos]] = table
    return None, components


def _progression_problem(first, last, high, low, count):
    """libjpeg's checks of a progressive scan: a DC scan covers coefficient 0 only, an AC scan one band of
    one component; a refinement scan refines by one bit."""
    bad_band = last != 0 if first == 0 else first > last or last > 63 or count != 1
    return bad_band or (high and low != high - 1) or low > 13


def _scan_problem(body, state):
    components = state["components"]
    if components is None:
        return "image data before its frame header"
    count = body[0] if body else 0
    if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
        return "bad scan header"
    first_spectral, last_spectral = body[1 + 2 * count], body[2 + 2 * count]
    approximation_high, approximation_low = body[3 + 2 * count] >> 4, body[3 + 2 * count] & 15
    if state["progressive"] and _progression_problem(first_spectral, last_spectral, approximation_high,
                                                     approximation_low, count):
        return "bad progressive scan parameters"
    for pos in range(1, 1 + 2 * count, 2):
        dc_table, ac_table = body[pos + 1] >> 4, body[pos + 1] & 15
        if body[pos] not in components or dc_table > 3 or ac_table > 3:
            return "bad scan header"
        # Baseline decoding falls back on the standard Huffman tables; progressive decoding does not.
        needed = (0, dc_table) if first_spectral == 0 else (1, ac_table)
        if state["progressive"] and (first_spectral or not approximation_high) and \
                needed not in state["huffman_tables"]:
            return f"{('DC', 'AC')[needed[0]]} Huffman table {needed[1]} is not defined"
    missing = sorted(set(components.values()) - state["quant_tables"])
    return f"quantization table {missing[0]} is not defined" if missing else None


def _segment_problem(marker, body, state):
    if marker in _SOF_MARKERS:
        problem, state["components"] = _frame(body)
        state["progressive"] = marker in _PROGRESSIVE_SOF_MARKERS
        return problem
    if marker == _DQT:
        return _dqt_problem(body, state["quant_tables"])
    if marker == _DHT:
        return _dht_problem(body, state["huffman_tables"])
    if marker == _SOS:
        return _scan_problem(body, state)
    if marker == _SOI or 0x02 <= marker <= 0xBF or marker == 0xC8:
        return f"unexpected marker 0x{marker:02X} in its headers"
    return None


def _end_of_scan(data, pos):
    """Offset of the marker that ends the compressed data starting at `pos`, or -1 if the data ends first."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return -1
        following = data[pos + 1]
        if following != 0xFF and following != 0x00 and not 0xD0 <= following <= 0xD7:
            return pos
        pos += 1 if following == 0xFF else 2  # fill byte, stuffed 0xFF or restart marker


def jpeg_problem(data):
    """Why JPEG bytes (starting with the SOI marker) are unusable, or None: headers as libjpeg checks
    them, and an end-of-image marker after the image data (a truncated file has none)."""
    pos, scans = 2, 0
    state = {"components": None, "progressive": False, "quant_tables": set(), "huffman_tables": set()}
    while True:
        pos = data.find(b"\xff", pos)  # like libjpeg, skip stray bytes before a marker
        while 0 <= pos and data[pos:pos + 2] == b"\xff\xff":
            pos += 1  # fill bytes
        if pos < 0 or pos + 2 > len(data):
            return ("truncated JPEG: no end-of-image marker after its image data" if scans else
                    "truncated JPEG: it ends inside its headers")
        marker = data[pos + 1]
        if marker == _EOI:
            return None if scans else "corrupt JPEG: it ends before any image data"
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        length = _u16(data, pos + 2)
        body = data[pos + 4:pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            return "truncated JPEG: it ends inside its headers"
        problem = _segment_problem(marker, body, state)
        if problem:
            return f"corrupt JPEG: {problem}"
        pos += 2 + length
        if marker == _SOS:
            scans += 1
            if not state["progressive"]:  # one scan: the end-of-image marker must follow it
                return None if data.rfind(b"\xff\xd9", pos) >= 0 else \
                    "truncated JPEG: no end-of-image marker after its image data"
            pos = _end_of_scan(data, pos)
            if pos < 0:
                return "truncated JPEG: no end-of-image marker after its image data"


DECODED_FORMATS = "JPEG, PNG, BMP or TIFF"
"""The image formats MindSpore's Decode reads."""

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


def undecodable_format(data):
    """The name of the image format of `data` when it is one MindSpore's Decode cannot read (GIF, WebP, HEIF/HEIC,
    AVIF), else None."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF/HEIC"
    return None


def image_data_problem(data):
    """Why the bytes of an image file cannot be used (empty, not an image, an image format the decoder cannot
    read, truncated, corrupt headers), or None."""
    if not data:
        return "the file is empty"
    if data[:3] == b"\xff\xd8\xff":
        return jpeg_problem(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return None if data.rfind(b"IEND") > 8 else "truncated PNG: no IEND chunk"
    if data[:2] == b"BM":
        declared = int.from_bytes(data[2:6], "little")
        return None if len(data) >= declared else f"truncated BMP: {len(data)} of {declared} bytes"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return None
    undecodable = undecodable_format(data)
    if undecodable:
        article = "an" if undecodable[0] in "AEIOU" else "a"
        return (f"{article} {undecodable} image, a format MindSpore's decoder cannot read (it reads "
                f"{DECODED_FORMATS}): convert it, e.g. to PNG or JPEG")
    return f"not a {DECODED_FORMATS} image (starts with {data[:8]!r})"
