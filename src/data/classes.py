"""Class names and WordNet ids: the ImageNet-1k lists shipped with the project, a text file, or a dataset's class
folders. A class is identified by its WordNet id where known (ImageNet's folder names) and named by its name."""
import os

from src.checkpoint import CLASS_IDS_KEY, CLASS_NAMES_KEY
from src.data.imagenet_classes import IMAGENET_CLASSES
from src.runtime.errors import UserError


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
    """Names from a text file (one per line) or from an ImageNet-style folder (its sorted class folders)."""
    if os.path.isdir(path):
        names = sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
        if not names:
            raise UserError(f"class names folder '{os.path.abspath(path)}' has no class sub-folders: pass an "
                            "ImageNet-style folder (<folder>/<class>/<image>) or a text file of names.")
        return names
    if not os.path.isfile(path):
        raise UserError(f"class names '{os.path.abspath(path)}' does not exist: pass a text file (one name per "
                        "line) or an ImageNet-style dataset folder.")
    return read_names_file(path)
