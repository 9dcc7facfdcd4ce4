"""Evaluate an exported ONNX model with onnxruntime on the eval pipeline of eval.py:
python eval_onnx.py --config_path CFG --dataset_path DATA --ds_type {imagenet,cifar10}
                    --device_target {CPU,GPU} --file_name MODEL.onnx

Batch size, height and width come from the model (export.py fixes them); the last partial batch is
padded and the padding is not counted. A model exported with --dynamic_batch True runs batches of the
config's batch_size, the last one at its size. Class folders are labelled by WordNet id or name with the
classes the model records; a model whose output count differs from --num_classes, labels beyond its outputs
and NaN or infinite scores are errors, never an accuracy.
"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/stops.py)
    from src.runtime.stops import catch_signals
    catch_signals()

import os

from src.checkpoint import AIR_HINT
from src.inputs.files import CIFAR_EVAL_FILE, evaluation_classes, imagenet_split_folder, list_image_folder
from src.inputs.preprocessing import resolve_preprocessing
from src.dataset import create_dataset, explain_pipeline_errors
from src.deploy.inference import onnx_path
from src.deploy.metrics import NonFiniteScores, TopKAccuracy
from src.deploy.runners import OnnxClassifier, data_config
from src.model_utils.config import get_config
from src.runtime import stops
from src.runtime.stops import UserError


def check_outputs(cfg, model):
    """UserError when the model's output count is not the num_classes given on the command line."""
    if cfg.given("num_classes") and model.num_classes != cfg.num_classes:
        raise UserError(f"'{model.path}' has {model.num_classes} outputs but --num_classes is {cfg.num_classes}: "
                        f"it was exported for {model.num_classes} classes. Pass --num_classes {model.num_classes}, or "
                        f"evaluate a model exported with num_classes {cfg.num_classes}.")


def image_names(cfg, indices):
    """Names of the images at `indices` of the evaluation reading order (file paths, or CIFAR-10 records)."""
    if cfg.ds_type == "imagenet":
        files = list_image_folder(imagenet_split_folder(cfg.dataset_path, False)).files
        return [files[index] for index in indices]
    return [f"record {index} of {CIFAR_EVAL_FILE}" for index in indices]


def run_eval_onnx(cfg):
    """Score every image of `cfg.dataset_path` with the ONNX model; return the TopKAccuracy."""
    other = "evaluate it with eval.py --checkpoint_path"
    model = OnnxClassifier(onnx_path(cfg.file_name, {"checkpoint": other, "MINDIR": other, "AIR": AIR_HINT}),
                           cfg.device_target)
    check_outputs(cfg, model)
    class_names, class_ids = evaluation_classes(cfg.dataset_path, cfg.ds_type, model.num_classes, model.metadata,
                                                f"'{model.path}'")
    data_cfg = data_config(cfg, model, "eval_onnx")
    prep = resolve_preprocessing(cfg, model.metadata, f"'{model.path}'")
    print(prep.describe(data_cfg.height, data_cfg.width, crop=cfg.ds_type == "imagenet"), flush=True)
    dataset = create_dataset(data_cfg, cfg.dataset_path, do_train=False, preprocessing=prep, class_names=class_names,
                             class_ids=class_ids)
    accuracy = TopKAccuracy((1, 5) if cfg.ds_type == "imagenet" else (1,))
    with explain_pipeline_errors():
        for images, labels in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            try:
                accuracy.update(model.predict(images), labels)
            except NonFiniteScores as err:
                names = image_names(cfg, [accuracy.count + row for row in err.rows])
                raise UserError(f"'{model.path}' gives NaN or infinite scores for {len(names)} image(s) of this batch "
                                f"({', '.join(os.path.basename(name) for name in names[:5])}"
                                f"{', ...' if len(names) > 5 else ''}): no accuracy is computed. Check the model "
                                "(was its checkpoint trained to a finite loss?) and these images.") from None
            except ValueError as err:
                raise UserError(f"'{model.path}' does not fit the data in '{cfg.dataset_path}': {err}. Was "
                                "it exported with the num_classes of this dataset?") from None
            stops.check()
    return accuracy


def report(cfg, accuracy):
    print(f"eval_onnx: {accuracy.count} images of '{cfg.dataset_path}'", flush=True)
    values = accuracy.accuracy()
    if cfg.ds_type == "imagenet":
        print(f"top-1 accuracy: {values[1]:.5f}\ntop-5 accuracy: {values[5]:.5f}", flush=True)
    else:
        print(f"accuracy: {values[1]:.5f}", flush=True)


@stops.entry_point
def main():
    cfg = get_config(description="Evaluate an ONNX export of Inception-v4 with onnxruntime.")
    with stops.safe_points():
        accuracy = run_eval_onnx(cfg)
    report(cfg, accuracy)


if __name__ == "__main__":
    main()
