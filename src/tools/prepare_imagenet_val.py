"""Sort ImageNet's flat validation images (ILSVRC2012_img_val.tar: 50,000 files in one folder) into class
folders named by WordNet id, the layout eval.py reads:

    python -m src.tools.prepare_imagenet_val --images FLAT_DIR --labels FILE [--devkit DEVKIT_DIR] \
        --output OUT_DIR [--copy]

FILE is either the devkit's ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID per line, in image-file
order ILSVRC2012_val_00000001.JPEG, ...; mapped to WordNet ids by DEVKIT_DIR/data/meta.mat) or Kaggle's
LOC_val_solution.csv (ImageId,PredictionString; the first word of PredictionString is the WordNet id).
OUT_DIR/<wnid>/<image> are symbolic links to the images (copies with --copy). Every image needs a label and every
label an image; OUT_DIR is built in a temporary folder beside it and appears only when complete.
"""
import argparse
import csv
import os
import re
import shutil
import tempfile

from src.inputs.files import IMAGE_EXTENSIONS
from src.runtime.stops import UserError, report_user_errors

KAGGLE_HEADER = ("ImageId", "PredictionString")
WNID = re.compile(r"n\d{8}")
DEVKIT_META = os.path.join("data", "meta.mat")
VAL_NAME = "ILSVRC2012_val_{:08d}"
"""Image stem of line n (from 1) of the devkit's ground truth."""


def _text_lines(path):
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read label file '{os.path.abspath(path)}' "
                        f"({getattr(err, 'strerror', None) or err}).") from None


def kaggle_labels(path):
    """{image stem: wnid} from LOC_val_solution.csv."""
    lines = _text_lines(path)
    rows = list(csv.reader(lines))
    if not rows or tuple(cell.strip() for cell in rows[0][:2]) != KAGGLE_HEADER:
        raise UserError(f"label file '{path}' does not start with the header {','.join(KAGGLE_HEADER)} of Kaggle's "
                        "LOC_val_solution.csv.")
    labels = {}
    for number, row in enumerate(rows[1:], 2):
        if not row:
            continue
        words = row[1].split() if len(row) > 1 else []
        if len(row) != 2 or not row[0].strip() or not words or not WNID.fullmatch(words[0]):
            raise UserError(f"label file '{path}' line {number} is '{lines[number - 1]}', expected "
                            "ImageId,\"wnid x_min y_min x_max y_max ...\".")
        stem = row[0].strip()
        if stem in labels:
            raise UserError(f"label file '{path}' lists image '{stem}' twice (line {number}).")
        labels[stem] = words[0]
    return labels


def devkit_wnids(devkit):
    """{ILSVRC2012_ID: wnid} from DEVKIT/data/meta.mat's `synsets` struct array."""
    if not devkit:
        raise UserError("the devkit's ground truth numbers classes by ILSVRC2012_ID: pass --devkit DEVKIT_DIR (the "
                        f"folder holding {DEVKIT_META}) to map them to WordNet ids.")
    path = os.path.join(devkit, DEVKIT_META)
    if not os.path.isfile(path):
        raise UserError(f"devkit file '{os.path.abspath(path)}' does not exist: pass the unpacked "
                        "ILSVRC2012_devkit_t12 folder with --devkit.")
    import scipy.io  # pylint: disable=import-outside-toplevel
    try:
        synsets = scipy.io.loadmat(path, squeeze_me=True)["synsets"]
        return {int(row["ILSVRC2012_ID"]): str(row["WNID"]) for row in synsets.ravel()}
    except Exception as err:  # pylint: disable=broad-except  # any parse failure: not the devkit's meta.mat
        raise UserError(f"'{os.path.abspath(path)}' is not the devkit's meta.mat (a 'synsets' struct array with "
                        f"fields ILSVRC2012_ID and WNID): {type(err).__name__}: {err}.") from None


def devkit_labels(path, devkit):
    """{image stem: wnid} from ILSVRC2012_validation_ground_truth.txt and the devkit's meta.mat."""
    wnids = devkit_wnids(devkit)
    labels = {}
    for number, line in enumerate(_text_lines(path), 1):
        text = line.strip()
        if not text.isdigit() or int(text) not in wnids:
            raise UserError(f"label file '{path}' line {number} is '{line}', expected an ILSVRC2012_ID of "
                            f"'{os.path.join(devkit, DEVKIT_META)}' (1 to 1000).")
        labels[VAL_NAME.format(number)] = wnids[int(text)]
    if not labels:
        raise UserError(f"label file '{path}' is empty.")
    return labels


def read_labels(path, devkit):
    """{image stem: wnid} from either label file (Kaggle's: a .csv file, or one starting with its header)."""
    if not os.path.isfile(path):
        raise UserError(f"label file '{os.path.abspath(path)}' does not exist: pass the devkit's "
                        "ILSVRC2012_validation_ground_truth.txt or Kaggle's LOC_val_solution.csv.")
    first = next(iter(_text_lines(path)), "")
    kaggle = path.lower().endswith(".csv") or first.startswith(KAGGLE_HEADER[0])
    return kaggle_labels(path) if kaggle else devkit_labels(path, devkit)


def flat_images(folder):
    """{image stem: file name} of the image files directly in `folder`."""
    if not os.path.isdir(folder):
        raise UserError(f"--images '{os.path.abspath(folder)}' is not a folder: pass the folder "
                        "ILSVRC2012_img_val.tar was unpacked into.")
    images = {}
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name)):
            images.setdefault(os.path.splitext(name)[0], name)
    if not images:
        raise UserError(f"--images '{os.path.abspath(folder)}' holds no image files "
                        f"({', '.join(IMAGE_EXTENSIONS)}).")
    return images


def check_match(images, labels, images_dir, labels_file):
    """UserError naming the first image without a label and the first label without an image."""
    unlabelled = sorted(set(images) - set(labels))
    if unlabelled:
        raise UserError(f"{len(unlabelled)} image(s) of '{images_dir}' have no label in '{labels_file}', the first "
                        f"'{images[unlabelled[0]]}': pass the label file of these images.")
    missing = sorted(set(labels) - set(images))
    if missing:
        raise UserError(f"{len(missing)} image(s) labelled in '{labels_file}' are not in '{images_dir}', the first "
                        f"'{missing[0]}': unpack the whole validation archive there, or pass its label file.")


def build(images, labels, images_dir, output, copy):
    """Make OUT_DIR/<wnid>/<image> in a temporary folder beside `output`, then rename it to `output`."""
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output))}.", suffix=".tmp", dir=parent)
    try:
        for wnid in sorted(set(labels.values())):
            os.mkdir(os.path.join(work, wnid))
        source_dir = os.path.abspath(images_dir)
        for stem, name in images.items():
            source, target = os.path.join(source_dir, name), os.path.join(work, labels[stem], name)
            if copy:
                shutil.copy2(source, target)
            else:
                os.symlink(source, target)
        os.rename(work, output)
    except OSError as err:
        raise UserError(f"cannot write '{os.path.abspath(output)}' ({err.strerror or err}); nothing was "
                        "written.") from None
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work)


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="folder of the flat validation images")
    parser.add_argument("--labels", required=True, help="ILSVRC2012_validation_ground_truth.txt or "
                                                        "LOC_val_solution.csv")
    parser.add_argument("--devkit", default="", help="ILSVRC2012 devkit folder (data/meta.mat), for the "
                                                     "ground-truth file")
    parser.add_argument("--output", required=True, help="folder to create: OUT_DIR/<wnid>/<image>")
    parser.add_argument("--copy", action="store_true", help="copy the images instead of linking them")
    args = parser.parse_args(argv)
    if os.path.lexists(args.output):
        raise UserError(f"--output '{os.path.abspath(args.output)}' already exists: pass a new folder name.")
    images = flat_images(args.images)
    labels = read_labels(args.labels, args.devkit)
    check_match(images, labels, args.images, args.labels)
    build(images, labels, args.images, args.output, args.copy)
    how = "copies" if args.copy else "links"
    print(f"prepare_imagenet_val: {len(images)} images in {len(set(labels.values()))} class folders of "
          f"{args.output} ({how}); evaluate with: python eval.py --dataset_path {args.output} ...", flush=True)


if __name__ == "__main__":
    main()
