"""src.tools.convert_checkpoint: timm's safetensors (against timm's own outputs) and mindcv's checkpoint
(against mindcv's own network) become checkpoints of this network with the same outputs; bad inputs are one
line and leave no file."""
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from safetensors.numpy import save_file

from src.checkpoint import checkpoint_metadata
from src.inference import load_network
from src.model_utils.config import PROJECT_ROOT, get_config
from tests.timm_reference import expected_logp, recipe_weights, reference_input

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
MINDCV_CLASSES, MINDCV_SIZE = 10, 75


def convert(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "src.tools.convert_checkpoint", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or PROJECT_ROOT)


def network(path, num_classes):
    cfg = get_config(["--config_path", CPU_CONFIG, "--num_classes", str(num_classes), "--fold_batchnorm", "False"])
    return load_network(cfg, str(path))


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory):
    """The recipe's weights as a real timm model.safetensors (timm's key names, plus num_batches_tracked)."""
    weights = dict(recipe_weights())
    weights["features.0.bn.num_batches_tracked"] = np.array(0, np.int64)
    path = tmp_path_factory.mktemp("timm") / "model.safetensors"
    save_file(weights, str(path))
    return path


@pytest.fixture(scope="module")
def mindcv_reference(tmp_path_factory):
    """mindcv's own inception_v4 (random weights, non-trivial BN statistics): its checkpoint and outputs."""
    folder = tmp_path_factory.mktemp("mindcv")
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "tests", "mindcv_reference.py"), str(folder),
                          str(MINDCV_CLASSES), str(MINDCV_SIZE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return folder


def test_timm_safetensors_reproduce_timm_log_probabilities(timm_file, tmp_path):
    out = tmp_path / "timm.ckpt"
    run = convert("--source", "timm", "--input", timm_file, "--output", out)
    assert run.returncode == 0, run.stderr
    assert "755 parameters" in run.stdout and "1000 classes" in run.stdout and "predict.py" in run.stdout
    net, params = network(out, 1000)
    logp = net(ms.Tensor(reference_input())).asnumpy()
    assert np.abs(logp - expected_logp()).max() <= 1e-4
    metadata = checkpoint_metadata(params)
    assert metadata["preprocessing"] == {"image_mean": [0.5] * 3, "image_std": [0.5] * 3,
                                         "interpolation": "bicubic", "crop_pct": 0.875, "resize_backend": "pil",
                                         "resize_rounding": "floor"}
    assert len(metadata["class_names"]) == 1000 and metadata["class_names"][0] == "tench"
    assert len(metadata["class_ids"]) == 1000 and metadata["class_ids"][0] == "n01440764"
    assert metadata["image_size"] == [299, 299]  # the size timm's weights were trained at


def test_mindcv_checkpoint_gives_mindcvs_outputs(mindcv_reference, tmp_path):
    out = tmp_path / "mindcv_converted.ckpt"
    run = convert("--source", "mindcv", "--input", mindcv_reference / "mindcv.ckpt", "--output", out)
    assert run.returncode == 0, run.stderr
    assert f"{MINDCV_CLASSES} classes" in run.stdout
    net, params = network(out, MINDCV_CLASSES)
    logp = net(ms.Tensor(np.load(mindcv_reference / "input.npy"))).asnumpy()
    assert np.abs(logp - np.load(mindcv_reference / "logp.npy")).max() <= 1e-5
    assert checkpoint_metadata(params)["preprocessing"]["crop_pct"] == 0.875
    assert checkpoint_metadata(params)["preprocessing"]["resize_rounding"] == "floor"
    assert checkpoint_metadata(params)["image_size"] == [299, 299]
    assert "class_names" not in checkpoint_metadata(params)  # 10 classes: not ImageNet's


def test_mindcv_checkpoint_given_to_eval_names_the_converter(mindcv_reference, tmp_path):
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "eval.py"), "--config_path", CPU_CONFIG,
                          "--num_classes", str(MINDCV_CLASSES), "--dataset_path", str(tmp_path),
                          "--checkpoint_path", str(mindcv_reference / "mindcv.ckpt")], capture_output=True, text=True)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "mindcv Inception-v4 checkpoint" in run.stderr and "--source mindcv" in run.stderr


def _bad_safetensors(folder, kind):
    weights = dict(recipe_weights())
    if kind == "missing_key":
        del weights["features.10.branch1.1.conv.weight"]
    elif kind == "unknown_key":
        weights["features.22.conv.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    elif kind == "wrong_shape":
        weights["features.6.branch0.conv.weight"] = np.zeros((96, 384, 3, 3), np.float32)
    path = folder / f"{kind}.safetensors"
    save_file(weights, str(path))
    return path


@pytest.mark.parametrize("kind,words", [
    ("missing_key", ["lacks 1 of the timm Inception-v4 weights", "features.10.branch1.1.conv.weight"]),
    ("unknown_key", ["holds 1 weights that timm's Inception-v4 does not have", "features.22.conv.weight"]),
    ("wrong_shape", ["unexpected shapes", "features.6.branch0.conv.weight (96, 384, 3, 3) instead of (96, 384, 1, 1)"]),
])
def test_bad_timm_files_are_one_line_and_leave_no_output(tmp_path, kind, words):
    out = tmp_path / "out.ckpt"
    run = convert("--source", "timm", "--input", _bad_safetensors(tmp_path, kind), "--output", out)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert all(word in run.stderr for word in words), run.stderr
    assert os.listdir(tmp_path) == [f"{kind}.safetensors"]  # no output, no temporary file


def test_other_bad_inputs(tmp_path, timm_file, mindcv_reference):
    not_safetensors = tmp_path / "notes.safetensors"
    not_safetensors.write_text("hello")
    cases = [
        (["--source", "mindcv", "--input", timm_file], "is not a mindcv Inception-v4 checkpoint", "--source timm"),
        (["--source", "timm", "--input", mindcv_reference / "mindcv.ckpt"], "is not a timm Inception-v4",
         "--source mindcv"),
        (["--source", "timm", "--input", not_safetensors], "not a readable safetensors file", None),
        (["--source", "timm", "--input", tmp_path / "absent.safetensors"], "does not exist", None),
    ]
    for args, message, hint in cases:
        run = convert(*args, "--output", tmp_path / "out.ckpt")
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert message in run.stderr and (hint is None or hint in run.stderr), run.stderr
        assert not (tmp_path / "out.ckpt").exists()


def test_the_output_may_not_be_the_input_by_any_path(mindcv_reference, timm_file, tmp_path):
    """--output naming the input, a symbolic link to it or a hard link of it: refused, the input untouched."""
    mindcv = tmp_path / "mindcv.ckpt"
    mindcv.write_bytes((mindcv_reference / "mindcv.ckpt").read_bytes())
    (tmp_path / "link.ckpt").symlink_to(mindcv)
    os.link(timm_file, tmp_path / "hard.ckpt")
    before = {path: path.read_bytes() for path in (mindcv, timm_file)}
    cases = [("mindcv", mindcv, mindcv), ("mindcv", mindcv, tmp_path / "link.ckpt"),
             ("mindcv", tmp_path / "link.ckpt", mindcv), ("timm", timm_file, tmp_path / "hard.ckpt")]
    for source, given, output in cases:
        run = convert("--source", source, "--input", given, "--output", output)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr.strip() == (
            f"error: --output '{output}' is the input file '{given}' (the same file, or a link to it): writing it "
            "would replace the input. Choose another file name."), run.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(os.listdir(tmp_path)) == ["hard.ckpt", "link.ckpt", "mindcv.ckpt"]
