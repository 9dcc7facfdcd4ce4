"""Quantize an exported ONNX classifier to INT8 with onnxruntime's static quantization.

    python -m src.tools.quantize_onnx --config_path CFG --file_name model.onnx --calib_dataset_path DATA
        [--num_calib N] [--method {minmax,entropy,percentile}] [--keep_float LAYERS] [--num_check N]
        [--max_top1_loss POINTS] [--target_cpu {auto,avx2,avx512,vnni}] --output model_int8.onnx

It first reads the CPU's instruction sets (/proc/cpuinfo) and prints them with its choice in one line. With VNNI
(AVX-VNNI, AVX512-VNNI, AMX-INT8) onnxruntime's INT8 kernels are fast and the INT8 file is written. Without
VNNI the outcome depends on the CPU (faster on some AVX2 CPUs, slower on others), so on this CPU it times both
files and keeps INT8 only when it is at least MIN_SPEEDUP times as fast; otherwise it says so in one line,
writes no file and exits 0. --target_cpu chooses for another CPU (vnni: written; avx2, avx512: float32 kept,
as that CPU cannot be measured from here). After quantizing it runs both models on --num_check training
images the calibration did not use and refuses (one error line, no file) when INT8 loses more than
--max_top1_loss points of top-1 there.

Calibration reads the training split of DATA (ImageNet root or train/ folder, or the CIFAR-10 folder's
data_batch files) through the evaluation preprocessing eval_onnx.py uses; ds_type, num_classes and the
preprocessing keys apply as for eval_onnx.py, batch size and image size come from the model. See
src/deploy/quantization.py for what is quantized and what stays in float32.
"""
import argparse
import sys

from src.inputs.files import model_classes
from src.inputs.preprocessing import resolve_preprocessing
from src.deploy import quantization
from src.deploy.inference import model_file
from src.deploy.runners import OnnxClassifier, data_config
from src.model_utils.config import get_config
from src.runtime.fileio import atomic_output, check_not_input
from src.runtime.stops import UserError, report_user_errors

TOOL = "quantize_onnx"
DEFAULT_CHECK_IMAGES = 320  # 1 point = 3 images: a good network's few flips in either direction do not refuse it
MAX_TOP1_LOSS = 1.0
MIN_SPEEDUP = 1.2
"""INT8 speed / float32 speed, measured on this CPU, below which a CPU without VNNI keeps float32."""
MEASURED, INT8, FLOAT32 = "measure", "int8", "float32"
KEEP_FLOAT = "so float32 is kept and no INT8 file is written"


class KeptFloat(Exception):
    """INT8 measured too slow on this CPU: the INT8 file is discarded (not an error)."""


def choose(target_cpu, flags):
    """(decision, one line saying what was found and chosen) for --target_cpu and the CPU's `flags`: INT8 for a
    VNNI target, MEASURED for this CPU without VNNI, FLOAT32 for another CPU without VNNI."""
    target = quantization.cpu_target(flags) if target_cpu == "auto" else target_cpu
    found = f"{TOOL}: this CPU has {quantization.describe_isa(flags)}; target {target}" + \
        (" (--target_cpu)" if target_cpu != "auto" else "")
    if target == "vnni":
        return INT8, f"{found}: INT8 (QDQ, u8 activations, s8 per-channel weights)"
    if target_cpu == "auto":
        return MEASURED, (f"{found}: without VNNI INT8 is faster than float32 on some CPUs and slower on others, "
                          f"so both are timed here and INT8 is kept only if at least {MIN_SPEEDUP:g}x as fast")
    return FLOAT32, (f"{found}: without VNNI INT8 may be slower than float32 and that CPU cannot be timed from "
                     f"here, {KEEP_FLOAT} (--target_cpu vnni quantizes for a CPU with VNNI)")


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
    parser.add_argument("--num_check", type=int, default=DEFAULT_CHECK_IMAGES,
                        help="training images after the calibration ones on which INT8 top-1 is checked against "
                             "float32 (default %(default)s; 0: no check)")
    parser.add_argument("--max_top1_loss", type=float, default=MAX_TOP1_LOSS,
                        help="top-1 points INT8 may lose on the check images (default %(default)s)")
    parser.add_argument("--target_cpu", choices=("auto",) + quantization.TARGETS, default="auto",
                        help="CPU the INT8 file is for: auto (this one, from /proc/cpuinfo), avx2 or avx512 "
                             "(no VNNI: float32 kept), vnni (AVX-VNNI, AVX512-VNNI or AMX-INT8: INT8 written)")
    args, rest = parser.parse_known_args(argv)
    for key in ("num_calib", "num_check"):
        if getattr(args, key) < (key == "num_calib"):
            raise UserError(f"--{key} must be at least {int(key == 'num_calib')}, got {getattr(args, key)}.")
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
    """Quantize; return (output path, report dict), or (None, None) where float32 is kept for the target."""
    source = model_file(cfg.file_name, "ONNX")
    output = model_file(args.output, "ONNX")
    check_not_input(output, source)
    model = OnnxClassifier(source, "CPU")
    check_model(cfg, model)
    decision, line = choose(args.target_cpu, quantization.cpu_flags())
    print(line, flush=True)
    if decision == FLOAT32:
        return None, None
    data_cfg = data_config(cfg, model, TOOL)
    prep = resolve_preprocessing(cfg, model.metadata, f"'{source}'")
    images, labels = quantization.training_images(data_cfg, args.calib_dataset_path, args.num_calib + args.num_check,
                                                  prep, *model_classes(model.metadata))
    count = min(args.num_calib, len(images))
    batches = quantization.batched(images[:count], model.batch_size or 1)
    print(prep.describe(model.height, model.width, crop=cfg.ds_type == "imagenet"), flush=True)
    print(f"{TOOL}: {count} calibration images of '{args.calib_dataset_path}', {args.method} ranges", flush=True)
    try:
        with atomic_output(output) as tmp:
            report = quantization.quantize_model(source, tmp, model.input_name, batches, args.method,
                                                 args.keep_float)
            if decision == MEASURED:  # first: where INT8 is too slow, the top-1 check would be wasted
                report["speed"] = check_speed(source, tmp, images[:model.batch_size or 16])
            if args.num_check:
                report["check"] = check_top1(args, source, tmp, images[count:], labels[count:])
    except OSError as err:
        raise UserError(f"cannot write '{output}': {err.strerror or err}.") from None
    except KeptFloat as kept:
        print(kept, flush=True)
        return None, None
    return output, report


def check_speed(source, int8_path, images):
    """The speed line for INT8 against float32 on this CPU; KeptFloat (the file is discarded) when INT8 is less
    than MIN_SPEEDUP times as fast."""
    float_speed, int8_speed = quantization.speeds(source, int8_path, images)
    line = (f"{TOOL}: on this CPU, batch {len(images)}: float32 {float_speed:.1f} img/s, INT8 {int8_speed:.1f} "
            f"img/s ({int8_speed / float_speed:.2f}x)")
    if int8_speed < MIN_SPEEDUP * float_speed:
        raise KeptFloat(f"{line}: less than {MIN_SPEEDUP:g}x, {KEEP_FLOAT}")
    return line


def check_top1(args, source, int8_path, images, labels):
    """The top-1 check on the held-out training images; UserError (so no file) when INT8 loses more than
    --max_top1_loss points, or when the split left no image for it."""
    if not len(images):
        raise UserError(f"'{args.calib_dataset_path}' has no training images beyond the {args.num_calib} used for "
                        "calibration, so INT8 cannot be checked against float32: pass a smaller --num_calib, or "
                        "--num_check 0 to skip the check.")
    check = quantization.top1_check(source, int8_path, images, labels)
    loss = 100 * (check["float_top1"] - check["int8_top1"])
    summary = (f"{len(images)} training images the calibration did not use: top-1 float32 "
               f"{100 * check['float_top1']:.2f} % -> INT8 {100 * check['int8_top1']:.2f} %, agreement "
               f"{100 * check['agreement']:.1f} %")
    if loss > args.max_top1_loss:
        raise UserError(f"INT8 loses {loss:.2f} points of top-1 on {summary}, more than --max_top1_loss "
                        f"{args.max_top1_loss:g}: no INT8 file written; deploy the float32 '{source}', or try "
                        "--method percentile or more --num_calib images.")
    return f"{TOOL}: check on {summary}"


@report_user_errors
def main(argv=None):
    args, cfg = parse_args(sys.argv[1:] if argv is None else argv)
    output, report = run(args, cfg)
    if report is None:
        return
    for key in ("check", "speed"):
        if key in report:
            print(report[key], flush=True)
    kept = report["kept_float"]
    print(f"{TOOL}: kept in float32: the head ({len(report['head'])} nodes from the global pooling on)"
          + (f" and {len(kept)} convolution(s): {', '.join(kept)}" if kept else ""), flush=True)
    print(f"{TOOL}: wrote {output} ({report['quantized_convs']} of {report['convs']} convolutions INT8; "
          f"{report['float_mb']:.1f} MB -> {report['int8_mb']:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
