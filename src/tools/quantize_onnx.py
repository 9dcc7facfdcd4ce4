"""Quantize an exported ONNX classifier to INT8 with onnxruntime's static quantization.

    python -m src.tools.quantize_onnx --config_path CFG --file_name model.onnx --calib_dataset_path DATA
        [--num_calib N] [--method {minmax,entropy,percentile}] [--keep_float LAYERS] --output model_int8.onnx

Calibration reads the training split of DATA (ImageNet root or train/ folder, or the CIFAR-10 folder's
data_batch files) through the evaluation preprocessing eval_onnx.py uses; ds_type, num_classes and the
preprocessing keys apply as for eval_onnx.py, batch size and image size come from the model. See
src/quantization.py for what is quantized and what stays in float32.
"""
import argparse
import os
import sys

from src.class_names import model_classes
from src.errors import UserError, report_user_errors
from src.fileio import atomic_output
from src.inference import model_file
from src.model_utils.config import get_config
from src.onnx_runner import OnnxClassifier, data_config
from src.preprocessing import resolve_preprocessing
from src import quantization

TOOL = "quantize_onnx"


def parse_args(argv):
    """(tool options, config) from the command line: the tool's own options, the rest are config keys."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     epilog="Every config key is accepted too (see 'python train.py --help').")
    parser.add_argument("--calib_dataset_path", required=True,
                        help="calibration data: ImageNet root or train/ folder, or CIFAR-10 folder (training split)")
    parser.add_argument("--output", required=True, help="INT8 ONNX file to write")
    parser.add_argument("--num_calib", type=int, default=quantization.DEFAULT_CALIBRATION_IMAGES,
                        help="calibration images (default %(default)s)")
    parser.add_argument("--method", choices=sorted(quantization.METHODS), default=quantization.DEFAULT_METHOD,
                        help="activation range calibration (default %(default)s)")
    parser.add_argument("--keep_float", default="",
                        help="comma-separated convolutions to keep in float32: layer names "
                             "(features.16.branch_3.1) or block prefixes (features.0 = the stem); default none")
    args, rest = parser.parse_known_args(argv)
    if args.num_calib < 1:
        raise UserError(f"--num_calib must be at least 1, got {args.num_calib}.")
    args.keep_float = [name.strip() for name in args.keep_float.split(",") if name.strip()]
    return args, get_config(rest, description=__doc__.splitlines()[0])


def check_model(cfg, model):
    """UserError when the model cannot be quantized for this configuration."""
    if model.num_classes != cfg.num_classes:
        raise UserError(f"'{model.path}' has {model.num_classes} outputs but num_classes is {cfg.num_classes}: "
                        f"pass --num_classes {model.num_classes} and calibration data of those classes.")
    for key in ("height", "width"):
        if cfg.given(key) and getattr(cfg, key) != getattr(model, key):
            raise UserError(f"'{model.path}' takes {model.height}x{model.width} images but --{key} is "
                            f"{getattr(cfg, key)}: calibrate at the model's size (leave out --height/--width), or "
                            "export the model at the size you want.")
    if quantization.is_quantized(model.path):
        raise UserError(f"'{model.path}' is already quantized (it has quantization nodes): pass the float32 "
                        "model exported by export.py.")


def run(args, cfg):
    """Quantize; return (output path, report dict)."""
    source = model_file(cfg.file_name, "ONNX")
    output = model_file(args.output, "ONNX")
    if os.path.abspath(source) == os.path.abspath(output):
        raise UserError(f"--output '{output}' is the input model: choose another file name.")
    model = OnnxClassifier(source, "CPU")
    check_model(cfg, model)
    data_cfg = data_config(cfg, model, TOOL)
    prep = resolve_preprocessing(cfg, model.metadata, f"'{source}'")
    batches, count = quantization.calibration_images(data_cfg, args.calib_dataset_path, args.num_calib,
                                                     model.batch_size or 1, prep, *model_classes(model.metadata))
    print(prep.describe(model.height, model.width, crop=cfg.ds_type == "imagenet"), flush=True)
    print(f"{TOOL}: {count} calibration images of '{args.calib_dataset_path}', {args.method} ranges", flush=True)
    try:
        with atomic_output(output) as tmp:
            report = quantization.quantize_model(source, tmp, model.input_name, batches, args.method,
                                                 args.keep_float)
    except OSError as err:
        raise UserError(f"cannot write '{output}': {err.strerror or err}.") from None
    return output, report


@report_user_errors
def main(argv=None):
    args, cfg = parse_args(sys.argv[1:] if argv is None else argv)
    output, report = run(args, cfg)
    kept = report["kept_float"]
    print(f"{TOOL}: kept in float32: the head ({len(report['head'])} nodes from the global pooling on)"
          + (f" and {len(kept)} convolution(s): {', '.join(kept)}" if kept else ""), flush=True)
    print(f"{TOOL}: wrote {output} ({report['quantized_convs']} of {report['convs']} convolutions INT8; "
          f"{report['float_mb']:.1f} MB -> {report['int8_mb']:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
