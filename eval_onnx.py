"""Evaluate an exported ONNX model with onnxruntime on the eval pipeline of eval.py:
python eval_onnx.py --config_path CFG --dataset_path DATA --ds_type {imagenet,cifar10}
                    --device_target {CPU,GPU} --file_name MODEL.onnx

Batch size, height and width come from the model (export.py fixes them); the last partial batch is
padded and the padding is not counted.
"""
from src.dataset import create_dataset, explain_pipeline_errors
from src.errors import UserError, report_user_errors
from src.inference import model_file
from src.metrics import TopKAccuracy
from src.model_utils.config import Config, get_config
from src.onnx_runner import OnnxClassifier


def data_config(cfg, model):
    """`cfg` with batch_size, height and width set to the model's fixed input shape."""
    values = cfg.to_dict()
    for key in ("batch_size", "height", "width"):
        wanted = getattr(model, key)
        if wanted is not None and values[key] != wanted:
            print(f"eval_onnx: using {key} {wanted} of '{model.path}' instead of {values[key]} from the "
                  "config", flush=True)
            values[key] = wanted
    return Config(values)


def run_eval_onnx(cfg):
    """Score every image of `cfg.dataset_path` with the ONNX model; return the TopKAccuracy."""
    model = OnnxClassifier(model_file(cfg.file_name, "ONNX"), cfg.device_target)
    dataset = create_dataset(data_config(cfg, model), cfg.dataset_path, do_train=False)
    accuracy = TopKAccuracy((1, 5) if cfg.ds_type == "imagenet" else (1,))
    with explain_pipeline_errors():
        for images, labels in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            try:
                accuracy.update(model.predict(images), labels)
            except ValueError as err:
                raise UserError(f"'{model.path}' does not fit the data in '{cfg.dataset_path}': {err}. Was "
                                "it exported with the num_classes of this dataset?") from None
    return accuracy


def report(cfg, accuracy):
    print(f"eval_onnx: {accuracy.count} images of '{cfg.dataset_path}'", flush=True)
    values = accuracy.accuracy()
    if cfg.ds_type == "imagenet":
        print(f"top-1 accuracy: {values[1]:.5f}\ntop-5 accuracy: {values[5]:.5f}", flush=True)
    else:
        print(f"accuracy: {values[1]:.5f}", flush=True)


@report_user_errors
def main():
    cfg = get_config(description="Evaluate an ONNX export of Inception-v4 with onnxruntime.")
    report(cfg, run_eval_onnx(cfg))


if __name__ == "__main__":
    main()
