"""Peak memory of predict.py against folder size: it streams, so the peak RSS stays flat.

    python benchmarks/bench_predict_memory.py [--counts 100 1000 5000] [--size 299] [--work /tmp/bench_predict]

Writes `max(counts)` distinct JPEG photos (crops of scikit-learn's china.jpg and flower.jpg, size x size),
a 10-class checkpoint of random weights, then runs `python predict.py --ckpt_file ... --image FOLDER --output
preds.csv` on the first N photos for each N and prints N, the peak resident memory of the predict.py process
(ru_maxrss from wait4), the wall time and images/s. --predict runs another copy of predict.py (e.g. an older
version, for comparison). The work folder is deleted at the end unless --keep.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def write_photos(folder, count, size):
    """`count` distinct size x size JPEGs: random crops (scaled and mirrored) of the two scikit-learn photos."""
    import sklearn
    from PIL import Image
    images = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    photos = [Image.open(os.path.join(images, name)).convert("RGB") for name in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        photo = photos[index % 2]
        side = int(rng.integers(200, min(photo.size)))
        left, top = (int(rng.integers(0, limit - side + 1)) for limit in photo.size)
        crop = photo.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
        if index % 3 == 0:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop.save(os.path.join(folder, f"photo_{index:05d}.jpg"), quality=90)


def subset(source, folder, count):
    """`folder` holding hard links to the first `count` photos of `source`."""
    os.makedirs(folder)
    for name in sorted(os.listdir(source))[:count]:
        os.link(os.path.join(source, name), os.path.join(folder, name))
    return folder


def write_checkpoint(path):
    import mindspore as ms
    from src.checkpoint import save_checkpoint
    from src.inceptionv4 import Inceptionv4
    ms.set_seed(0)
    save_checkpoint(Inceptionv4(classes=10), path)


def peak_rss(command):
    """(peak resident memory in MB, seconds) of `command` run to its end (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {error[-2000:]}")
    return usage.ru_maxrss / 1024, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--work", default="/tmp/bench_predict_memory")
    parser.add_argument("--predict", default=os.path.join(ROOT, "predict.py"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    photos, ckpt = os.path.join(args.work, "photos"), os.path.join(args.work, "random_10_classes.ckpt")
    if not os.path.isdir(photos) or len(os.listdir(photos)) < max(args.counts):
        write_photos(photos, max(args.counts), args.size)
    if not os.path.isfile(ckpt):
        write_checkpoint(ckpt)
    print(f"{'images':>7} {'peak RSS MB':>12} {'seconds':>8} {'images/s':>9}", flush=True)
    try:
        for count in args.counts:
            folder = os.path.join(args.work, f"photos_{count}")
            shutil.rmtree(folder, ignore_errors=True)
            subset(photos, folder, count)
            command = [sys.executable, args.predict, "--config_path", os.path.join(ROOT, "default_config_cpu.yaml"),
                       "--height", str(args.size), "--width", str(args.size), "--ckpt_file", ckpt, "--image", folder,
                       "--topk", "1", "--output", os.path.join(args.work, "preds.csv")]
            rss, seconds = peak_rss(command)
            print(f"{count:>7} {rss:>12.0f} {seconds:>8.1f} {count / seconds:>9.2f}", flush=True)
            shutil.rmtree(folder)
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
