"""Images per second of the ImageNet training pipeline (create_dataset_imagenet, do_train=True) on this machine.

    python benchmarks/bench_pipeline.py [--images 512] [--epochs 3] [--size 299] [--batch_size 32] [--work_nums 2]

Builds a temporary ImageNet-style folder of 500x375 photo-like JPEG files made from the real digits (a
tinted digit on a blurred colour background with sensor-like noise, about 100 KB each like ImageNet's
photos), runs one warm-up pass, then times full passes and prints one result line. Also prints the cost
of the per-file read-and-check step the pipeline runs on every image.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from src.runtime.context import apply_cpu_defaults  # noqa: E402
from src.inputs.files import read_image_file  # noqa: E402
from src.model_utils.config import get_config  # noqa: E402
from src.tools.make_demo_data import class_name, digit_image  # noqa: E402

PHOTO_SIZE = (500, 375)  # width, height: ImageNet's most common size
NOISE_SIGMA = 20.0
JPEG_QUALITY = 90


def photo(pixels, rng):
    """A 500x375 RGB photo-like image of one digit."""
    width, height = PHOTO_SIZE
    background = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(background).resize(PHOTO_SIZE, Image.BILINEAR), np.float32) * 0.5
    side = int(rng.integers(height // 2, height))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    digit = digit_image(pixels, side).astype(np.float32) * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    window = image[top:top + side, left:left + side]
    window[...] = np.maximum(window, digit)
    image += rng.standard_normal(image.shape, dtype=np.float32) * NOISE_SIGMA
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def make_photo_folder(folder, count, seed=0):
    """Write `count` photo-like JPEG files into <folder>/<class>/; return their mean size in bytes."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    total = 0
    for i in range(count):
        index = i % len(digits.target)
        path = os.path.join(folder, class_name(digits.target[index]), f"photo_{i:05d}.JPEG")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        photo(digits.images[index], rng).save(path, quality=JPEG_QUALITY)
        total += os.path.getsize(path)
    return total / count


def time_pipeline(folder, cfg, epochs):
    """(images per second over `epochs` timed passes after one warm-up pass, parallel workers used)."""
    from src.dataset import create_dataset_imagenet, worker_count  # after the CPU defaults are applied
    data_set = create_dataset_imagenet(cfg, folder, True)
    iterator = data_set.create_tuple_iterator(output_numpy=True, num_epochs=epochs + 1)
    for _ in iterator:
        pass
    images, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch, _ in iterator:
            images += len(batch)
    return images / (time.perf_counter() - start), worker_count(cfg.work_nums)


def time_read_check(folder):
    """Microseconds per file of the pipeline's read-and-check step."""
    files = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names]
    start = time.perf_counter()
    for path in files:
        read_image_file(path)
    return (time.perf_counter() - start) / len(files) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3, help="timed passes after one warm-up pass")
    parser.add_argument("--size", type=int, default=299, help="output height and width")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--work_nums", type=int, default=None, help="default: default_config_cpu.yaml's")
    args = parser.parse_args()
    apply_cpu_defaults("CPU")
    overrides = ["--width", str(args.size), "--height", str(args.size), "--batch_size", str(args.batch_size),
                 "--num_classes", "10"] + (["--work_nums", str(args.work_nums)] if args.work_nums else [])
    cfg = get_config(["--config_path", os.path.join(ROOT, "default_config_cpu.yaml")] + overrides)
    with tempfile.TemporaryDirectory(prefix="bench_pipeline.") as folder:
        mean_bytes = make_photo_folder(folder, args.images)
        read_us = time_read_check(folder)
        rate, workers = time_pipeline(folder, cfg, args.epochs)
    print(f"read+check per file: {read_us:.0f} us ({args.images} JPEG files, {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, "
          f"mean {mean_bytes / 1000:.0f} KB)")
    print(f"imagenet train pipeline {args.size}x{args.size}: {rate:.0f} images/s "
          f"(batch {args.batch_size}, work_nums {cfg.work_nums}, {workers} used, "
          f"{os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
