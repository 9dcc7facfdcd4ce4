"""Dataset files on disk: layout checks, the ImageNet-style folder listing, the checked image-file reader
and the CIFAR-10 binary reader. Plain Python and NumPy (no MindSpore), shared by src/dataset.py and src/tools/.
"""
import os
import re
from collections import namedtuple

import numpy as np

from src.errors import UserError
from src.image_check import image_data_problem

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff")
"""File name endings read from an ImageNet-style folder (any case): the formats MindSpore's Decode reads."""

CIFAR_IMAGE_SHAPE = (3, 32, 32)
CIFAR_RECORD_BYTES = 1 + int(np.prod(CIFAR_IMAGE_SHAPE))
"""One CIFAR-10 binary record: 1 label byte, then 1024 red, 1024 green and 1024 blue bytes (row-major)."""
CIFAR_TRAIN_DIR = "cifar-10-batches-bin"
CIFAR_EVAL_DIR = "cifar-10-verify-bin"
CIFAR_TRAIN_PATTERN = re.compile(r"^data_batch_(\d+)\.bin$")
CIFAR_EVAL_FILE = "test_batch.bin"

IMAGENET_LAYOUT = "<folder>/<class name>/<image>.JPEG, one sub-folder per class (e.g. ImageNet's train/ or val/)"
CIFAR_LAYOUT = (f"<folder>/{CIFAR_TRAIN_DIR}/data_batch_*.bin for training and "
                f"<folder>/{CIFAR_EVAL_DIR}/{CIFAR_EVAL_FILE} for evaluation")

ImageFolder = namedtuple("ImageFolder", "root classes files labels extensions")
"""An ImageNet-style folder: sorted class names (label = index), image paths in reading order with their
labels, and the file name endings present (exact case, as MindSpore's ImageFolderDataset matches them)."""


class BadImageFile(ValueError):
    """An image file the pipeline cannot use; the message names the file."""

    def __init__(self, path, problem):
        super().__init__(f"bad image file '{path}': {problem}")
        self.path = path
        self.problem = problem


def check_dataset_dir(path, layout):
    """Return `path` if it is an existing folder; raise UserError naming it and the expected layout."""
    if not path:
        raise UserError(f"no dataset path given: set dataset_path (--dataset_path) to a folder laid out as {layout}.")
    if not os.path.exists(path):
        raise UserError(f"dataset path '{path}' does not exist: expected a folder laid out as {layout}.")
    if not os.path.isdir(path):
        raise UserError(f"dataset path '{path}' is a file, not a folder: expected a folder laid out as {layout}.")
    return path


def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _image_names(folder):
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_file() and _is_image_name(entry.name))


def list_image_folder(path, num_classes=None):
    """List an ImageNet-style folder in MindSpore's reading order (sorted classes, sorted file names).

    Raises UserError for a missing folder, a wrong layout (images directly in `path`, or a dataset root
    holding train/ and val/), class folders without images, or more classes than `num_classes`.
    """
    check_dataset_dir(path, IMAGENET_LAYOUT)
    classes = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    if not classes:
        loose = _image_names(path)
        found = f"image files ({loose[0]}, ...) directly inside it" if loose else "no class folders"
        raise UserError(f"dataset folder '{path}' has {found}: expected {IMAGENET_LAYOUT}.")
    files, labels, empty = [], [], []
    for label, name in enumerate(classes):
        names = _image_names(os.path.join(path, name))
        if not names:
            empty.append(name)
        files.extend(os.path.join(path, name, image) for image in names)
        labels.extend([label] * len(names))
    if len(empty) == len(classes):
        nested = [name for name in classes
                  if any(entry.is_dir() for entry in os.scandir(os.path.join(path, name)))]
        if nested:
            raise UserError(f"dataset folder '{path}' looks like a dataset root: its sub-folders "
                            f"({', '.join(nested[:3])}) hold folders, not images. Pass the split folder itself, "
                            f"e.g. '{os.path.join(path, nested[0])}'; expected {IMAGENET_LAYOUT}.")
        raise UserError(f"dataset folder '{path}' has no image files ({', '.join(IMAGE_EXTENSIONS)}) in its "
                        f"{len(classes)} class folders: expected {IMAGENET_LAYOUT}.")
    if empty:
        shown = ", ".join(f"'{os.path.join(path, name)}'" for name in empty[:5])
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        raise UserError(f"{len(empty)} class folder(s) of '{path}' have no image files: {shown}{more}. "
                        f"Every class folder needs at least one image ({', '.join(IMAGE_EXTENSIONS)}); "
                        f"remove the empty folders or copy their images.")
    if num_classes is not None and len(classes) > num_classes:
        raise UserError(f"dataset folder '{path}' has {len(classes)} class folders but num_classes is "
                        f"{num_classes}: set --num_classes {len(classes)} or remove the extra folders.")
    extensions = sorted({os.path.splitext(name)[1] for name in files})
    return ImageFolder(path, classes, files, np.asarray(labels, np.int32), extensions)


def read_image_file(path):
    """Return the bytes of an image file; raise BadImageFile naming it if they cannot be used."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as err:
        raise BadImageFile(path, f"cannot be read ({err.strerror})") from None
    problem = image_data_problem(data)
    if problem:
        raise BadImageFile(path, problem)
    return data


def _cifar_train_files(folder):
    found = [(int(match.group(1)), name) for name in os.listdir(folder)
             for match in [CIFAR_TRAIN_PATTERN.match(name)] if match]
    return [os.path.join(folder, name) for _, name in sorted(found)]


def cifar_files(path, do_train):
    """Return the CIFAR-10 binary files to read: data_batch_*.bin (numeric order) for training,
    test_batch.bin for evaluation (from cifar-10-verify-bin, else from the official archive's
    cifar-10-batches-bin). Raises UserError naming the folder and the expected layout."""
    check_dataset_dir(path, CIFAR_LAYOUT)
    train_dir, eval_dir = os.path.join(path, CIFAR_TRAIN_DIR), os.path.join(path, CIFAR_EVAL_DIR)
    if do_train:
        files = _cifar_train_files(train_dir) if os.path.isdir(train_dir) else []
    else:
        files = [os.path.join(folder, CIFAR_EVAL_FILE) for folder in (eval_dir, train_dir)
                 if os.path.isfile(os.path.join(folder, CIFAR_EVAL_FILE))][:1]
    if files:
        return files
    wanted = (f"'{train_dir}' with data_batch_*.bin files" if do_train else
              f"'{os.path.join(eval_dir, CIFAR_EVAL_FILE)}'")
    hint = ""
    if os.path.basename(os.path.normpath(path)) in (CIFAR_TRAIN_DIR, CIFAR_EVAL_DIR):
        hint = f" You passed the inner folder: pass its parent '{os.path.dirname(os.path.normpath(path))}'."
    raise UserError(f"CIFAR-10 folder '{path}' has no {wanted}: expected {CIFAR_LAYOUT}.{hint}")


def read_cifar_file(path, num_classes=None):
    """Read every record of a CIFAR-10 binary file: (uint8 images N x 32 x 32 x 3 in RGB, int32 labels N).

    Raises UserError naming the file if it is not a whole number of 3,073-byte records or holds a label
    of `num_classes` or more.
    """
    size = os.path.getsize(path)
    if size == 0 or size % CIFAR_RECORD_BYTES:
        raise UserError(f"CIFAR-10 file '{path}' has {size} bytes, not a whole number of "
                        f"{CIFAR_RECORD_BYTES}-byte records (1 label byte + 3072 pixel bytes): it is truncated "
                        f"or not a CIFAR-10 binary file. Replace it with a complete copy.")
    records = np.fromfile(path, np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int32)
    if num_classes is not None and labels.max() >= num_classes:
        raise UserError(f"CIFAR-10 file '{path}' holds label {labels.max()} but num_classes is {num_classes}: "
                        f"set --num_classes {labels.max() + 1} or check the file.")
    images = records[:, 1:].reshape((-1,) + CIFAR_IMAGE_SHAPE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels
