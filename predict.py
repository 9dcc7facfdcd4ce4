"""Classify images with a checkpoint (MindSpore) or an exported ONNX (onnxruntime) or MINDIR (MindSpore) file:

    python predict.py --config_path CFG --ckpt_file CKPT --image PATH [--topk 5]
                      [--class_names FILE_OR_FOLDER] [--output preds.csv]
    python predict.py --config_path CFG --file_name MODEL.onnx|MODEL.mindir --image PATH ...

PATH is an image or a folder of images (sub-folders included). Each image goes through eval.py's
preprocessing (the settings recorded with the weights unless overridden on the command line) and is printed
with its top-k classes: name, index, probability, batch by batch (with a progress line once the run takes more
than two batches); --output writes the same rows as CSV as they come. Unreadable and damaged files are named
and skipped. A stopped run (Ctrl-C) leaves the CSV with the complete rows of the images predicted so far.
"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/stops.py)
    from src.runtime.stops import catch_signals
    catch_signals()

import argparse
import csv
import io
import os
import signal
import time

import numpy as np

from src.inputs.preprocessing import resolve_preprocessing
from src.deploy.inference import class_names, image_batches, list_images, open_model
from src.model_utils.config import get_config
from src.runtime import stops
from src.runtime.context import init_context
from src.runtime.fileio import prepare_output_file
from src.runtime.stops import UserError

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


def top_classes(logp, topk, names):
    """[(rank, class index, name, probability)] of the `topk` most probable classes of one image."""
    order = np.argsort(-logp, kind="stable")[:topk]
    return [(rank, int(index), names[index], float(np.exp(logp[index]))) for rank, index in enumerate(order, 1)]


class CsvRows:
    """The --output CSV, created when the first batch is done and appended to batch by batch: each batch's rows
    in one flushed write, so the file always ends with a complete row."""

    def __init__(self, path):
        self.path, self.stream = path, None

    def write(self, results):
        if not self.path:
            return
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        if self.stream is None:
            try:
                self.stream = open(self.path, "w", newline="", encoding="utf-8")  # pylint: disable=consider-using-with
            except OSError as err:
                raise UserError(f"--output '{os.path.abspath(self.path)}' cannot be written ({err.strerror}): pass "
                                "a file path you can write to.") from None
            writer.writerow(CSV_COLUMNS)
        for image, top in results:
            writer.writerows((image, rank, index, name, f"{prob:.6f}") for rank, index, name, prob in top)
        self.stream.write(text.getvalue())
        self.stream.flush()

    def close(self):
        if self.stream is not None:
            self.stream.close()


def duration(seconds):
    """'42 s', '3 min 05 s' or '2 h 07 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """'predict: F of N files done, R images/s, about T left' after every batch from the second on, measured from
    the end of the first (which includes the graph compile)."""

    def __init__(self, total):
        self.total, self.start, self.first = total, None, 0

    def update(self, files, images):
        if self.start is None:
            self.start, self.first = time.perf_counter(), images
            return
        elapsed = time.perf_counter() - self.start
        rate = (images - self.first) / elapsed if elapsed > 0 else 0.0
        if files < self.total and rate > 0:
            left = (self.total - files) * (images / files) / rate
            print(f"predict: {files} of {self.total} files done, {rate:.1f} images/s, about {duration(left)} left",
                  flush=True)


def run_predict(args, cfg):
    """Predict every image of args.image, printing each image's top-k line and writing its CSV rows as its batch
    finishes; return the number of images predicted."""
    if args.output:
        prepare_output_file(args.output, "--output")
    paths = list_images(args.image)
    init_context(cfg)
    model = open_model(cfg)
    prep = resolve_preprocessing(cfg, model.metadata, model.source)
    print(prep.describe(model.height, model.width), flush=True)
    names = class_names(args.class_names, model.metadata, model.num_classes, model.source)
    topk = min(args.topk, model.num_classes)
    skipped = []

    def skip(path, reason):
        skipped.append(reason)
        print(f"predict: skipped '{path}': {reason}", flush=True)

    done, output, progress = 0, CsvRows(args.output), Progress(len(paths))
    try:
        for kept, images, files in image_batches(paths, prep, model.height, model.width, cfg.batch_size, skip):
            logp = model.predict(images)
            if not np.isfinite(logp).all():
                bad = [path for path, row in zip(kept, logp) if not np.isfinite(row).all()]
                raise UserError(f"the model gave non-finite scores for {len(bad)} image(s), e.g. '{bad[0]}': the "
                                f"weights in {model.source} are broken.")
            results = [(path, top_classes(row, topk, names)) for path, row in zip(kept, logp)]
            with stops.critical():  # a batch's lines and rows are shown and written whole
                print("\n".join(f"{image}: " + "; ".join(f"{rank}. {name} ({index}) {prob:.6f}"
                                                       for rank, index, name, prob in top)
                                for image, top in results), flush=True)
                output.write(results)
                done += len(results)
            progress.update(files, done)
    except (stops.Interrupted, KeyboardInterrupt) as stop:
        saved = f"; '{args.output}' holds their rows (complete rows only)" if args.output and done else ""
        raise stops.Interrupted(getattr(stop, "signum", signal.SIGINT),
                                    f"It had predicted {done} images of the {len(paths)} files{saved}") from None
    finally:
        output.close()
    if not done:
        if paths == [args.image]:
            raise UserError(f"--image '{os.path.abspath(paths[0])}': {skipped[0]}.")
        raise UserError(f"none of the {len(paths)} file(s) given with --image is a readable image.")
    if args.output:
        print(f"predict: wrote {done} images x {topk} classes to {args.output}", flush=True)
    return done


@stops.entry_point
def main(argv=None):
    args, cfg = parse(argv)
    run_predict(args, cfg)


if __name__ == "__main__":
    main()
