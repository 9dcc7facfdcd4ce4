"""How MindSpore's JPEG decoder copes with damaged headers, and what the pipeline's structural check catches.

    python benchmarks/fuzz_jpeg_decoder.py [--variants 60] [--seed 0]

For several encodings (baseline, progressive, optimized tables, 4:4:4, grey, CMYK, EXIF) writes copies with
one random byte of the headers changed, decodes each with mindspore.dataset.vision.Decode in a child process
(restarted after a crash) and prints how many decoded, failed with an error or crashed the process, and how
many of those src.inputs.files.image_data_problem rejects. Rerun after a MindSpore upgrade.

Measured with MindSpore 2.10 (seeds 0-2): about 1 in 10 such files crashes the process; a few more decode
alone but crash it when decoded right after a file that failed with an error.
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from src.inputs.files import image_data_problem  # noqa: E402

EXIF = Image.Exif()
EXIF[0x010F] = "Camera"
ENCODINGS = {"baseline": ("RGB", {}), "progressive": ("RGB", {"progressive": True}),
             "optimized": ("RGB", {"optimize": True}), "4:4:4": ("RGB", {"subsampling": 0}),
             "grey": ("L", {}), "CMYK": ("CMYK", {}), "EXIF": ("RGB", {"exif": EXIF.tobytes()})}


def variants(count, rng):
    """`count` single-byte header corruptions of each encoding of one photo-like image."""
    pixels = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((200, 150))
    for mode, options in ENCODINGS.values():
        stream = io.BytesIO()
        pixels.convert(mode).save(stream, "JPEG", **options)
        good = stream.getvalue()
        scan = good.index(b"\xff\xda")
        for _ in range(count):
            damaged = bytearray(good)
            damaged[int(rng.integers(2, scan + 14))] = int(rng.integers(0, 256))
            yield bytes(damaged)


def decode_from(folder, start, stop):
    """Child process: decode files start .. stop - 1, printing '<index> decoded|error' as it goes."""
    import mindspore.dataset.vision as vision
    names = sorted(os.listdir(folder))
    for index in range(start, stop):
        print(index, end=" ", flush=True)
        with open(os.path.join(folder, names[index]), "rb") as stream:
            data = np.frombuffer(stream.read(), np.uint8)
        try:
            vision.Decode()(data)
            print("decoded", flush=True)
        except RuntimeError:
            print("error", flush=True)


def run_child(folder, start, stop):
    """({index: 'decoded' | 'error'}, index of the file that crashed the child or None)."""
    child = subprocess.run([sys.executable, __file__, "--child", folder, str(start), str(stop)],
                           capture_output=True, text=True, check=False)
    tokens = child.stdout.split()
    done = {int(index): result for index, result in zip(tokens[::2], tokens[1::2])}
    return done, (int(tokens[-1]) if child.returncode else None)


def outcomes(folder, total):
    """{index: result} for every file, restarting the child after each crash. A file that crashed the
    child right after a failed decode is decoded again alone: 'crash' if it crashes again, else
    'crash after an error' (the failed decode left the decoder in a bad state)."""
    results, start = {}, 0
    while start < total:
        done, crashed = run_child(folder, start, total)
        results.update(done)
        if crashed is None:
            break
        results[crashed] = "crash"
        if results.get(crashed - 1) == "error" and crashed > start:
            alone, crashed_again = run_child(folder, crashed, crashed + 1)
            results[crashed] = "crash" if crashed_again is not None else "crash after an error"
        start = crashed + 1
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=60, help="damaged copies per encoding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        decode_from(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    with tempfile.TemporaryDirectory(prefix="fuzz_jpeg.") as folder:
        files = list(variants(args.variants, np.random.default_rng(args.seed)))
        for index, data in enumerate(files):
            with open(os.path.join(folder, f"{index:06d}.jpg"), "wb") as stream:
                stream.write(data)
        results = outcomes(folder, len(files))
    counts = Counter(results.values())
    flagged = Counter(result for index, result in results.items() if image_data_problem(files[index]))
    after = "crash after an error"
    print(f"{len(files)} JPEG files with one header byte changed: MindSpore Decode decoded {counts['decoded']}, "
          f"raised an error on {counts['error']}, crashed the process on {counts['crash']}; {counts[after]} more "
          f"decode alone but crashed it right after a failed decode")
    print(f"rejected by src.inputs.files: {flagged['crash']} of {counts['crash']} crashing, "
          f"{flagged['error']} of {counts['error']} failing, {flagged[after]} of {counts[after]} crashing after "
          f"an error, {flagged['decoded']} of {counts['decoded']} decodable")


if __name__ == "__main__":
    main()
