"""Dataset files on disk: layout checks, the ImageNet-style folder listing, the checked image-file reader,
the CIFAR-10 binary reader and the C++ inference app's label files. Plain Python and NumPy (no MindSpore),
shared by src/dataset.py and src/tools/.

Image checks: cheap structural checks of image file bytes, run on every file as the pipeline reads it.
MindSpore 2.10's JPEG decoder needs them: it silently fills a truncated JPEG with grey, and it crashes the
whole process (SIGSEGV/SIGFPE, no file named) on a JPEG whose headers are cut short or damaged (about 1 in
10 single-byte header corruptions: benchmarks/fuzz_jpeg_decoder.py). The checks parse the headers as
libjpeg does (for progressive JPEGs, those of every scan) and reject what libjpeg would reject later;
damage inside the compressed image data is not detected.

Label files: one `<image-stem>:<class index>` line per image. Class indices are the positions of the class
folders (WordNet ids or names) in the model's classes when given (as eval.py numbers them for a checkpoint
that records them), else in the sorted class folders (list_image_folder).

Class names and WordNet ids: the ImageNet-1k lists shipped with the project, a text file, or a dataset's class
folders. A class is identified by its WordNet id where known (ImageNet's folder names) and named by its name.
"""
import os
import re
from collections import namedtuple

import numpy as np

from src.checkpoint import CLASS_IDS_KEY, CLASS_NAMES_KEY
from src.inputs.imagenet_classes import IMAGENET_CLASSES
from src.runtime.fileio import atomic_output, check_input_file
from src.runtime.stops import UserError


def read_names_file(path):
    """The non-empty lines of a UTF-8 text file, one class name per line."""
    try:
        with open(path, encoding="utf-8") as stream:
            names = [line.strip() for line in stream.read().splitlines()]
    except UnicodeDecodeError:
        raise UserError(f"class names file '{os.path.abspath(path)}' is not UTF-8 text: write one class name per "
                        "line in UTF-8.") from None
    except OSError as err:
        raise UserError(f"cannot read class names file '{os.path.abspath(path)}': {err.strerror or err}.") from None
    names = [name for name in names if name]
    if not names:
        raise UserError(f"class names file '{os.path.abspath(path)}' holds no names: write one class name per line.")
    return names


def imagenet_class_names():
    return [name for _, name in IMAGENET_CLASSES]


def imagenet_class_ids():
    return [wnid for wnid, _ in IMAGENET_CLASSES]


def model_classes(metadata):
    """(class names, WordNet ids or None) the weights' metadata records: CLASS_NAMES_KEY, with CLASS_IDS_KEY when
    recorded, or ImageNet-1k's wnids when the names are its 1,000 names (checkpoints converted before class_ids
    were recorded); (None, None) without names."""
    names = metadata.get(CLASS_NAMES_KEY)
    if not names:
        return None, None
    ids = metadata.get(CLASS_IDS_KEY)
    if not ids and list(names) == imagenet_class_names():
        ids = imagenet_class_ids()
    return list(names), (list(ids) if ids and len(ids) == len(names) else None)


def folder_classes(folders):
    """(names, ids) of a training folder's sorted class folders: ImageNet-1k's names with the folders as ids when
    every folder is an ImageNet-1k WordNet id, else (folders, None)."""
    position = {wnid: index for index, wnid in enumerate(imagenet_class_ids())}
    if not folders or any(folder not in position for folder in folders):
        return folders, None
    names = imagenet_class_names()
    return [names[position[folder]] for folder in folders], list(folders)


def read_class_names(path):
    """Names from a text file (one per line) or from an ImageNet-style folder or root (its training split's
    sorted class folders, as training records them: ImageNet-1k's names for WordNet-id folders)."""
    if os.path.isdir(path):
        folders = sorted(entry.name for entry in os.scandir(imagenet_split_folder(path, True)) if entry.is_dir())
        if not folders:
            raise UserError(f"class names folder '{os.path.abspath(path)}' has no class sub-folders: pass an "
                            "ImageNet-style folder (<folder>/<class>/<image>) or a text file of names.")
        return folder_classes(folders)[0]
    if not os.path.isfile(path):
        raise UserError(f"class names '{os.path.abspath(path)}' does not exist: pass a text file (one name per "
                        "line) or an ImageNet-style dataset folder.")
    return read_names_file(path)


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
    messages) whose weights' metadata is `metadata`: the recorded classes (src.inputs.files.model_classes);
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


def class_images(dataset_path, class_names=None, class_ids=None):
    """[(image stem, class index)] of an ImageNet-style folder `<dataset_path>/<class>/<image>`, in the
    order eval.py reads it; indices by position in the model's classes (`class_names`, `class_ids`) when given."""
    folder = list_image_folder(dataset_path, class_names=class_names, class_ids=class_ids)
    items, where = [], {}
    for path, label in zip(folder.files, folder.labels):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in where:
            raise UserError(f"images '{where[stem]}' and '{path}' have the same name '{stem}': the label file "
                            "and the inference app's result files need unique image names.")
        where[stem] = path
        items.append((stem, int(label)))
    return items


def write_label_file(dataset_path, label_file, class_names=None, class_ids=None):
    """Write the label file of `dataset_path` (indices by position in the model's classes when given); return
    the number of images."""
    items = class_images(dataset_path, class_names, class_ids)
    with atomic_output(label_file) as tmp:
        with open(tmp, "w", encoding="utf-8") as stream:
            stream.writelines(f"{stem}:{label}\n" for stem, label in items)
    return len(items)


def read_label_file(label_file, num_classes):
    """{image stem: class index} from a label file; UserError naming the line of any bad entry."""
    if not label_file:
        raise UserError("no label file given: pass --label_file (write one with "
                        "python -m src.tools.make_label_file --dataset_path <val folder> --label_file <file>).")
    check_input_file(label_file, "label file", "pass the file python -m src.tools.make_label_file wrote.")
    labels = {}
    with open(label_file, encoding="utf-8") as stream:
        lines = _text_lines(stream, label_file)
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            stem, sep, label = line.rpartition(":")
            if not sep or not stem or not label.strip().isdigit():
                raise UserError(f"label file '{label_file}' line {number} is '{line}', expected "
                                "<image-stem>:<class index>.")
            if int(label) >= num_classes:
                raise UserError(f"label file '{label_file}' line {number} has class {int(label)}, but num_classes "
                                f"is {num_classes}: pass the num_classes the model was trained with.")
            if stem in labels:
                raise UserError(f"label file '{label_file}' lists image '{stem}' twice (line {number}).")
            labels[stem] = int(label)
    if not labels:
        raise UserError(f"label file '{label_file}' is empty.")
    return labels


def _text_lines(stream, path):
    """The lines of a text file opened as UTF-8; UserError naming the file when it is not UTF-8 text."""
    try:
        return stream.read().splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"label file '{os.path.abspath(path)}' is not UTF-8 text (byte {err.start} cannot be "
                        "decoded): pass the <image-stem>:<class index> file python -m src.tools.make_label_file "
                        "wrote.") from None
