"""onnxruntime speed of INT8 forms of one float32 ONNX export against the float32 file, on this CPU.

    taskset -c 1 python benchmarks/bench_int8.py MODEL.onnx [--variants NAME,...] [--rounds 5] [--runs 10]

Builds each INT8 form from MODEL.onnx with onnxruntime's quantization tooling (src/deploy/quantization.py's
prepare and calibrate, ranges from random images: speed does not depend on them; the head stays float32 as
in quantize_onnx), then times session.run at the model's batch and size, one intra-op thread, all variants
alternating round by round so that changing load hits all alike. Prints the CPU's instruction sets and a
table of median and best img/s with the ratio of medians to float32.
"""
import argparse
import functools
import os
import statistics
import sys
import tempfile

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static  # noqa: E402

from src.deploy import quantization  # noqa: E402
from timing import alternating_rates  # noqa: E402  (benchmarks/timing.py, beside this script)

U8, S8 = QuantType.QUInt8, QuantType.QInt8
ALL_OPS, CONV_ONLY = None, ["Conv"]
LEVELS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}
# name: (format or "dynamic" or None for float32, activation type, weight type, per_channel, reduce_range,
#        op types (None: onnxruntime's default list), session optimisation level)
VARIANTS = {
    "float32": (None, None, None, False, False, None, "all"),
    "float32_extended": (None, None, None, False, False, None, "extended"),
    "qdq_u8s8_pc": (QuantFormat.QDQ, U8, S8, True, False, ALL_OPS, "all"),  # quantize_onnx's form until now
    "qdq_u8s8": (QuantFormat.QDQ, U8, S8, False, False, ALL_OPS, "all"),
    "qdq_u8s8_rr": (QuantFormat.QDQ, U8, S8, False, True, ALL_OPS, "all"),
    "qdq_u8s8_conv": (QuantFormat.QDQ, U8, S8, False, False, CONV_ONLY, "all"),
    "qdq_u8u8": (QuantFormat.QDQ, U8, U8, False, False, ALL_OPS, "all"),
    "qdq_s8s8": (QuantFormat.QDQ, S8, S8, False, False, ALL_OPS, "all"),
    "qdq_u8s8_pc_extended": (QuantFormat.QDQ, U8, S8, True, False, ALL_OPS, "extended"),
    "qop_u8s8_pc": (QuantFormat.QOperator, U8, S8, True, False, ALL_OPS, "all"),
    "qop_u8s8": (QuantFormat.QOperator, U8, S8, False, False, ALL_OPS, "all"),
    "qop_u8s8_rr": (QuantFormat.QOperator, U8, S8, False, True, ALL_OPS, "all"),
    "qop_u8s8_conv": (QuantFormat.QOperator, U8, S8, False, False, CONV_ONLY, "all"),
    "qop_u8u8": (QuantFormat.QOperator, U8, U8, False, False, ALL_OPS, "all"),
    "dynamic_u8s8": ("dynamic", U8, S8, False, False, ["Conv"], "all"),
}


def build(name, prepared, cache, head, folder):
    """Write variant `name` of the prepared model; return its path."""
    fmt, act, weight, per_channel, reduce_range, ops, _ = VARIANTS[name]
    if fmt is None:
        return prepared
    path = os.path.join(folder, f"{name}.onnx")
    if fmt == "dynamic":  # weights int8 ahead of time, activations quantized at run time (ConvInteger)
        quantize_dynamic(prepared, path, op_types_to_quantize=ops, per_channel=per_channel,
                         reduce_range=reduce_range, weight_type=weight, nodes_to_exclude=head)
    else:
        quantize_static(prepared, path, None, quant_format=fmt, op_types_to_quantize=ops, per_channel=per_channel,
                        reduce_range=reduce_range, activation_type=act, weight_type=weight, nodes_to_exclude=head,
                        calibration_cache_path=cache)
    return path


def session(path, level, threads=1):
    """An onnxruntime CPU session at optimisation `level` with `threads` intra-op threads (0: its default)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="float32 ONNX file from export.py (static batch)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds over the variants")
    parser.add_argument("--runs", type=int, default=10, help="session.run calls per variant and round")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads (default 1, for taskset -c 1; 0: onnxruntime's default, one per core)")
    args = parser.parse_args()
    names = ["float32"] + [n for n in args.variants.split(",") if n and n != "float32"]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    print(f"cpu: {quantization.describe_isa(quantization.cpu_flags())}; onnxruntime {ort.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_int8_") as folder:
        prepared = os.path.join(folder, "prepared.onnx")
        quantization.prepare(args.model, prepared)
        first = session(prepared, "all").get_inputs()[0]
        shape = first.shape
        images = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        cache = os.path.join(folder, "calibration.json")
        quantization.calibrate(prepared, first.name, [images] * 2, "minmax", cache)
        head = quantization.head_nodes(onnx.load(prepared, load_external_data=False))
        runs = []
        for name in names:
            path = build(name, prepared, cache, head, folder)
            runner = session(path, VARIANTS[name][-1], args.threads)
            runs.append((name, functools.partial(runner.run, None, {first.name: images}), os.path.getsize(path) / 1e6))
        rates = alternating_rates([(name, run, shape[0]) for name, run, _ in runs], args.rounds, args.runs)
    base = statistics.median(rates["float32"])
    print(f"input {'x'.join(map(str, shape))}, {args.threads or 'default'} intra-op thread(s), {args.rounds} rounds "
          f"of {args.runs} runs, load {os.getloadavg()[0]:.2f}")
    print("| variant | img/s (median) | img/s (best) | × float32 | size MB |\n|---|---|---|---|---|")
    for name, _, size in runs:
        median = statistics.median(rates[name])
        print(f"| {name} | {median:.1f} | {max(rates[name]):.1f} | {median / base:.2f} | {size:.1f} |", flush=True)


if __name__ == "__main__":
    main()
