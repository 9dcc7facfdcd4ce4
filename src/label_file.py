"""Label files of the C++ inference app: one `<image-stem>:<class index>` line per image.

Class indices are the positions of the class folders (WordNet ids or names) in the model's classes when given
(as eval.py numbers them for a checkpoint that records them), else in the sorted class folders
(src.data_files.list_image_folder).
"""
import os

from src.data_files import list_image_folder
from src.errors import UserError
from src.fileio import atomic_output, check_input_file


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
