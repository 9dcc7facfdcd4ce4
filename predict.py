"""Classify images with a checkpoint (MindSpore) or an exported ONNX (onnxruntime) or MINDIR (MindSpore) file:

    python predict.py --config_path CFG --ckpt_file CKPT --image PATH [--topk 5]
                      [--class_names FILE_OR_FOLDER] [--output preds.csv]
    python predict.py --config_path CFG --file_name MODEL.onnx|MODEL.mindir --image PATH ...

PATH is an image or a folder of images (sub-folders included). Each image goes through eval.py's
preprocessing (the settings recorded with the weights unless overridden on the command line) and is printed
with its top-k classes: name, index, probability. --output writes the same rows as CSV.
"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/interrupt.py)
    from src.interrupt import catch_signals
    catch_signals()

import argparse
import csv
import os

import numpy as np

from src import interrupt
from src.context import init_context
from src.errors import UserError, report_user_errors
from src.fileio import atomic_output
from src.model_utils.config import get_config
from src.prediction import class_names, list_images, load_images, open_model
from src.preprocessing import resolve_preprocessing

CSV_COLUMNS = ("image", "rank", "class_index", "class_name", "probability")


def parse(argv=None):
    """(predict.py's own options, the Config from the remaining --key value settings)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False, add_help=False)
    parser.add_argument("--image", help="image file or folder of images")
    parser.add_argument("--topk", type=int, default=5, help="classes shown per image (default 5)")
    parser.add_argument("--class_names", default="", help="text file of names (one per line) or dataset folder")
    parser.add_argument("--output", default="", help="also write the predictions to this CSV file")
    args, rest = parser.parse_known_args(argv)
    cfg = get_config(rest, description="Classify images with Inception-v4 (predict.py options: --image, --topk, "
                                       "--class_names, --output).")
    if not args.image:
        raise UserError("no images given: pass --image with an image file or a folder of images.")
    if args.topk < 1:
        raise UserError(f"--topk must be at least 1, got {args.topk}.")
    if cfg.given("ckpt_file") == cfg.given("file_name"):
        raise UserError("pass exactly one model: --ckpt_file CKPT (a checkpoint) or --file_name MODEL.onnx or "
                        "MODEL.mindir (an exported ONNX or MINDIR file).")
    return args, cfg


def check_output(path):
    """Refuse an --output that cannot be written, before any work."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise UserError(f"--output '{os.path.abspath(path)}' cannot be written: give a file path in an existing "
                        "folder.")


def top_classes(logp, topk, names):
    """[(rank, class index, name, probability)] of the `topk` most probable classes of one image."""
    order = np.argsort(-logp, kind="stable")[:topk]
    return [(rank, int(index), names[index], float(np.exp(logp[index]))) for rank, index in enumerate(order, 1)]


def run_predict(args, cfg):
    """Predict every image of args.image; return [(image path, [(rank, index, name, probability)])]."""
    check_output(args.output)
    paths = list_images(args.image)
    init_context(cfg)
    model = open_model(cfg)
    prep = resolve_preprocessing(cfg, model.metadata, model.source)
    print(prep.describe(model.height, model.width), flush=True)
    names = class_names(args.class_names, model.metadata, model.num_classes, model.source)
    kept, images = load_images(paths, prep, model.height, model.width)
    logp = model.predict(images)
    if not np.isfinite(logp).all():
        bad = [path for path, row in zip(kept, logp) if not np.isfinite(row).all()]
        raise UserError(f"the model gave non-finite scores for {len(bad)} image(s), e.g. '{bad[0]}': the weights "
                        f"in {model.source} are broken.")
    return [(path, top_classes(row, min(args.topk, model.num_classes), names)) for path, row in zip(kept, logp)]


def write_csv(path, results):
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(CSV_COLUMNS)
            for image, top in results:
                writer.writerows((image, rank, index, name, f"{prob:.6f}") for rank, index, name, prob in top)


@report_user_errors
@interrupt.report_interruptions
def main(argv=None):
    args, cfg = parse(argv)
    results = run_predict(args, cfg)
    for image, top in results:
        shown = "; ".join(f"{rank}. {name} ({index}) {prob:.6f}" for rank, index, name, prob in top)
        print(f"{image}: {shown}", flush=True)
    if args.output:
        write_csv(args.output, results)
        print(f"predict: wrote {len(results)} images x {len(results[0][1])} classes to {args.output}", flush=True)


if __name__ == "__main__":
    main()
