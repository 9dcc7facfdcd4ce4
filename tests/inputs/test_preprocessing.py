"""The preprocessing travels with the weights: a converted timm checkpoint makes eval.py, predict.py and
eval_onnx.py (after export) feed mean/std 0.5, bicubic, crop 0.875 tensors; command-line values win and warn;
a checkpoint without a record gets the original's preprocessing."""
import math
import os
import shutil
import subprocess
import sys

import mindspore.dataset.vision as V
import numpy as np
import pytest
import sklearn.datasets
from PIL import Image

import eval as eval_script
import eval_onnx
import predict
import src.training.parts
from src.inputs.files import imagenet_class_ids, imagenet_class_names
from src.inputs.preprocessing import KEYS, SOURCES, Preprocessing, resolve_image_size, resolve_preprocessing
from src.deploy.inference import CheckpointModel, image_batches
from src.deploy.runners import OnnxClassifier
from src.model_utils.config import PROJECT_ROOT, get_config
from tests.timm_reference import photos_logp

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
SIZE = 75
TIMM_LINE = "preprocessing: bicubic (PIL) resize to 85, centre crop 75x75, mean 0.5 0.5 0.5, std 0.5 0.5 0.5"
PIL_FILTERS = {V.Inter.CUBIC: Image.BICUBIC, V.Inter.LINEAR: Image.BILINEAR}


def reference(paths, mean, std, interpolation, crop_pct, pil=False, floor=False, size=SIZE):
    """The tensors for `paths` computed here step by step: decode, resize the shorter side to
    round(size / crop_pct) (floor with `floor`) with the given interpolation, on the NumPy array with MindSpore
    or (`pil`) on the PIL image with PIL as torchvision does, crop the centre, (x / 255 - mean) / std, CHW."""
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        side = int(math.floor(size / crop_pct) if floor else round(size / crop_pct))
        if pil:
            width, height = image.size
            shape = (side, int(side * height / width)) if width < height else (int(side * width / height), side)
            image = image.resize(shape, PIL_FILTERS[interpolation])
            top, left = int(round((image.size[1] - size) / 2)), int(round((image.size[0] - size) / 2))
            image = np.asarray(image, np.float64)
        else:
            image = V.Resize(side, interpolation)(np.asarray(image)).astype(np.float64)
            top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        image = image[top:top + size, left:left + size]
        out.append(((image / 255.0 - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


TIMM = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation=V.Inter.CUBIC, crop_pct=0.875, pil=True,
            floor=True)
ORIGINAL = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), interpolation=V.Inter.LINEAR, crop_pct=1.0)


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
    real = src.training.parts.create_dataset

    def recording(*args, **kwargs):
        data = real(*args, **kwargs)
        fed.append(data)
        return data
    monkeypatch.setattr(src.training.parts, "create_dataset", recording)
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
    expected = reference(files, **{**TIMM, "mean": (0.485, 0.456, 0.406), "crop_pct": 1.0})
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
    from src.runtime.stops import UserError
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
    from src.runtime.stops import UserError
    fields = {**Preprocessing().to_dict(), **values}
    with pytest.raises(UserError) as err:
        Preprocessing.from_values(fields, "in the configuration")
    assert message in str(err.value)


SKLEARN_PHOTOS = [os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", name)
                  for name in ("china.jpg", "flower.jpg")]
"""The two JPEG files scikit-learn ships (427x640), timm's photos_logp.npz reference inputs."""
TIMM_PHOTOS_LINE = "preprocessing: bicubic (PIL) resize to 341, centre crop 299x299, mean 0.5 0.5 0.5, std 0.5 0.5 0.5"
LOGP_BOUND = 1e-4


def timm_photo_logp():
    return np.stack([photos_logp()[os.path.basename(path)] for path in SKLEARN_PHOTOS])


def test_predict_reproduces_timms_log_probabilities_from_the_jpeg_files(timm_checkpoint, tmp_path, monkeypatch,
                                                                         capsys):
    """timm's whole path (PIL's antialiased bicubic to floor(299 / 0.875) = 341, its centre crop, mean/std 0.5)
    from the JPEG file to the log-probabilities, through predict.py and the converted checkpoint."""
    for path in SKLEARN_PHOTOS:
        shutil.copy(path, tmp_path)
    got = []
    real = CheckpointModel.predict
    monkeypatch.setattr(CheckpointModel, "predict", lambda self, images: got.append(real(self, images)) or got[-1])
    predict.main(["--config_path", CPU_CONFIG, "--height", "299", "--width", "299", "--batch_size", "2",
                  "--ckpt_file", timm_checkpoint, "--image", str(tmp_path), "--topk", "1"])
    out = capsys.readouterr().out
    assert TIMM_PHOTOS_LINE in out.splitlines()
    assert np.abs(got[0] - timm_photo_logp()).max() <= LOGP_BOUND
    assert all(f"{tmp_path / os.path.basename(path)}: 1. {imagenet_class_names()[314]} (314)" in out
               for path in SKLEARN_PHOTOS)


def test_eval_reproduces_timms_log_probabilities_on_a_wordnet_id_folder(timm_checkpoint, tmp_path, monkeypatch,
                                                                         capsys):
    """eval.py's pipeline on val/<wnid>/<photo> (folders named as in ImageNet) feeds the network timm's own
    preprocessing: its scores equal timm's log-probabilities, and each photo is labelled by its folder's wnid."""
    import mindspore.nn
    wnids = imagenet_class_ids()
    for path, label in zip(SKLEARN_PHOTOS, (314, 0)):
        os.makedirs(tmp_path / wnids[label], exist_ok=True)
        shutil.copy(path, tmp_path / wnids[label])
    scored = []
    real = mindspore.nn.Top1CategoricalAccuracy.update

    def recording(self, *inputs):
        scored.append((inputs[0].asnumpy(), inputs[1].asnumpy()))
        return real(self, *inputs)
    monkeypatch.setattr(mindspore.nn.Top1CategoricalAccuracy, "update", recording)
    metrics, count = eval_script.run_eval(get_config([
        "--config_path", CPU_CONFIG, "--height", "299", "--width", "299", "--batch_size", "2", "--num_classes",
        "1000", "--dataset_path", str(tmp_path), "--checkpoint_path", timm_checkpoint]))
    out = capsys.readouterr().out
    assert TIMM_PHOTOS_LINE in out.splitlines()
    assert "eval: class folders labelled by WordNet id or name with the 1000 classes of" in out
    logp, labels = (np.concatenate(part) for part in zip(*scored))
    # ImageFolderDataset reads the sorted folders: n01440764 (flower, label 0) before the wnid of class 314
    assert count == 2 and list(labels) == [0, 314]
    assert np.abs(logp - timm_photo_logp()[::-1]).max() <= LOGP_BOUND
    assert metrics["Top1-Acc"] == 0.5  # the recipe weights give class 314 to both photos


def test_mindcv_preprocessing_gives_mindcvs_own_pixels(tmp_path, demo_data):
    """mindcv 0.3.0's create_transforms (floor(299 / 0.875) = 341, bilinear, NumPy arrays) and the mindcv
    record's pipeline give the same tensors, on the photos and on non-square demo images."""
    demo = os.path.join(demo_data, "imagenet", "val")
    paths = SKLEARN_PHOTOS + [os.path.join(demo, folder, sorted(os.listdir(os.path.join(demo, folder)))[0])
                              for folder in sorted(os.listdir(demo))[:2]]
    out = tmp_path / "mindcv.npy"
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "tests", "mindcv_transforms.py"), str(out), "299",
                          *paths], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    _, ours, _ = next(image_batches(paths, SOURCES["mindcv"], 299, 299, len(paths),
                                    lambda path, reason: pytest.fail(f"{path}: {reason}")))
    assert np.abs(ours - np.load(out)).max() <= 1e-5


def test_records_written_before_the_exact_fields_are_read_as_before_except_a_sources_own():
    """Records without resize_backend / resize_rounding: timm's values (only timm uses mean/std 0.5 with bicubic)
    and a converted checkpoint naming its source get that source's pipeline; any other is read as before."""
    cfg = _config()
    legacy = {key: SOURCES["timm"].to_dict()[key] for key in KEYS}
    assert resolve_preprocessing(cfg, {"preprocessing": legacy}) == SOURCES["timm"]
    mindcv = {key: SOURCES["mindcv"].to_dict()[key] for key in KEYS}
    assert resolve_preprocessing(cfg, {"preprocessing": mindcv, "converted_from": {"source": "mindcv"}}) == \
        SOURCES["mindcv"]
    trained = {**mindcv, "interpolation": "bicubic"}
    assert resolve_preprocessing(cfg, {"preprocessing": trained}) == Preprocessing(
        interpolation="bicubic", crop_pct=0.875)  # numpy resize, round(size / crop_pct): as before
    assert Preprocessing(crop_pct=0.875).resize_size(299, 299) == 342
    assert SOURCES["timm"].resize_size(299, 299) == SOURCES["mindcv"].resize_size(299, 299) == 341
    assert SOURCES["original"].resize_size(299, 299) == 299


def test_cifar10_defaults_to_cifar10s_statistics_and_a_record_keeps_its_own(capsys):
    """The original's CIFAR-10 pipeline normalises with CIFAR-10's mean/std: a checkpoint without a record gets
    them; a run recorded with other values and explicit command-line values keep theirs."""
    cifar = _config("--ds_type", "cifar10")
    assert resolve_preprocessing(cifar, {}).image_mean == (0.4914, 0.4822, 0.4465)
    assert resolve_preprocessing(cifar, {}).image_std == (0.2023, 0.1994, 0.2010)
    recorded = {"preprocessing": Preprocessing().to_dict()}
    assert resolve_preprocessing(cifar, recorded) == Preprocessing()
    given = _config("--ds_type", "cifar10", "--image_mean", "[0.5, 0.5, 0.5]")
    assert resolve_preprocessing(given, {}).image_mean == (0.5, 0.5, 0.5)
    assert resolve_preprocessing(given, {}).image_std == (0.2023, 0.1994, 0.2010)
    assert resolve_preprocessing(_config(), {}) == Preprocessing()  # ImageNet: the original's ImageNet values
    capsys.readouterr()


@pytest.mark.parametrize("values,message", [
    ({"resize_backend": "opencv"}, "'resize_backend' recorded in x is 'opencv'; allowed values: numpy, pil."),
    ({"resize_rounding": "ceil"}, "'resize_rounding' recorded in x is 'ceil'; allowed values: round, floor."),
])
def test_bad_exact_fields(values, message):
    from src.runtime.stops import UserError
    with pytest.raises(UserError) as err:
        Preprocessing.from_values({**Preprocessing().to_dict(), **values}, "recorded in x")
    assert str(err.value) == message
