"""Bad input is one clear line before any work: the valid range of every numeric config key, for every entry
point; outputs checked first; messages that say what is wrong; non-finite scores and models that do not fit
their data are errors, never an accuracy. Real entry points (run in this process where they fail before
MindSpore compiles), real ONNX models in onnxruntime, real files."""
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from conftest import run_entry_point
from src.inputs.files import list_image_folder
from src.dataset import create_dataset
from src.deploy.runners import record_onnx_metadata
from src.model_utils.config import MIN_IMAGE_SIZE, PROJECT_ROOT, RANGES, get_config, parse_interval, read_yaml
from src.runtime.stops import UserError

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
CLASSES = [f"digit_{digit}" for digit in range(10)]


def one_line_error(code, err):
    """The single error line of a refused run (exit 2, no traceback)."""
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---- ranges of the numeric keys (row 3) -------------------------------------------------------------------------

def test_every_numeric_key_has_a_range_and_every_shipped_value_lies_in_it():
    values, _, _ = read_yaml(os.path.join(PROJECT_ROOT, "default_config.yaml"))
    numeric = {key for key, value in values.items() if isinstance(value, (int, float, list))
               and not isinstance(value, bool)}
    assert numeric == set(RANGES)
    for name in ("default_config.yaml", "default_config_gpu.yaml", "default_config_cpu.yaml"):
        get_config(["--config_path", os.path.join(PROJECT_ROOT, name)])  # checks every value against its range
    from src.inceptionv4 import MIN_IMAGE_SIZE as network_minimum
    assert MIN_IMAGE_SIZE == network_minimum


def _bound_values(key):
    """(values on the included bounds, values just outside the range) of a scalar key, as command-line text."""
    values, _, _ = read_yaml(CPU_CONFIG)
    low, high, low_in, high_in = parse_interval(RANGES[key][0])
    step = 1 if isinstance(values[key], int) else 0.001
    inside, outside = [], []
    for bound, included, direction in ((low, low_in, -1), (high, high_in, 1)):
        if not math.isinf(bound):
            outside.append(bound + direction * step if included else bound)
            inside += [bound] if included else []
    text = lambda value: str(int(value)) if step == 1 else str(value)  # noqa: E731
    return [text(value) for value in inside], [text(value) for value in outside]


@pytest.mark.parametrize("key", sorted(key for key, spec in RANGES.items() if len(spec) == 2))
def test_each_scalar_range_is_enforced_at_its_bounds(key):
    inside, outside = _bound_values(key)
    for text in inside:
        get_config(["--config_path", CPU_CONFIG, f"--{key}", text])
    for text in outside:
        with pytest.raises(UserError, match=rf"^config key '{key}' on the command line is [-0-9.e+]+; it must be "):
            get_config(["--config_path", CPU_CONFIG, f"--{key}", text])


@pytest.mark.parametrize("argv,message", [
    (["--lr_max", "nan"], "config key 'lr_max' on the command line is nan; it must be greater than 0"),
    (["--image_std", "[0.2, 0, 0.2]"], "config key 'image_std' on the command line is [0.2, 0, 0.2]; it must be 3 "
                                       "numbers, each greater than 0"),
    (["--image_mean", "[0.5, 0.5]"], "config key 'image_mean' on the command line is [0.5, 0.5]; it must be 3 numbers"),
])
def test_non_numbers_and_lists_are_checked(argv, message):
    with pytest.raises(UserError, match=re.escape(message)):
        get_config(["--config_path", CPU_CONFIG, *argv])


def test_ranges_are_checked_in_config_files_too(tmp_path):
    text = open(CPU_CONFIG, encoding="utf-8").read().replace("\nmomentum: 0.9\n", "\nmomentum: -0.5\n")
    (tmp_path / "cfg.yaml").write_text(text)
    with pytest.raises(UserError, match=re.escape(f"config key 'momentum' in '{tmp_path / 'cfg.yaml'}' is -0.5; it "
                                                  "must be in [0, 1) (RMSProp momentum).")):
        get_config(["--config_path", str(tmp_path / "cfg.yaml")])


@pytest.mark.parametrize("script,argv,message", [
    ("train.py", ["--loss_scale", "0"], "config key 'loss_scale' on the command line is 0; it must be at least 1"),
    ("train.py", ["--epsilon", "0"], "config key 'epsilon' on the command line is 0.0; it must be greater than 0"),
    ("train.py", ["--momentum", "-0.5"], "config key 'momentum' on the command line is -0.5; it must be in [0, 1)"),
    ("train.py", ["--weight_decay", "-1"], "config key 'weight_decay' on the command line is -1.0; it must be at "
                                           "least 0"),
    ("train.py", ["--bn_momentum", "1.5"], "config key 'bn_momentum' on the command line is 1.5; it must be in [0, 1]"),
    ("train.py", ["--lr_max", "-1"], "config key 'lr_max' on the command line is -1.0; it must be greater than 0"),
    ("export.py", ["--num_classes", "0"], "config key 'num_classes' on the command line is 0; it must be at least 2"),
    ("eval.py", ["--num_classes", "-3"], "config key 'num_classes' on the command line is -3; it must be at least 2"),
    ("eval_onnx.py", ["--batch_size", "0"], "config key 'batch_size' on the command line is 0; it must be at least 1"),
    ("postprocess.py", ["--num_classes", "1"], "config key 'num_classes' on the command line is 1; it must be at "
                                               "least 2"),
    # Messages that say what is wrong (row 10):
    ("train.py", ["--epoch_size", "0"], "config key 'epoch_size' on the command line is 0; it must be at least 1"),
    ("train.py", ["--width", "50"], "config key 'width' on the command line is 50; it must be at least 75"),
    ("train.py", ["--batch_size", "big"], "config key 'batch_size' on the command line must be of type int (a whole "
                                          "number), got 'big'."),
])
def test_entry_points_refuse_values_outside_their_range(script, argv, message, monkeypatch, capsys):
    code, _, err = run_entry_point(script, ["--config_path", CPU_CONFIG, *argv], monkeypatch, capsys)
    assert one_line_error(code, err).startswith(f"error: {message}")


def test_a_refused_value_is_one_line_and_exit_2_from_a_real_process():
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "train.py"), "--config_path", CPU_CONFIG,
                          "--lr_max", "-1"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert run.returncode == 2
    assert run.stderr.strip() == ("error: config key 'lr_max' on the command line is -1.0; it must be greater than 0 "
                                  "(the peak learning rate).")


# ---- folders where files are expected, files where folders are expected (rows 1, 9, 10) -------------------------

@pytest.mark.parametrize("script,option", [("train.py", "--resume"), ("train.py", "--config_path"),
                                           ("postprocess.py", "--label_file")])
def test_a_folder_given_for_a_file_is_named_as_a_folder(script, option, tmp_path, monkeypatch, capsys):
    args = ["--config_path", CPU_CONFIG, option, str(tmp_path)]
    code, _, err = run_entry_point(script, args, monkeypatch, capsys)
    assert f"'{tmp_path}' is a folder, not a file" in one_line_error(code, err)


def test_export_under_a_regular_file_is_refused_before_compiling(tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    start = time.time()
    # The checkpoint does not even exist: the output is checked before anything is read or compiled.
    code, _, err = run_entry_point("export.py", ["--config_path", CPU_CONFIG, "--num_classes", "10", "--width", "75",
                                                 "--height", "75", "--ckpt_file", str(tmp_path / "absent.ckpt"),
                                                 "--file_name", str(notes / "model")], monkeypatch, capsys)
    assert one_line_error(code, err) == (f"error: the folder of exported model (file_name) '{notes}' cannot be "
                                         f"created: '{notes}' is a file, not a folder. Pass a path under a folder.")
    assert time.time() - start < 30 and notes.read_text() == "x"



@pytest.mark.parametrize("script,option,extra", [
    ("eval.py", "--checkpoint_path", ["--dataset_path", "."]), ("export.py", "--ckpt_file", ["--file_name", "model"]),
    ("predict.py", "--ckpt_file", ["--image", "."]), ("train.py", "--resume", ["--dataset_path", "."])])
def test_an_empty_checkpoint_is_called_empty(script, option, extra, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    args = ["--config_path", CPU_CONFIG, "--num_classes", "10", option, str(empty), *extra]
    code, _, err = run_entry_point(script, args, monkeypatch, capsys)
    assert one_line_error(code, err) == (f"error: checkpoint '{empty}' is empty (0 bytes): it was not written "
                                         "completely; copy or save it again, or pass another .ckpt file.")
    assert sorted(os.listdir(tmp_path)) == ["empty.ckpt"]

def test_label_tool_checks_its_output_first_and_postprocess_reads_only_utf8(demo_data, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    run = subprocess.run([sys.executable, "-m", "src.tools.make_label_file", "--dataset_path",
                          os.path.join(demo_data, "imagenet", "val"), "--label_file", str(notes / "l.txt")],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert one_line_error(run.returncode, run.stderr) == (
        f"error: the folder of label file '{notes}' cannot be created: '{notes}' is a file, not a folder. Pass a "
        "path under a folder.")

    (tmp_path / "r").mkdir()
    np.zeros(10, np.float32).tofile(tmp_path / "r" / "a_0.bin")
    (tmp_path / "labels.txt").write_bytes("a:1\nb\xe4:2\n".encode("latin-1"))
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "postprocess.py"), "--result_path",
                          str(tmp_path / "r"), "--label_file", str(tmp_path / "labels.txt"), "--num_classes", "10"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert f"label file '{tmp_path / 'labels.txt'}' is not UTF-8 text" in one_line_error(run.returncode, run.stderr)


# ---- non-finite scores are no accuracy (row 4) ------------------------------------------------------------------

def test_postprocess_refuses_non_finite_scores(tmp_path):
    (tmp_path / "r").mkdir()
    labels = []
    for index in range(8):
        scores = np.full(10, np.nan if index % 2 else -1.0, np.float32)
        scores.tofile(tmp_path / "r" / f"img{index}_0.bin")
        labels.append(f"img{index}:{index}")
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "postprocess.py"), "--result_path",
                          str(tmp_path / "r"), "--label_file", str(tmp_path / "labels.txt"), "--num_classes", "10"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert one_line_error(run.returncode, run.stderr) == (
        f"error: 4 of 8 result files in '{tmp_path / 'r'}' hold NaN or infinite scores (img1_0.bin, img3_0.bin, "
        "img5_0.bin, img7_0.bin): no accuracy is computed. Check the exported model and the inference app's input "
        "for these images.")
    assert "accuracy" not in run.stdout


def _onnx_classifier(path, weights, nan=False):
    """A real ONNX classifier of 75x75 images (any batch): scores = channel means x `weights` (3 x classes), or
    NaN for every class with `nan` (the log of a negative number)."""
    helper = onnx.helper
    nodes = [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["means"]),
             helper.make_node("MatMul", ["means", "weights"], ["linear"])]
    if nan:
        nodes += [helper.make_node("Abs", ["linear"], ["magnitude"]), helper.make_node("Neg", ["magnitude"], ["neg"]),
                  helper.make_node("Sub", ["neg", "one"], ["negative"]), helper.make_node("Log", ["negative"],
                                                                                         ["scores"])]
    else:
        nodes[-1].output[0] = "scores"
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, ["batch", 3, 75, 75])],
        [helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["batch", weights.shape[1]])],
        [onnx.numpy_helper.from_array(weights.astype(np.float32), "weights")]
        + ([onnx.numpy_helper.from_array(np.ones(1, np.float32), "one")] if nan else []))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return str(path)


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).standard_normal((3, 10))


def _eval_onnx_args(model, data, *extra):
    return ["--config_path", CPU_CONFIG, "--dataset_path", data, "--file_name", model, "--work_nums", "1", *extra]


def test_eval_onnx_names_the_images_with_non_finite_scores(demo_data, weights, tmp_path, monkeypatch, capsys):
    model = _onnx_classifier(tmp_path / "nan.onnx", weights, nan=True)
    val = os.path.join(demo_data, "imagenet", "val")
    code, out, err = run_entry_point("eval_onnx.py", _eval_onnx_args(model, val), monkeypatch, capsys)
    first = sorted(os.listdir(os.path.join(val, "digit_0")))[0]
    line = one_line_error(code, err)
    assert line.startswith(f"error: '{model}' gives NaN or infinite scores for 32 image(s) of this batch ({first}, ")
    assert "no accuracy is computed" in line and "accuracy:" not in out


# ---- model outputs vs num_classes vs labels (row 5), class names at evaluation (row 6) ---------------------------

@pytest.fixture(scope="module")
def five_classes(demo_data, tmp_path_factory):
    """An ImageNet-style folder of the first 3 held-out images of digits 0, 2, 4, 6 and 8."""
    import shutil
    root = tmp_path_factory.mktemp("five_classes")
    val = os.path.join(demo_data, "imagenet", "val")
    for name in CLASSES[::2]:
        os.makedirs(root / name)
        for image in sorted(os.listdir(os.path.join(val, name)))[:3]:
            shutil.copy(os.path.join(val, name, image), root / name / image)
    return str(root)


def test_eval_onnx_refuses_a_num_classes_the_model_does_not_have(five_classes, weights, tmp_path, monkeypatch,
                                                                 capsys):
    model = _onnx_classifier(tmp_path / "ten.onnx", weights)
    code, _, err = run_entry_point("eval_onnx.py", _eval_onnx_args(model, five_classes, "--num_classes", "5"),
                                   monkeypatch, capsys)
    assert one_line_error(code, err) == (
        f"error: '{model}' has 10 outputs but --num_classes is 5: it was exported for 10 classes. Pass --num_classes "
        "10, or evaluate a model exported with num_classes 5.")


def test_eval_onnx_refuses_to_guess_labels_for_a_model_without_class_names(five_classes, weights, tmp_path,
                                                                           monkeypatch, capsys):
    model = _onnx_classifier(tmp_path / "ten.onnx", weights)
    code, _, err = run_entry_point("eval_onnx.py", _eval_onnx_args(model, five_classes), monkeypatch, capsys)
    assert one_line_error(code, err).startswith(
        f"error: '{five_classes}' has 5 class folders but '{model}' has 10 classes and records no class names")


def test_eval_onnx_and_the_label_tool_label_folders_by_the_models_class_names(five_classes, weights, tmp_path,
                                                                              monkeypatch, capsys):
    model = _onnx_classifier(tmp_path / "named.onnx", weights)
    record_onnx_metadata(model, {"class_names": CLASSES})
    code, out, err = run_entry_point("eval_onnx.py", _eval_onnx_args(model, five_classes), monkeypatch, capsys)
    assert code == 0, err
    top1 = float(re.search(r"^top-1 accuracy: ([0-9.]+)$", out, re.M).group(1))
    # The same images and model by hand: label = position of the class folder's name among the 10 classes.
    cfg = get_config(_eval_onnx_args(model, five_classes, "--num_classes", "10", "--width", "75", "--height", "75"))
    images = np.concatenate([batch for batch, _ in create_dataset(cfg, five_classes, False).create_tuple_iterator(
        num_epochs=1, output_numpy=True)])
    folder = list_image_folder(five_classes)
    expected = [CLASSES.index(os.path.basename(os.path.dirname(path))) for path in folder.files]
    predicted = (images.mean(axis=(2, 3)) @ weights.astype(np.float32)).argmax(axis=1)
    assert top1 == pytest.approx(np.mean(predicted == np.array(expected)), abs=1e-5)

    label_file = tmp_path / "labels.txt"
    run = subprocess.run([sys.executable, "-m", "src.tools.make_label_file", "--dataset_path", five_classes,
                          "--label_file", str(label_file), "--model", model], capture_output=True, text=True,
                         cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr
    written = [int(line.split(":")[1]) for line in label_file.read_text().splitlines()]
    assert written == expected and set(written) == {0, 2, 4, 6, 8}
