"""Build the demo dataset from scikit-learn's scanned handwritten digits (1,797 real 8x8 images, 10
classes) in both on-disk formats the pipelines read, with one held-out split (20%) shared by both.

    <out>/cifar10/cifar-10-batches-bin/data_batch_1.bin   training records, 32x32 RGB (CIFAR-10 binary)
    <out>/cifar10/cifar-10-verify-bin/test_batch.bin      held-out records
    <out>/imagenet/train/digit_<d>/digit_<d>_<index>.JPEG training images, 96x96 RGB
    <out>/imagenet/val/digit_<d>/digit_<d>_<index>.JPEG   held-out images

    python -m src.tools.make_demo_data [--output_dir data/demo] [--seed 0]

Running it again rebuilds the same files (same seed, same split); it only replaces folders it made.
"""
import argparse
import contextlib
import fcntl
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from src.inputs.files import CIFAR_EVAL_DIR, CIFAR_EVAL_FILE, CIFAR_IMAGE_SHAPE, CIFAR_TRAIN_DIR
from src.model_utils.config import PROJECT_ROOT
from src.runtime.fileio import atomic_output
from src.runtime.stops import UserError, report_user_errors

DEFAULT_OUTPUT_DIR = os.path.join(PROJECT_ROOT, "data", "demo")
HELD_OUT_FRACTION = 0.2
JPEG_SIZE = 96
JPEG_QUALITY = 95
DIGIT_MAX = 16.0
"""load_digits pixel values run from 0 (background) to 16 (ink)."""
PARTS = ("cifar10", "imagenet")
STAMP = "demo_data.json"
"""Written last into the output folder; marks the folders in PARTS as this tool's to replace."""


def digit_image(pixels, size):
    """An 8x8 digit (values 0-16) as a size x size RGB uint8 image (bilinear upscaling, grey on black)."""
    grey = Image.fromarray(np.round(pixels * (255.0 / DIGIT_MAX)).astype(np.uint8))
    return np.asarray(grey.resize((size, size), Image.BILINEAR).convert("RGB"))


def class_name(label):
    return f"digit_{label}"


def split_indices(labels, seed):
    """Stratified (train, held-out) indices into the digits, each sorted; fixed for a given seed."""
    train, held_out = train_test_split(np.arange(len(labels)), test_size=HELD_OUT_FRACTION,
                                       stratify=labels, random_state=seed)
    return np.sort(train), np.sort(held_out)


def _write_cifar_file(path, digits, labels, indices):
    size = CIFAR_IMAGE_SHAPE[2]
    records = [np.concatenate([[labels[i]], digit_image(digits[i], size).transpose(2, 0, 1).ravel()])
               for i in indices]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.asarray(records, np.uint8).tofile(path)


def _write_jpeg_folder(folder, digits, labels, indices):
    for i in indices:
        name = class_name(labels[i])
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        Image.fromarray(digit_image(digits[i], JPEG_SIZE)).save(
            os.path.join(folder, name, f"{name}_{i:04d}.JPEG"), quality=JPEG_QUALITY)


def _build(folder, seed):
    digits = load_digits()
    images, labels = digits.images, digits.target
    train, held_out = split_indices(labels, seed)
    cifar = os.path.join(folder, "cifar10")
    _write_cifar_file(os.path.join(cifar, CIFAR_TRAIN_DIR, "data_batch_1.bin"), images, labels, train)
    _write_cifar_file(os.path.join(cifar, CIFAR_EVAL_DIR, CIFAR_EVAL_FILE), images, labels, held_out)
    with open(os.path.join(cifar, CIFAR_TRAIN_DIR, "batches.meta.txt"), "w", encoding="utf-8") as stream:
        stream.write("".join(f"{class_name(label)}\n" for label in range(10)))
    _write_jpeg_folder(os.path.join(folder, "imagenet", "train"), images, labels, train)
    _write_jpeg_folder(os.path.join(folder, "imagenet", "val"), images, labels, held_out)
    return {"source": "sklearn.datasets.load_digits", "seed": seed, "held_out_fraction": HELD_OUT_FRACTION,
            "train": len(train), "val": len(held_out), "classes": [class_name(label) for label in range(10)],
            "jpeg_size": JPEG_SIZE}


def make_demo_data(output_dir=DEFAULT_OUTPUT_DIR, seed=0):
    """Write the demo dataset into `output_dir` (see the module docstring); return `output_dir`.

    The files are built in a temporary folder inside `output_dir`, then replace any previous demo data.
    Raises UserError if `output_dir` already holds a cifar10/ or imagenet/ folder this tool did not make.
    """
    output_dir = str(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError(f"output folder '{output_dir}' is a file: choose a folder with --output_dir.")
    ours = os.path.isfile(os.path.join(output_dir, STAMP))
    for part in PARTS:
        if os.path.exists(os.path.join(output_dir, part)) and not ours:
            raise UserError(f"'{os.path.join(output_dir, part)}' exists and was not made by make_demo_data: "
                            f"choose another --output_dir or remove it.")
    os.makedirs(output_dir, exist_ok=True)
    with _only_writer(output_dir):
        staging = tempfile.mkdtemp(prefix=".demo_data.", dir=output_dir)
        try:
            summary = _build(staging, seed)
            for part in PARTS:
                shutil.rmtree(os.path.join(output_dir, part), ignore_errors=True)
                os.replace(os.path.join(staging, part), os.path.join(output_dir, part))
            with atomic_output(os.path.join(output_dir, STAMP)) as tmp, open(tmp, "w", encoding="utf-8") as stream:
                json.dump(summary, stream, indent=1)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return output_dir


@contextlib.contextmanager
def _only_writer(folder):
    """Hold an exclusive lock on `folder` itself, so that two runs started at once (two quickstarts in one
    checkout) replace the dataset one after the other instead of into each other."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR,
                        help="folder that receives cifar10/ and imagenet/ (default: data/demo in the project)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    args = parser.parse_args(argv)
    out = make_demo_data(args.output_dir, args.seed)
    with open(os.path.join(out, STAMP), encoding="utf-8") as stream:
        summary = json.load(stream)
    print(f"demo data in {out}: {summary['train']} training and {summary['val']} held-out digit images "
          f"(CIFAR-10 binary in {os.path.join(out, 'cifar10')}, JPEG folders in {os.path.join(out, 'imagenet')})")


if __name__ == "__main__":
    main()
