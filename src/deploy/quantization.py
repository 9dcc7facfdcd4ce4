"""Static INT8 quantization of an exported ONNX classifier with onnxruntime's quantization tooling.

`quantize_model` (run by src/tools/quantize_onnx.py):
1. `prepare`: convert the model to opset 13 (per-channel DequantizeLinear needs its `axis`), then
   onnxruntime's `quant_pre_process` (shape inference, graph optimisation).
2. `calibrate`: activation ranges from calibration images (`training_images`: the training split
   through exactly the evaluation preprocessing) with onnxruntime's calibrator.
3. `quantize`: onnxruntime's quantize_static in QDQ format, per-channel int8 weights, uint8 activations.
   The classifier head (pooling, BatchNorm1d, dense, BatchNorm1d, log-softmax) and any convolutions named
   in `keep_float` stay float32.

What keeps the accuracy is the folded BatchNorm (export.py's default, src/deploy/inference.py): with a BatchNorm
between a conv and its ReLU, the conv's raw output is quantized with one scale for all channels before the
BatchNorm rescales each channel, and channels with a small range lose their precision (docs/export.md, "Inference
on the CPU", for the measurements).

`cpu_flags`, `cpu_target` and `describe_isa` read the CPU's instruction sets, from which quantize_onnx decides
whether INT8 pays (onnxruntime's MLAS picks its u8*s8 kernels from CPUID: AVX2, AVX-VNNI, AVX-512 core,
AVX512-VNNI, AMX); `top1_check` compares the INT8 file with float32 on held-out images.
"""
import contextlib
import io
import os
import statistics
import tempfile
import time

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      create_calibrator, quant_pre_process, quantize_static)
from onnxruntime.quantization.calibrate import save_tensors_data

from src.dataset import create_dataset, explain_pipeline_errors
from src.runtime.stops import UserError

QUANT_OPSET = 13
DEFAULT_METHOD = "minmax"
DEFAULT_CALIBRATION_IMAGES = 160
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}
CALIBRATION_OPTIONS = {
    "minmax": {},
    # quantize_static's own defaults give Entropy 128 histogram bins for 128 quantized bins (no threshold left
    # to search: the MinMax range) and make Percentile symmetric (half of uint8 unused after a ReLU).
    "entropy": {"num_bins": 2048, "num_quantized_bins": 128},
    "percentile": {"num_bins": 2048, "percentile": 99.999, "symmetric": False},
}
CALIBRATION_PIXELS = 16 * 299 * 299
"""Images x height x width the calibrator gets at once: about 2 GB of Inception-v4's intermediate tensors."""
CONV_WEIGHT_SUFFIX = ".conv.conv.weight"
QUANTIZED_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "QLinearMatMul")
CPUINFO = "/proc/cpuinfo"
ISA_NAMES = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512bw": "AVX-512BW", "avx_vnni": "AVX-VNNI",
             "avx512_vnni": "AVX512-VNNI", "amx_int8": "AMX-INT8"}
"""The /proc/cpuinfo flags that decide onnxruntime's INT8 kernels (MLAS), with the names printed."""
VNNI_FLAGS = ("avx_vnni", "avx512_vnni", "amx_int8")


def cpu_flags(text=None):
    """The instruction-set flags of the CPU: of /proc/cpuinfo's first 'flags' line, or of `text` (its
    contents); an empty set where there is none (not Linux on x86)."""
    if text is None:
        try:
            with open(CPUINFO, encoding="utf-8", errors="replace") as stream:
                text = stream.read()
        except OSError:
            text = ""
    line = next((line for line in text.splitlines() if line.split(":")[0].strip() == "flags"), "")
    return set(line.partition(":")[2].split())


TARGETS = ("avx2", "avx512", "vnni")
"""CPUs quantize_onnx chooses for: AVX2 (or less) without VNNI; AVX-512 (BW) without VNNI; any VNNI or AMX-INT8."""


def cpu_target(flags):
    """The target (TARGETS) of a CPU with `flags`."""
    if any(flag in flags for flag in VNNI_FLAGS):
        return "vnni"
    return "avx512" if "avx512bw" in flags else "avx2"


def describe_isa(flags):
    """'AVX2, FMA (no AVX-512, no VNNI)': the flags of ISA_NAMES found, and which of AVX-512 and VNNI are not."""
    found = [name for flag, name in ISA_NAMES.items() if flag in flags]
    missing = [what for what, has in (("AVX-512", "avx512f" in flags), ("VNNI", any(f in flags for f in VNNI_FLAGS)))
               if not has]
    return (", ".join(found) or "none of AVX2, AVX-512, VNNI") + (f" (no {', no '.join(missing)})" if missing else "")


def prepare(model_path, prepared_path):
    """Write `model_path` converted to opset >= 13 and pre-processed for quantization to `prepared_path`."""
    model = onnx.load(model_path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), QUANT_OPSET)
    if opset < QUANT_OPSET:
        model = version_converter.convert_version(model, QUANT_OPSET)
    with tempfile.TemporaryDirectory(prefix="quantize_onnx_") as folder:
        converted = os.path.join(folder, "opset.onnx")
        onnx.save(model, converted)
        quant_pre_process(converted, prepared_path, skip_symbolic_shape=True)  # static shapes: no sympy needed


def training_images(cfg, dataset_path, count, preprocessing, class_names=None, class_ids=None):
    """The first `count` images of the training split of `dataset_path`, shuffled with cfg.seed, through the
    evaluation preprocessing `preprocessing` at cfg's size: (float32 images, int labels); fewer where the
    split has fewer."""
    import mindspore.dataset as ds
    ds.config.set_seed(cfg.seed)
    images, labels = [], []
    with explain_pipeline_errors():
        data = create_dataset(cfg.replace(batch_size=1, augment=False), dataset_path, do_train=True, shuffle=True, preprocessing=preprocessing,
                              class_names=class_names, class_ids=class_ids)
        for image, label in data.create_tuple_iterator(num_epochs=1, output_numpy=True):
            images.append(image[0])
            labels.append(int(label[0]))
            if len(images) == count:
                break
    return np.stack(images), np.array(labels)


def batched(images, batch_size):
    """`images` as a list of batches of `batch_size`; the last batch is completed with images from the start,
    so every batch is whole."""
    images = np.concatenate([images, np.resize(images, (-len(images) % batch_size,) + images.shape[1:])])
    return [images[start:start + batch_size] for start in range(0, len(images), batch_size)]


class _Batches(CalibrationDataReader):
    """onnxruntime's calibration reader over a list of batches."""

    def __init__(self, input_name, batches):
        self.input_name = input_name
        self.iterator = iter(batches)

    def get_next(self):
        batch = next(self.iterator, None)
        return None if batch is None else {self.input_name: batch}


def conv_name(node):
    """A convolution's layer name, from its weight (export.py names it after the parameter:
    'features.5.branch_1.conv.conv.weight' -> 'features.5.branch_1'); the node name otherwise."""
    weight = node.input[1] if len(node.input) > 1 else ""
    return weight[:-len(CONV_WEIGHT_SUFFIX)] if weight.endswith(CONV_WEIGHT_SUFFIX) else node.name


def head_nodes(model):
    """Names of the nodes from the global average pooling on (pooling, BatchNorm1d, dense, BatchNorm1d,
    log-softmax): the classifier head."""
    nodes = list(model.graph.node)
    start = next((i for i, node in enumerate(nodes) if node.op_type in ("ReduceMean", "GlobalAveragePool")),
                 len(nodes))
    return [node.name for node in nodes[start:]]


def float_convs(model, keep_float):
    """{layer name: node name} of the convolutions whose layer name is one of `keep_float` or starts with one
    of them followed by '.' (e.g. 'features.0' keeps the stem); UserError for a name matching none."""
    convs = {conv_name(node): node.name for node in model.graph.node if node.op_type == "Conv"}
    chosen = {}
    for prefix in keep_float:
        found = {name: node for name, node in convs.items() if name == prefix or name.startswith(prefix + ".")}
        if not found:
            raise UserError(f"--keep_float '{prefix}' names no convolution of the model: use layer names such as "
                            f"'{next(iter(convs), 'features.0')}' or block prefixes such as 'features.16'.")
        chosen.update(found)
    return chosen


def is_quantized(path):
    """True if the ONNX file at `path` already holds quantization nodes."""
    model = onnx.load(path, load_external_data=False)
    return any(node.op_type in QUANTIZED_OPS for node in model.graph.node)


def calibrate(prepared_path, input_name, batches, method, cache_path):
    """Activation ranges of `prepared_path` on `batches` with onnxruntime's calibrator for `method`, saved to
    `cache_path` (the calibration cache quantize_static reads).

    The calibrator keeps every intermediate tensor of what it is given until it folds them into its ranges
    or histograms (160 images at 299x299 at once: over 20 GB), so the batches go in as groups of at most
    CALIBRATION_PIXELS pixels; fewer, larger groups keep Entropy's histograms from growing at every group.
    """
    height, width = batches[0].shape[2:]
    group = max(1, CALIBRATION_PIXELS // (len(batches[0]) * height * width))
    with tempfile.TemporaryDirectory(prefix="quantize_onnx_") as folder, \
            contextlib.redirect_stdout(io.StringIO()):  # onnxruntime prints progress for every group
        calibrator = create_calibrator(prepared_path, None, os.path.join(folder, "augmented.onnx"),
                                       calibrate_method=METHODS[method], extra_options=CALIBRATION_OPTIONS[method])
        for start in range(0, len(batches), group):
            calibrator.collect_data(_Batches(input_name, batches[start:start + group]))
        save_tensors_data(calibrator.compute_data(), cache_path)


def quantize(prepared_path, output_path, method, cache_path, keep_float=()):
    """Write the INT8 QDQ model of `prepared_path` to `output_path` with the ranges in `cache_path`
    (from `calibrate` with `method`); the nodes named in `keep_float` stay float32."""
    quantize_static(prepared_path, output_path, None, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=list(keep_float),
                    calibrate_method=METHODS[method], calibration_cache_path=cache_path)


def quantize_model(source, output, input_name, batches, method=DEFAULT_METHOD, keep_float=()):
    """Quantize the float32 ONNX file `source` into `output` (see the module docstring); return a report:
    convs, quantized_convs, kept_float (layer names), head (node names), float_mb, int8_mb."""
    with tempfile.TemporaryDirectory(prefix="quantize_onnx_") as folder:
        prepared = os.path.join(folder, "prepared.onnx")
        prepare(source, prepared)
        model = onnx.load(prepared, load_external_data=False)
        head = head_nodes(model)
        kept = float_convs(model, keep_float)
        cache = os.path.join(folder, "calibration.json")
        calibrate(prepared, input_name, batches, method, cache)
        quantize(prepared, output, method, cache, head + sorted(kept.values()))
    convs = sum(node.op_type == "Conv" for node in model.graph.node)
    return {"convs": convs, "quantized_convs": convs - len(kept), "kept_float": sorted(kept), "head": head,
            "float_mb": os.path.getsize(source) / 1e6, "int8_mb": os.path.getsize(output) / 1e6}


def top1_check(float_path, int8_path, images, labels):
    """Top-1 of the float32 and INT8 models on `images` with `labels`, and the share of images whose top-1
    class is the same in both: {"float_top1", "int8_top1", "agreement"}."""
    from src.deploy.runners import OnnxClassifier
    float_top1 = OnnxClassifier(float_path, "CPU").predict(images).argmax(1)
    int8_top1 = OnnxClassifier(int8_path, "CPU").predict(images).argmax(1)
    return {"float_top1": float((float_top1 == labels).mean()), "int8_top1": float((int8_top1 == labels).mean()),
            "agreement": float((float_top1 == int8_top1).mean())}


SPEED_ROUNDS = 5


def speeds(float_path, int8_path, images):
    """Images/s of the float32 and the INT8 model on the batch `images` in onnxruntime on this CPU: medians of
    SPEED_ROUNDS runs, alternating between the two after one warm-up run each."""
    from src.deploy.runners import OnnxClassifier
    models = [OnnxClassifier(path, "CPU") for path in (float_path, int8_path)]
    times = [[], []]
    for model in models:
        model.predict(images)
    for _ in range(SPEED_ROUNDS):
        for model, spent in zip(models, times):
            start = time.perf_counter()
            model.predict(images)
            spent.append(time.perf_counter() - start)
    return tuple(len(images) / statistics.median(spent) for spent in times)
