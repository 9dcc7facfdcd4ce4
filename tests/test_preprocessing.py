"""The preprocessing travels with the weights: a converted timm checkpoint makes eval.py, predict.py and
eval_onnx.py (after export) feed mean/std 0.5, bicubic, crop 0.875 tensors; command-line values win and warn;
a checkpoint without a record gets the original's preprocessing."""
import os
import shutil
import subprocess
import sys

import mindspore.dataset.vision as V
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

import eval as eval_script
import eval_onnx
import predict
import src.evaluation
from src.class_names import imagenet_class_names
from src.model_utils.config import PROJECT_ROOT, get_config
from src.onnx_runner import OnnxClassifier
from src.prediction import CheckpointModel
from src.preprocessing import Preprocessing, resolve_image_size, resolve_preprocessing
from tests.timm_reference import recipe_weights

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
SIZE = 75
TIMM_LINE = "preprocessing: bicubic resize to 86, centre crop 75x75, mean 0.5 0.5 0.5, std 0.5 0.5 0.5"


def reference(paths, mean, std, interpolation, crop_pct):
    """The tensors for `paths` computed here step by step: decode, resize the shorter side to
    round(SIZE / crop_pct) with the given interpolation, crop the centre, (x / 255 - mean) / std, CHW."""
    out = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        side = int(round(SIZE / crop_pct))
        image = V.Resize(side, interpolation)(image).astype(np.float64)
        top, left = (image.shape[0] - SIZE) // 2, (image.shape[1] - SIZE) // 2
        image = image[top:top + SIZE, left:left + SIZE]
        out.append(((image / 255.0 - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


TIMM = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation=V.Inter.CUBIC, crop_pct=0.875)
ORIGINAL = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), interpolation=V.Inter.LINEAR, crop_pct=1.0)


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timm_prep")
    save_file(dict(recipe_weights()), str(folder / "model.safetensors"))
    run = subprocess.run([sys.executable, "-m", "src.tools.convert_checkpoint", "--source", "timm", "--input",
                          str(folder / "model.safetensors"), "--output", str(folder / "timm.ckpt")],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr
    return str(folder / "timm.ckpt")


def _imagenet_names_in_sorted_order(count):
    """`count` ImageNet-1k class names whose class indices and alphabetical order agree, so that an ImageNet-style
    folder of them reads in class order whether labels come from sorted folders or from the recorded names."""
    names = imagenet_class_names()
    for start in range(len(names)):
        chosen = []
        for name in names[start:]:
            if "/" not in name and (not chosen or name > chosen[-1]):
                chosen.append(name)
        if len(chosen) >= count:
            return chosen[:count]
    raise AssertionError("no such names")


@pytest.fixture(scope="module")
def photos(demo_data, tmp_path_factory):
    """One held-out demo image per class in folders named after ImageNet classes (a converted timm checkpoint
    records ImageNet's names, and evaluation maps class folders by name)."""
    folder = tmp_path_factory.mktemp("photos")
    source = os.path.join(demo_data, "imagenet", "val")
    files = []
    for digit, name in zip(sorted(os.listdir(source)), _imagenet_names_in_sorted_order(10)):
        os.makedirs(folder / name)
        image = sorted(os.listdir(os.path.join(source, digit)))[0]
        shutil.copy(os.path.join(source, digit, image), folder / name)
        files.append(str(folder / name / image))
    return folder, files


def _config(*extra):
    return get_config(["--config_path", CPU_CONFIG, "--height", str(SIZE), "--width", str(SIZE),
                       "--batch_size", "10", *map(str, extra)])


def _eval_inputs(monkeypatch, cfg):
    """Run eval.py's run_eval and return the images its pipeline fed the network."""
    fed = []
    real = src.evaluation.create_dataset

    def recording(*args, **kwargs):
        data = real(*args, **kwargs)
        fed.append(data)
        return data
    monkeypatch.setattr(src.evaluation, "create_dataset", recording)
    eval_script.run_eval(cfg)
    return np.concatenate([images for images, _ in fed[0].create_tuple_iterator(num_epochs=1, output_numpy=True)])


def test_eval_applies_the_recorded_preprocessing_and_an_override_warns(timm_checkpoint, photos, monkeypatch, capsys):
    folder, files = photos
    cfg = _config("--num_classes", 1000, "--dataset_path", folder, "--checkpoint_path", timm_checkpoint)
    images = _eval_inputs(monkeypatch, cfg)
    assert TIMM_LINE in capsys.readouterr().out.splitlines()
    assert np.abs(images - reference(files, **TIMM)).max() < 1e-5

    cfg = _config("--num_classes", 1000, "--dataset_path", folder, "--checkpoint_path", timm_checkpoint,
                  "--crop_pct", 1.0, "--image_mean", "[0.485, 0.456, 0.406]")
    images = _eval_inputs(monkeypatch, cfg)
    out = capsys.readouterr().out
    assert f"preprocessing: --crop_pct 1.0 differs from 0.875, which '{timm_checkpoint}' were trained with" in out
    assert "preprocessing: --image_mean [0.485, 0.456, 0.406] differs from [0.5, 0.5, 0.5]" in out
    expected = reference(files, mean=(0.485, 0.456, 0.406), std=(0.5, 0.5, 0.5), interpolation=V.Inter.CUBIC,
                         crop_pct=1.0)
    assert np.abs(images - expected).max() < 1e-5


def test_predict_applies_the_recorded_preprocessing(timm_checkpoint, photos, monkeypatch, capsys):
    folder, files = photos
    fed = []
    real = CheckpointModel.predict
    monkeypatch.setattr(CheckpointModel, "predict", lambda self, images: fed.append(images) or real(self, images))
    predict.main(["--config_path", CPU_CONFIG, "--height", str(SIZE), "--width", str(SIZE), "--ckpt_file",
                  timm_checkpoint, "--image", str(folder), "--topk", "1"])
    out = capsys.readouterr().out
    assert TIMM_LINE in out.splitlines()
    assert np.abs(fed[0] - reference(files, **TIMM)).max() < 1e-5
    assert ": 1. " in out and all(f"{path}: 1. " in out for path in files)
    names = imagenet_class_names()
    shown = [line.split(": 1. ")[1].rsplit(" (", 1) for line in out.splitlines() if ": 1. " in line]
    assert all(names[int(index.split(")")[0])] == name for name, index in shown)  # the recorded ImageNet names


@pytest.mark.slow
def test_exported_onnx_carries_the_preprocessing_to_eval_onnx(timm_checkpoint, photos, tmp_path, monkeypatch,
                                                              capsys):
    folder, files = photos
    export = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "export.py"), "--config_path", CPU_CONFIG,
                             "--num_classes", "1000", "--height", str(SIZE), "--width", str(SIZE), "--ckpt_file",
                             timm_checkpoint, "--file_format", "ONNX", "--export_batch_size", "5",
                             "--file_name", str(tmp_path / "timm")], capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    assert TIMM_LINE + " (recorded in the exported file)" in export.stdout
    fed = []
    real = OnnxClassifier.predict
    monkeypatch.setattr(OnnxClassifier, "predict", lambda self, images: fed.append(images) or real(self, images))
    eval_onnx.run_eval_onnx(_config("--num_classes", 1000, "--dataset_path", folder, "--file_name",
                                    tmp_path / "timm.onnx"))
    assert TIMM_LINE in capsys.readouterr().out.splitlines()
    assert np.abs(np.concatenate(fed) - reference(files, **TIMM)).max() < 1e-5


def test_without_a_record_the_configuration_applies(capsys):
    cfg = _config()
    assert resolve_preprocessing(cfg, {}) == Preprocessing()  # the original's
    assert Preprocessing().describe(299, 299) == ("preprocessing: bilinear resize to 299, centre crop 299x299, "
                                                  "mean 0.485 0.456 0.406, std 0.229 0.224 0.225")
    cfg = _config("--interpolation", "bicubic")
    assert resolve_preprocessing(cfg, {}).interpolation == "bicubic"
    assert capsys.readouterr().out == ""  # nothing recorded: nothing to differ from


def test_the_recorded_image_size_applies_unless_given(capsys):
    """The size recorded with the weights replaces the config file's; --height/--width win, with one line each
    that differs; a malformed record is refused."""
    from src.errors import UserError
    recorded, source = {"image_size": [75, 90]}, "'w.ckpt'"
    plain = get_config(["--config_path", CPU_CONFIG])
    assert resolve_image_size(plain, {}, source) is plain
    cfg = resolve_image_size(plain, recorded, source)
    assert (cfg.height, cfg.width, cfg.batch_size, cfg.given("height")) == (75, 90, plain.batch_size, False)
    assert capsys.readouterr().out == ("image size: 75x90, recorded in 'w.ckpt' (the config says 299x299; "
                                       "--height/--width override it)\n")
    cfg = resolve_image_size(_config("--crop_pct", 0.5), recorded, source)
    assert (cfg.height, cfg.width, cfg.given("height"), cfg.given("crop_pct")) == (SIZE, SIZE, True, True)
    assert capsys.readouterr().out.splitlines() == [
        "image size: --width 75 differs from 90, which 'w.ckpt' were trained with"]
    with pytest.raises(UserError) as err:
        resolve_image_size(plain, {"image_size": [75, True]}, source)
    assert str(err.value) == ("'image_size' recorded in 'w.ckpt' must be [height, width] in pixels, got [75, True]: "
                              "pass --height and --width with the size the weights were trained at.")

def test_original_checkpoint_evaluates_with_the_original_preprocessing(trained_checkpoint, photos, monkeypatch,
                                                                       capsys):
    folder, files = photos
    cfg = _config("--num_classes", 10, "--dataset_path", folder, "--checkpoint_path", trained_checkpoint)
    images = _eval_inputs(monkeypatch, cfg)
    assert ("preprocessing: bilinear resize to 75, centre crop 75x75, mean 0.485 0.456 0.406, std 0.229 0.224 "
            "0.225") in capsys.readouterr().out
    assert np.abs(images - reference(files, **ORIGINAL)).max() < 1e-5


@pytest.mark.parametrize("values,message", [
    ({"image_mean": [0.5, 0.5]}, "'image_mean' in the configuration must be three numbers"),
    ({"image_std": [0.5, 0.0, 0.5]}, "'image_std' in the configuration must be three numbers in (0, 1]"),
    ({"image_std": [0.3, 0.01, 1.7]}, "'image_std' in the configuration must be three numbers in (0, 1]"),
    ({"image_mean": [0.5, -0.1, 0.5]}, "'image_mean' in the configuration must be three numbers in [0, 1]"),
    ({"crop_pct": 1.5}, "'crop_pct' in the configuration must lie in (0, 1]"),
])
def test_bad_preprocessing_values(values, message):
    from src.errors import UserError
    fields = {**Preprocessing().to_dict(), **values}
    with pytest.raises(UserError) as err:
        Preprocessing.from_values(fields, "in the configuration")
    assert message in str(err.value)
