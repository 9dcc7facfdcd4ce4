"""Dataset files on disk: layout checks, the ImageNet-style folder listing, the checked image-file reader
and the CIFAR-10 binary reader. Plain Python and NumPy (no MindSpore), shared by src/dataset.py and src/tools/.
"""
import os
import re
from collections import namedtuple

import numpy as np

from src.class_names import imagenet_class_ids, imagenet_class_names, model_classes
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
PREPARE_VAL_HINT = ("python -m src.tools.prepare_imagenet_val --images FLAT_DIR --labels "
                    "ILSVRC2012_validation_ground_truth.txt --devkit DEVKIT_DIR (or --labels LOC_val_solution.csv) "
                    "--output VAL_DIR")
IMAGENET_SPLITS = {True: ("train",), False: ("val", "validation_preprocess")}
"""Split folders of an ImageNet root, for training and for evaluation (validation_preprocess/: the original's)."""
CIFAR_LAYOUT = (f"<folder>/{CIFAR_TRAIN_DIR}/data_batch_*.bin for training and "
                f"<folder>/{CIFAR_EVAL_DIR}/{CIFAR_EVAL_FILE} for evaluation")

ImageFolder = namedtuple("ImageFolder", "root classes files labels extensions class_indexing")
"""An ImageNet-style folder: sorted class folder names, image paths in reading order with their labels, the
file name endings present (exact case, as MindSpore's ImageFolderDataset matches them) and {class folder:
label} (the sorted position, or the position in the model's class names when given)."""
CIFAR_META_FILE = "batches.meta.txt"
"""CIFAR-10's class names, one per line in label order, beside the binary files."""


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
        raise UserError(f"dataset path '{os.path.abspath(path)}' does not exist: expected a folder laid out as "
                        f"{layout}.")
    if not os.path.isdir(path):
        raise UserError(f"dataset path '{os.path.abspath(path)}' is a file, not a folder: expected a folder laid "
                        f"out as {layout}.")
    return path


def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _image_names(folder):
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_file() and _is_image_name(entry.name))


def _holds_folders(path):
    return os.path.isdir(path) and any(entry.is_dir() for entry in os.scandir(path))


def imagenet_split_folder(path, do_train):
    """The ImageNet-style folder to read: `path` itself, or, when `path` is an ImageNet root (a train/, val/ or
    validation_preprocess/ sub-folder holding class folders), its training or validation folder. Raises
    UserError naming what was looked for when the root lacks that split or holds two validation folders."""
    if not path or not any(_holds_folders(os.path.join(path, name)) for names in IMAGENET_SPLITS.values()
                           for name in names):
        return path
    wanted = IMAGENET_SPLITS[do_train]
    found = [name for name in wanted if os.path.isdir(os.path.join(path, name))]
    use = "training" if do_train else "validation"
    if len(found) == 1:
        return os.path.join(path, found[0])
    if found:
        raise UserError(f"ImageNet root '{path}' holds both {' and '.join(f'{name}/' for name in found)}: pass the "
                        f"{use} folder to use itself, e.g. '{os.path.join(path, found[0])}'.")
    looked = " or ".join(f"'{os.path.join(path, name)}'" for name in wanted)
    raise UserError(f"ImageNet root '{path}' has no {use} folder (looked for {looked}): add it, or pass the "
                    f"{use} split folder itself ({IMAGENET_LAYOUT}).")


def _shown(names, count=5):
    return ", ".join(f"'{name}'" for name in names[:count]) + (f" and {len(names) - count} more"
                                                               if len(names) > count else "")


def class_indexing(path, classes, class_names, class_ids=None):
    """{class folder: label}: the folder's position in the model's classes when given, found by WordNet id
    (`class_ids`, ImageNet's folder names) or by name (`class_names`), else in the sorted folders. UserError
    naming the folders that are neither."""
    if class_names is None:
        return {name: label for label, name in enumerate(classes)}
    position = {}
    for keys in (class_ids or (), class_names):
        for label, key in enumerate(keys):
            position.setdefault(key, label)
    unknown = [name for name in classes if name not in position]
    if unknown:
        raise UserError(f"class folder(s) {_shown(unknown)} of '{path}' are not classes of the model, whose "
                        f"{len(class_names)} classes are {_shown(list(class_names))}"
                        + (f" (WordNet ids {_shown(list(class_ids), 2)})" if class_ids else "")
                        + ": remove or rename those folders, or use a model trained on them.")
    return {name: position[name] for name in classes}


def list_image_folder(path, num_classes=None, class_names=None, class_ids=None):
    """List an ImageNet-style folder in MindSpore's reading order (sorted classes, sorted file names), with
    labels by position in the model's classes (`class_names`, `class_ids`: see class_indexing) or in the sorted
    folders.

    Raises UserError for a missing folder, a wrong layout (images directly in `path`, or a dataset root
    holding train/ and val/), class folders without images, more classes than `num_classes`, or a class
    folder that is not in `class_names`.
    """
    check_dataset_dir(path, IMAGENET_LAYOUT)
    classes = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    if not classes:
        loose = _image_names(path)
        if loose:
            raise UserError(f"dataset folder '{path}' has image files ({loose[0]}, ...) directly inside it: expected "
                            f"{IMAGENET_LAYOUT}. For ImageNet's flat validation set, sort it into class folders "
                            f"with {PREPARE_VAL_HINT}")
        raise UserError(f"dataset folder '{path}' has no class folders: expected {IMAGENET_LAYOUT}.")
    indexing = class_indexing(path, classes, class_names, class_ids)
    files, labels, empty = [], [], []
    for name in classes:
        names = _image_names(os.path.join(path, name))
        if not names:
            empty.append(name)
        files.extend(os.path.join(path, name, image) for image in names)
        labels.extend([indexing[name]] * len(names))
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
    return ImageFolder(path, classes, files, np.asarray(labels, np.int32), extensions, indexing)


def evaluation_classes(path, ds_type, num_classes, metadata, model):
    """(class names, WordNet ids) to label the evaluation data at `path` with, for `model` (its name, for
    messages) whose weights' metadata is `metadata`: the recorded classes (src.class_names.model_classes);
    for a 1000-class model without them (the original's checkpoints: ImageNet-1k), ImageNet-1k's when every
    class folder is one of its WordNet ids or names; else (None, None), scoring with the sorted class folders as
    labels, which is right only when the folder holds all num_classes of them: UserError otherwise (a missing
    folder would shift every later label)."""
    names, ids = model_classes(metadata)
    if ds_type != "imagenet" or names is not None:
        return names, ids
    classes = dataset_class_names(path, ds_type, False)
    if not classes:
        return None, None  # not class folders: the pipeline's layout check says what is wrong
    if num_classes == 1000:
        known = set(imagenet_class_ids()) | set(imagenet_class_names())
        if all(name in known for name in classes):
            return imagenet_class_names(), imagenet_class_ids()
    if len(classes) < num_classes:
        raise UserError(f"'{os.path.abspath(path)}' has {len(classes)} class folders but {model} has {num_classes} "
                        "classes and records no class names: labels taken from the sorted folders would shift "
                        f"at the first missing class. Evaluate on a folder with all {num_classes} class folders, or "
                        "a model trained by this version's train.py (its checkpoints record the class names).")
    return None, None


def dataset_class_names(path, ds_type, do_train):
    """The class names of a dataset in label order: the sorted class folders of an ImageNet-style folder (or of
    an ImageNet root's split), the lines of CIFAR-10's batches.meta.txt; None when a CIFAR-10 folder has none."""
    if ds_type == "imagenet":
        folder = check_dataset_dir(imagenet_split_folder(path, do_train), IMAGENET_LAYOUT)
        return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    meta = os.path.join(os.path.dirname(cifar_files(path, do_train)[0]), CIFAR_META_FILE)
    if not os.path.isfile(meta):
        return None
    with open(meta, encoding="utf-8", errors="replace") as stream:
        return [line.strip() for line in stream if line.strip()] or None


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
