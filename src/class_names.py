"""Class names: the ImageNet-1k list shipped with the project, a text file, or a dataset's class folders."""
import os

from src.errors import UserError

IMAGENET_CLASSES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "imagenet_classes.txt")
"""The 1,000 ImageNet-1k class names, line i = class index i (sorted WordNet-id folder order)."""


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
    return read_names_file(IMAGENET_CLASSES_FILE)


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
