"""Top-1/top-5 accuracy of the C++ inference app's result files (ascend310_infer/out/main).

    python postprocess.py --result_path ./result_Files --label_file val_labels.txt [--num_classes 1000]

Each `<result_path>/<image-stem>_0.bin` holds num_classes float32 values; `--label_file` has one
`<image-stem>:<class index>` line per image (python -m src.tools.make_label_file writes it).
"""
import os
import sys

import numpy as np

from src.inputs.files import read_label_file
from src.deploy.metrics import NonFiniteScores, topk_correct
from src.model_utils.config import get_config
from src.runtime.stops import UserError, report_user_errors

RESULT_SUFFIX = "_0.bin"
_SHOWN = 5


def read_results(result_path, num_classes):
    """({image stem: logits}, [wrong-size files], [other files]) of a result folder."""
    if not os.path.isdir(result_path):
        raise UserError(f"result folder '{os.path.abspath(result_path)}' does not exist: pass --result_path with "
                        "the result_Files folder the inference app wrote.")
    results, wrong_size, others = {}, [], []
    expected = num_classes * np.dtype(np.float32).itemsize
    for name in sorted(os.listdir(result_path)):
        path = os.path.join(result_path, name)
        if not name.endswith(RESULT_SUFFIX) or not os.path.isfile(path):
            others.append(name)
        elif os.path.getsize(path) != expected:
            wrong_size.append(name)
        else:
            results[name[:-len(RESULT_SUFFIX)]] = np.fromfile(path, dtype=np.float32)
    return results, wrong_size, others


def _warn(count, what, names, hint=""):
    if count:
        shown = ", ".join(sorted(names)[:_SHOWN]) + (", ..." if count > _SHOWN else "")
        print(f"warning: {count} {what} ({shown}){hint}", file=sys.stderr, flush=True)


@report_user_errors
def main(argv=None):
    """Print and return {'total', 'top1', 'top5'} over the images that have both a label and a result."""
    cfg = get_config(argv, description="Accuracy of the C++ inference app's result files.")
    labels = read_label_file(cfg.label_file, cfg.num_classes)
    results, wrong_size, others = read_results(cfg.result_path, cfg.num_classes)
    stems = sorted(set(labels) & set(results))
    _warn(len(labels) - len(stems), "labelled images have no result file", set(labels) - set(results),
          " (not in the dataset folder, undecodable, or a wrong-size result)")
    _warn(len(results) - len(stems), "result files have no label", set(results) - set(labels))
    _warn(len(wrong_size), f"result files do not hold {cfg.num_classes} float32 values", wrong_size,
          ": is num_classes the model's?")
    _warn(len(others), f"files in the result folder are not <image>{RESULT_SUFFIX} and were ignored", others)
    if not stems:
        raise UserError(f"no result file in '{cfg.result_path}' matches an image of the label file "
                        f"'{cfg.label_file}' ({len(results)} usable result files, {len(labels)} labels).")
    logits = np.stack([results[stem] for stem in stems])
    targets = np.array([labels[stem] for stem in stems], dtype=np.int64)
    top5_k = min(5, cfg.num_classes)
    try:
        hits = topk_correct(logits, targets, ks=(1, top5_k))
    except NonFiniteScores as err:
        bad = [f"{stems[row]}{RESULT_SUFFIX}" for row in err.rows]
        raise UserError(f"{len(bad)} of {len(stems)} result files in '{cfg.result_path}' hold NaN or infinite scores "
                        f"({', '.join(bad[:_SHOWN])}{', ...' if len(bad) > _SHOWN else ''}): no accuracy is computed. "
                        "Check the exported model and the inference app's input for these images.") from None
    top1, top5 = hits[1], hits[top5_k]
    total = len(stems)
    print(f"Total data: {total}, top1 accuracy: {top1 / total:.6f}, top5 accuracy: {top5 / total:.6f}")
    print(f"accuracy:{100.0 * top1 / total:.3f}", flush=True)
    return {"total": total, "top1": top1 / total, "top5": top5 / total}


if __name__ == "__main__":
    main()
