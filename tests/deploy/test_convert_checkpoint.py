"""src.tools.convert_checkpoint: timm's safetensors (against timm's own outputs) and mindcv's checkpoint
(against mindcv's own network) become checkpoints of this network with the same outputs; --to timm writes
timm's state dict back with the same outputs; bad inputs are one line and leave no file."""
import json
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from src.checkpoint import METADATA_KEY, checkpoint_metadata
from src.deploy.inference import load_network
from src.model_utils.config import PROJECT_ROOT, get_config
from tests.timm_reference import expected_logp, recipe_weights, reference_input, timm_keys

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


def test_timm_round_trip_gives_timms_state_dict(timm_file, tmp_path):
    """timm -> this network -> timm: timm's keys and shapes (keys.tsv) and the same values (<= 1e-6 relative)."""
    ckpt, back = tmp_path / "timm.ckpt", tmp_path / "back.safetensors"
    assert convert("--source", "timm", "--input", timm_file, "--output", ckpt).returncode == 0
    run = convert("--to", "timm", "--input", ckpt, "--output", back)
    assert run.returncode == 0, run.stderr
    assert "1000 classes" in run.stdout and "load_state_dict" in run.stdout
    tensors = load_file(str(back))
    # safetensors stores its tensors sorted by name (timm's own files too); load_state_dict matches by name
    assert sorted((key, value.shape) for key, value in tensors.items()) == sorted(timm_keys())
    for key, value in recipe_weights().items():
        np.testing.assert_allclose(tensors[key], value, rtol=1e-6, atol=0, err_msg=key)
    with safe_open(str(back), "np") as stream:
        assert stream.metadata()["format"] == "pt"
    assert sorted(os.listdir(tmp_path)) == ["back.safetensors", "timm.ckpt"]  # no temporary file left


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory):
    """A checkpoint of this network as train.py writes it (10 classes, recorded preprocessing and class names),
    with random non-identity statistics in every BatchNorm, the head's two included."""
    from src.checkpoint import save_checkpoint
    from src.inceptionv4 import Inceptionv4
    ms.set_seed(3)
    net = Inceptionv4(classes=MINDCV_CLASSES, is_train=False)
    rng = np.random.default_rng(5)
    ranges = {"gamma": (0.5, 1.5), "beta": (-0.2, 0.2), "moving_mean": (-0.5, 0.5), "moving_variance": (0.5, 2.0)}
    for param in net.get_parameters():
        kind = param.name.rsplit(".", 1)[1]
        if kind in ranges or param.name == "softmax.dense.bias":
            low, high = ranges.get(kind, (-0.1, 0.1))
            param.set_data(ms.Tensor(rng.uniform(low, high, param.shape).astype(np.float32)))
    path = tmp_path_factory.mktemp("trained") / "trained.ckpt"
    save_checkpoint(net, str(path), metadata={"preprocessing": {"image_mean": [0.485, 0.456, 0.406],
                                                                "image_std": [0.229, 0.224, 0.225],
                                                                "interpolation": "bilinear", "crop_pct": 1.0},
                                              "class_names": [f"digit_{i}" for i in range(MINDCV_CLASSES)]})
    return path


def test_network_trained_here_exported_to_timm_computes_its_log_probabilities(trained_here, tmp_path):
    """The exported file, read back by the importer (checked against timm's own outputs above), gives the
    checkpoint's log-probabilities: the eps change and the head BatchNorms folded into last_linear are exact."""
    exported, back = tmp_path / "model.safetensors", tmp_path / "back.ckpt"
    run = convert("--to", "timm", "--input", trained_here, "--output", exported)
    assert run.returncode == 0, run.stderr
    assert "10 classes" in run.stdout and "image_mean [0.485, 0.456, 0.406]" in run.stdout
    tensors = load_file(str(exported))
    assert sorted(tensors) == sorted(key for key, _ in timm_keys())
    dense = ms.load_checkpoint(str(trained_here))["softmax.dense.weight"].asnumpy()
    assert tensors["last_linear.weight"].shape == dense.shape == (MINDCV_CLASSES, 1536)
    assert np.abs(tensors["last_linear.weight"] - dense).max() > 0.1 * np.abs(dense).max()  # the head BNs count
    with safe_open(str(exported), "np") as stream:
        assert json.loads(stream.metadata()[METADATA_KEY])["class_names"][3] == "digit_3"
    assert convert("--source", "timm", "--input", exported, "--output", back).returncode == 0
    image = np.random.default_rng(11).standard_normal((2, 3, 75, 75)).astype(np.float32)
    original = network(trained_here, MINDCV_CLASSES)[0](ms.Tensor(image)).asnumpy()
    again = network(back, MINDCV_CLASSES)[0](ms.Tensor(image)).asnumpy()
    assert np.abs(again - original).max() <= 1e-5


def _with(path, folder, name, value_of):
    """A copy of checkpoint `path` in `folder` whose parameter `name` is value_of(its array)."""
    params = ms.load_checkpoint(str(path))
    params[name] = ms.Parameter(ms.Tensor(value_of(params[name].asnumpy())), name=name)
    copy = folder / "changed.ckpt"
    ms.save_checkpoint([{"name": key, "data": value} for key, value in params.items()
                        if isinstance(value, ms.Parameter)], str(copy))
    return copy


def _set(index, value):
    def change(array):
        array = array.copy()
        array.flat[index] = value
        return array
    return change


@pytest.mark.parametrize("name,change,words", [
    ("features.6.branch_0.conv.batchnorm.moving_variance", _set(3, 1e-4),
     ["cannot be written exactly for timm", "features.6.branch_0.conv.batchnorm", "features.11.branch0.bn",
      "channel 3"]),
    ("softmax.batchnorm.gamma", _set(0, np.nan), ["NaN or infinite values", "softmax.batchnorm.gamma"]),
])
def test_exports_that_cannot_be_exact_are_refused_in_one_line(trained_here, tmp_path, name, change, words):
    changed = _with(trained_here, tmp_path, name, change)
    run = convert("--to", "timm", "--input", changed, "--output", tmp_path / "model.safetensors")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert all(word in run.stderr for word in words), run.stderr
    assert os.listdir(tmp_path) == ["changed.ckpt"]  # no output, no temporary file


def test_bad_export_arguments(trained_here, tmp_path):
    link = tmp_path / "model.safetensors"
    link.symlink_to(trained_here)
    for output, message in [(tmp_path / "model.ckpt", "must end with .safetensors"),
                            (link, "is the input file")]:
        run = convert("--to", "timm", "--input", trained_here, "--output", output)
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert message in run.stderr, run.stderr
    assert os.listdir(tmp_path) == ["model.safetensors"] and link.is_symlink()
