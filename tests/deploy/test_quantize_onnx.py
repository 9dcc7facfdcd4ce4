"""src/tools/quantize_onnx.py: INT8 ONNX models from onnxruntime's static quantization, their agreement with
the float32 model, and one-line errors that leave no output file."""
import glob
import os
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from src.inputs.files import CIFAR_RECORD_BYTES
from src.dataset import create_dataset
from src.deploy import quantization
from src.deploy.runners import OnnxClassifier
from src.model_utils.config import PROJECT_ROOT, get_config
from src.tools.quantize_onnx import main as quantize_main

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
DIGITS = ["--config_path", CPU_CONFIG, "--ds_type", "cifar10", "--num_classes", "10"]
VNNI = ["--target_cpu", "vnni"]  # INT8 is written for a VNNI CPU from any machine (CI has AVX2 only)


def tiny_classifier(path, batch=4, size=75, classes=10, opset=11):
    """A small real ONNX classifier shaped like an export (conv, ReLU, global pooling, dense, log-softmax)."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name) for name, shape in
               (("stem.conv.conv.weight", (8, 3, 3, 3)), ("stem.conv.conv.bias", (8,)),
                ("softmax.dense.weight", (classes, 8)), ("softmax.dense.bias", (classes,)))]
    nodes = [helper.make_node("Conv", ["x", "stem.conv.conv.weight", "stem.conv.conv.bias"], ["c"], name="conv",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "softmax.dense.weight", "softmax.dense.bias"], ["g"], name="dense",
                              transB=1),
             helper.make_node("LogSoftmax", ["g"], ["y"], name="logsoftmax", axis=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                            [batch, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return str(path)


def quantize(capsys, *args):
    """Run the tool in this process: (exit code, stdout, stderr)."""
    try:
        quantize_main(list(args))
        code = 0
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tiny_model_is_quantized_with_the_head_in_float(demo_data, tmp_path, capsys):
    model = tiny_classifier(tmp_path / "tiny.onnx")
    output = tmp_path / "tiny_int8.onnx"
    code, out, err = quantize(capsys, *DIGITS, *VNNI, "--file_name", model, "--calib_dataset_path",
                              os.path.join(demo_data, "cifar10"), "--num_calib", "10", "--output", str(output))
    assert code == 0, err
    assert "target vnni (--target_cpu): INT8 (QDQ" in out
    assert "10 calibration images" in out and f"wrote {output} (1 of 1 convolutions INT8" in out
    assert re.search(r"check on 320 training images the calibration did not use: top-1 float32 [0-9.]+ % -> "
                     r"INT8 [0-9.]+ %, agreement [0-9.]+ %", out), out
    quantized = onnx.load(output)
    onnx.checker.check_model(quantized)
    assert max(o.version for o in quantized.opset_import if o.domain in ("", "ai.onnx")) >= 13
    ops = {node.name: node.op_type for node in quantized.graph.node}
    assert ops["conv"] == "Conv" and "QuantizeLinear" in ops.values() and "DequantizeLinear" in ops.values()
    initializers = {init.name: init.data_type for init in quantized.graph.initializer}
    assert initializers["stem.conv.conv.weight_quantized"] == TensorProto.INT8
    assert initializers["softmax.dense.weight"] == TensorProto.FLOAT  # the head stays float32
    # 10 images fill three batches of 4: the last is completed with the first images, not padded with zeros.
    assert OnnxClassifier(str(output), "CPU").predict(np.zeros((1, 3, 75, 75), np.float32)).shape == (1, 10)


def test_batch_dynamic_model_stays_batch_dynamic(demo_data, tmp_path, capsys):
    model = tiny_classifier(tmp_path / "dynamic.onnx", batch="batch")
    output = tmp_path / "dynamic_int8.onnx"
    code, _, err = quantize(capsys, *DIGITS, *VNNI, "--max_top1_loss", "100", "--file_name", model,
                            "--calib_dataset_path", os.path.join(demo_data, "cifar10"), "--num_calib", "5",
                            "--output", str(output))
    assert code == 0, err
    quantized, source = OnnxClassifier(str(output), "CPU"), OnnxClassifier(model, "CPU")
    assert quantized.batch_size is None and quantized.session.get_inputs()[0].shape[0] == "batch"
    images = np.random.default_rng(1).random((3, 3, 75, 75)).astype(np.float32)
    for count in (1, 3):
        scores = quantized.predict(images[:count])
        assert scores.shape == (count, 10)
        assert np.array_equal(scores.argmax(axis=1), source.predict(images[:count]).argmax(axis=1))


def _write_cifar(folder, records, record_bytes=CIFAR_RECORD_BYTES, label=0):
    data = folder / "cifar-10-batches-bin"
    data.mkdir(parents=True)
    record = bytes([label]) + bytes(record_bytes - 1)
    (data / "data_batch_1.bin").write_bytes(record * records)
    return str(folder)


@pytest.mark.parametrize("case,message", [
    ("not_onnx", r"'.*model\.onnx' is not a loadable ONNX model"),
    ("empty_folder", r"dataset folder '.*calib' has no class folders"),
    ("more_classes", r"has 12 class folders but num_classes is 10"),
    ("cifar_labels", r"data_batch_1\.bin' holds label 11 but num_classes is 10"),
    ("cifar_record_size", r"data_batch_1\.bin' has 12296 bytes, not a whole number of 3073-byte records"),
    ("other_size", r"takes 75x75 images but --height is 299"),
    ("other_classes", r"has 10 outputs but num_classes is 12"),
    ("already_int8", r"is already quantized"),
    ("unknown_layer", r"--keep_float 'features\.99' names no convolution"),
    ("output_is_input", r"--output '.*out_int8\.onnx' is the input file '.*model\.onnx' \(the same file, or a link"),
    ("no_check_images", r"no training images beyond the 4 used for calibration"),
    ("loses_top1", r"INT8 loses -?[0-9.]+ points of top-1 on 320 training images .* more than --max_top1_loss -100"),
])
def test_bad_input_is_one_line_and_leaves_no_output(case, message, demo_data, tmp_path, capsys):
    model = tiny_classifier(tmp_path / "model.onnx")
    calib, args = os.path.join(demo_data, "cifar10"), list(DIGITS)
    if case == "not_onnx":
        (tmp_path / "model.onnx").write_text("not a model\n")
    elif case == "empty_folder":
        calib, args = str(tmp_path / "calib"), args + ["--ds_type", "imagenet"]
        os.mkdir(calib)
    elif case == "more_classes":
        calib, args = str(tmp_path / "calib"), args + ["--ds_type", "imagenet"]
        for index in range(12):
            os.makedirs(os.path.join(calib, f"class_{index:02d}"))
            with open(glob.glob(os.path.join(demo_data, "imagenet", "train", "*", "*"))[index], "rb") as image:
                with open(os.path.join(calib, f"class_{index:02d}", "image.JPEG"), "wb") as copy:
                    copy.write(image.read())
    elif case == "cifar_labels":
        calib = _write_cifar(tmp_path / "calib", 4, label=11)
    elif case == "cifar_record_size":
        calib = _write_cifar(tmp_path / "calib", 4, record_bytes=CIFAR_RECORD_BYTES + 1)  # CIFAR-100: 2 label bytes
    elif case == "other_size":
        args += ["--height", "299"]
    elif case == "other_classes":
        args += ["--num_classes", "12"]
    elif case == "already_int8":
        first = tmp_path / "first_int8.onnx"
        assert quantize(capsys, *args, *VNNI, "--file_name", model, "--calib_dataset_path", calib,
                        "--num_calib", "4", "--output", str(first))[0] == 0
        model = str(first)
    elif case == "unknown_layer":
        args += ["--keep_float", "features.99"]
    elif case == "output_is_input":  # a hard link: another name of the same file
        os.link(model, tmp_path / "out_int8.onnx")
    elif case == "no_check_images":
        calib = _write_cifar(tmp_path / "calib", 4)
    elif case == "loses_top1":  # a bound no model meets: the check's refusal path
        args += ["--max_top1_loss", "-100"]
    before = set(os.listdir(tmp_path))
    code, _, err = quantize(capsys, *args, *VNNI, "--file_name", model, "--calib_dataset_path", calib,
                            "--num_calib", "4", "--output", str(tmp_path / "out_int8.onnx"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert set(os.listdir(tmp_path)) == before  # no output file, no temporary file


def _held_out(cfg, model, data):
    """(images, labels) of the held-out split through the evaluation pipeline eval_onnx.py uses."""
    from src.deploy.runners import data_config
    from src.inputs.preprocessing import resolve_preprocessing
    pipeline = create_dataset(data_config(cfg, model, "test"), data, do_train=False,
                              preprocessing=resolve_preprocessing(cfg, model.metadata))
    batches = list(pipeline.create_tuple_iterator(num_epochs=1, output_numpy=True))
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


@pytest.mark.slow
def test_int8_model_of_a_trained_network_keeps_its_predictions(quickstart):
    """The quickstart's float32 export and the INT8 file it made with the defaults (160 training images,
    MinMax ranges, folded BatchNorm, head in float32): the held-out predictions agree with float32 on at least
    95 % of the images and top-1 is within 1 point (issue 15's target; measured on three 4-epoch
    networks: agreement 98.9-100 %, top-1 change 0 to +0.28 points)."""
    out = quickstart["out"]
    assert quickstart["run"].returncode == 0, quickstart["run"].stderr[-3000:]
    float_path, int8_path = os.path.join(out, "inceptionv4.onnx"), os.path.join(out, "inceptionv4_int8.onnx")
    with open(os.path.join(out, "quantize.log"), encoding="utf-8") as log:
        summary = log.read()
    assert "160 calibration images" in summary and "minmax ranges" in summary, summary
    assert "149 of 149 convolutions INT8" in summary, summary
    float_model, int8_model = OnnxClassifier(float_path, "CPU"), OnnxClassifier(int8_path, "CPU")
    assert int8_model.metadata == float_model.metadata  # preprocessing and class names travel along
    assert os.path.getsize(int8_path) < 0.3 * os.path.getsize(float_path)
    data = os.path.join(quickstart["project"], "data", "demo", "cifar10")
    images, labels = _held_out(get_config(DIGITS), float_model, data)
    float_top1 = float_model.predict(images).argmax(1)
    int8_top1 = int8_model.predict(images).argmax(1)
    float_accuracy, int8_accuracy = (float_top1 == labels).mean(), (int8_top1 == labels).mean()
    measured = f"agreement {(int8_top1 == float_top1).mean():.4f}, top-1 {float_accuracy:.4f} -> {int8_accuracy:.4f}"
    print(measured)
    assert float_accuracy > 0.9, measured  # the network has learned: agreement means something
    assert (int8_top1 == float_top1).mean() >= 0.95, measured
    assert int8_accuracy >= float_accuracy - 0.01, measured
    # eval_onnx.py ran the INT8 file like any ONNX file, on the same images.
    with open(os.path.join(out, "eval_onnx_int8.log"), encoding="utf-8") as log:
        assert f"accuracy: {int8_accuracy:.5f}" in log.read()


# /proc/cpuinfo "flags" lines (abridged to the flags that matter and a few around them)
MILAN_AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse4_2 avx f16c fma bmi2 avx2 sha_ni\n"
GENOA_AVX512_VNNI = ("flags\t\t: fpu avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512vbmi "
                     "avx512_vnni avx512_bitalg\n")
ALDER_LAKE_AVX_VNNI = "flags\t\t: fpu avx fma avx2 avx_vnni serialize\n"
SAPPHIRE_RAPIDS_AMX = "flags\t\t: avx2 fma avx512f avx512bw avx512_vnni amx_bf16 amx_tile amx_int8\n"
SKYLAKE_SP_AVX512 = "flags\t\t: avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 asimddp\n"


@pytest.mark.parametrize("text,target,described", [
    (MILAN_AVX2, "avx2", "AVX2, FMA (no AVX-512, no VNNI)"),
    (GENOA_AVX512_VNNI, "vnni", "AVX2, FMA, AVX-512F, AVX-512BW, AVX512-VNNI"),
    (ALDER_LAKE_AVX_VNNI, "vnni", "AVX2, FMA, AVX-VNNI (no AVX-512)"),
    (SAPPHIRE_RAPIDS_AMX, "vnni", "AVX2, FMA, AVX-512F, AVX-512BW, AVX512-VNNI, AMX-INT8"),
    (SKYLAKE_SP_AVX512, "avx512", "AVX2, FMA, AVX-512F, AVX-512BW (no VNNI)"),
    (ARM, "avx2", "none of AVX2, AVX-512, VNNI (no AVX-512, no VNNI)"),
])
def test_cpu_target_comes_from_the_cpuinfo_flags(text, target, described):
    flags = quantization.cpu_flags(text)
    assert quantization.cpu_target(flags) == target
    assert quantization.describe_isa(flags) == described


def _quantize_for(cpuinfo, option, tmp_path, demo_data, capsys, monkeypatch):
    """Run the tool as if on a CPU with /proc/cpuinfo `cpuinfo`: (exit code, stdout lines, stderr, output path)."""
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(quantization, "CPUINFO", str(tmp_path / "cpuinfo"))
    model, output = tiny_classifier(tmp_path / "model.onnx"), tmp_path / "model_int8.onnx"
    code, out, err = quantize(capsys, *DIGITS, *option, "--file_name", model, "--output", str(output),
                              "--calib_dataset_path", os.path.join(demo_data, "cifar10"), "--num_calib", "8",
                              "--num_check", "8")
    assert code == 0 and not err, err
    lines = out.strip().splitlines()
    described = quantization.describe_isa(quantization.cpu_flags(cpuinfo))
    target = option[1] if option else quantization.cpu_target(quantization.cpu_flags(cpuinfo))
    assert lines[0].startswith(f"quantize_onnx: this CPU has {described}; target {target}"), lines[0]
    return lines, output


@pytest.mark.parametrize("cpuinfo,option,speeds,writes", [
    (MILAN_AVX2, [], (100.0, 90.0), False), (MILAN_AVX2, [], (100.0, 119.0), False),
    (MILAN_AVX2, [], (100.0, 121.0), True), (SKYLAKE_SP_AVX512, [], (100.0, 50.0), False),
    (GENOA_AVX512_VNNI, [], None, True), (GENOA_AVX512_VNNI, ["--target_cpu", "avx2"], None, False),
    (MILAN_AVX2, ["--target_cpu", "vnni"], None, True),
])
def test_int8_is_written_for_vnni_or_where_it_is_measured_faster(cpuinfo, option, speeds, writes, demo_data, tmp_path,
                                                                 capsys, monkeypatch):
    """VNNI (found in the CPU's flags, or named by --target_cpu): the INT8 file is written. This CPU without VNNI:
    both files are timed and INT8 is kept only at MIN_SPEEDUP or more, else one line, no file, exit 0. Another CPU
    without VNNI (--target_cpu avx2/avx512): float32 is kept, one line. (Speeds stand in for the timing here;
    the real timing is checked below.) Where INT8 is timed too slow, the top-1 check is not run."""
    timed, checked = [], []
    monkeypatch.setattr(quantization, "speeds", lambda *args: timed.append(args) or speeds)
    top1_check = quantization.top1_check
    monkeypatch.setattr(quantization, "top1_check", lambda *args: checked.append(args) or top1_check(*args))
    lines, output = _quantize_for(cpuinfo, option, tmp_path, demo_data, capsys, monkeypatch)
    assert output.exists() == writes
    assert bool(timed) == (speeds is not None)
    assert bool(checked) == writes
    if speeds:
        assert "both are timed here and INT8 is kept only if at least 1.2x as fast" in lines[0]
        speed = next(line for line in lines if line.startswith("quantize_onnx: on this CPU, batch 4:"))
        assert f"float32 {speeds[0]:.1f} img/s, INT8 {speeds[1]:.1f} img/s ({speeds[1] / speeds[0]:.2f}x)" in speed
    if writes:
        assert f"wrote {output}" in lines[-1]
    elif speeds:
        assert lines[-1] == speed and speed.endswith("less than 1.2x, so float32 is kept and no INT8 file is written")
        assert sorted(os.listdir(tmp_path)) == ["cpuinfo", "model.onnx"]
    else:
        assert lines == lines[:1] and lines[0].endswith("so float32 is kept and no INT8 file is written "
                                                        "(--target_cpu vnni quantizes for a CPU with VNNI)")
        assert sorted(os.listdir(tmp_path)) == ["cpuinfo", "model.onnx"]


def test_int8_speed_is_timed_on_this_cpu(demo_data, tmp_path, capsys, monkeypatch):
    """Without VNNI the real timing decides: the file exists exactly when the printed ratio reaches 1.2."""
    lines, output = _quantize_for(MILAN_AVX2, [], tmp_path, demo_data, capsys, monkeypatch)
    speed = next(line for line in lines if line.startswith("quantize_onnx: on this CPU, batch 4:"))
    found = re.search(r"float32 ([0-9.]+) img/s, INT8 ([0-9.]+) img/s \(([0-9.]+)x\)", speed)
    assert found and float(found.group(1)) > 0 and float(found.group(2)) > 0, speed
    assert output.exists() == (float(found.group(2)) >= 1.2 * float(found.group(1)))
