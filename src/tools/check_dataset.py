"""Check a dataset before a long run and list every file the pipeline cannot use.

    python -m src.tools.check_dataset --ds_type imagenet PATH [--workers N]
    python -m src.tools.check_dataset --ds_type cifar10 PATH

ImageNet-style folder (e.g. train/ or val/): the layout is checked as the pipeline checks it, then every
image file is read, given the pipeline's structural check (empty, not an image, truncated, damaged JPEG
headers) and fully decoded with Pillow. CIFAR-10 folder: every data_batch_*.bin and test_batch.bin must be
whole 3,073-byte records. Exit status: 0 no bad file, 1 bad files (listed), 2 wrong path or layout.
"""
import argparse
import contextlib
import io
import multiprocessing
import os
import sys

from PIL import Image

from src.inputs.files import BadImageFile, cifar_files, list_image_folder, read_cifar_file, read_image_file
from src.runtime.stops import UserError, report_user_errors

CHUNK = 256
"""Files per task handed to a worker process; folders smaller than two chunks are checked in-process."""
PROGRESS_EVERY = 100_000


def image_file_problem(path):
    """(path, why the pipeline cannot use the image file) or (path, None)."""
    try:
        data = read_image_file(path)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except BadImageFile as err:
        return path, err.problem
    except Exception as err:  # pylint: disable=broad-except  # any decoder failure is a finding
        return path, f"cannot be decoded ({type(err).__name__}: {err})"
    return path, None


def check_image_folder(path, workers):
    """Print every bad image file of an ImageNet-style folder; return how many there are."""
    folder = list_image_folder(path)
    Image.MAX_IMAGE_PIXELS = None  # large photos are valid images, not decompression bombs
    bad = 0
    parallel = workers > 1 and len(folder.files) >= 2 * CHUNK
    with multiprocessing.Pool(workers) if parallel else contextlib.nullcontext() as pool:
        results = pool.imap(image_file_problem, folder.files, CHUNK) if parallel else map(image_file_problem,
                                                                                         folder.files)
        for done, (file, problem) in enumerate(results, 1):
            if problem:
                bad += 1
                print(f"bad image file '{file}': {problem}", flush=True)
            if done % PROGRESS_EVERY == 0:
                print(f"checked {done} of {len(folder.files)} files", file=sys.stderr, flush=True)
    print(f"{path}: {len(folder.files)} image files in {len(folder.classes)} class folders checked, {bad} bad")
    return bad


def check_cifar_folder(path):
    """Print every CIFAR-10 binary file with its record count, or why it is bad; return the bad count."""
    files, missing = [], []
    for do_train in (True, False):
        try:
            files += cifar_files(path, do_train)
        except UserError as err:
            missing.append(err)
    if not files:
        raise missing[0]
    bad = 0
    for file in files:
        try:
            _, labels = read_cifar_file(file)
            print(f"'{file}': {len(labels)} records, labels {labels.min()}-{labels.max()}")
        except UserError as err:
            bad += 1
            print(f"bad {err}")
    for err in missing:
        print(f"note: {err}")
    print(f"{path}: {len(files)} CIFAR-10 files checked, {bad} bad")
    return bad


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="ImageNet-style folder (train/ or val/), or the CIFAR-10 folder")
    parser.add_argument("--ds_type", choices=("imagenet", "cifar10"), default="imagenet",
                        help="dataset format (default imagenet)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes decoding images (default: all cores)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise UserError(f"--workers is {args.workers}: use 1 or more.")
    bad = check_image_folder(args.path, args.workers) if args.ds_type == "imagenet" else check_cifar_folder(args.path)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
