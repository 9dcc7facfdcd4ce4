"""Classes are identified by WordNet id and named by name: a validation tree laid out as ImageNet's
(val/n01440764/...) is evaluated with a converted timm checkpoint (1000 classes) by eval.py, eval_onnx.py and the
label-file tool, every image labelled with its folder's class; folders named by class name map to the same
index; checkpoints converted before class_ids were recorded, and the original's 1000-class checkpoints without a
record, still work; a folder that is neither keeps its refusal."""
import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn.datasets
from PIL import Image

import eval as eval_script
import eval_onnx
from src.checkpoint import checkpoint_metadata, read_checkpoint, save_checkpoint
from src.inputs.files import (evaluation_classes, folder_classes, imagenet_class_ids, imagenet_class_names,
                            list_image_folder, model_classes, read_class_names)
from src.inputs.preprocessing import resolve_preprocessing
from src.deploy.inference import CheckpointModel, image_batches
from src.deploy.metrics import TopKAccuracy
from src.model_utils.config import PROJECT_ROOT, get_config
from src.runtime.stops import UserError

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
SIZE = 75
WNIDS, NAMES = imagenet_class_ids(), imagenet_class_names()
PHOTOS = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
CROPS = [("china.jpg", (0, 0, 400, 300)), ("china.jpg", (200, 100, 640, 427)), ("flower.jpg", (0, 0, 427, 427)),
         ("flower.jpg", (100, 50, 500, 350)), ("china.jpg", (300, 0, 500, 400)), ("flower.jpg", (0, 200, 640, 427))]
"""Real photos (scikit-learn's JPEG files), cropped (left, top, right, bottom) into six different images."""


def _config(*extra):
    return get_config(["--config_path", CPU_CONFIG, "--height", str(SIZE), "--width", str(SIZE), "--batch_size", "4",
                       "--num_classes", "1000", *map(str, extra)])


@pytest.fixture(scope="module")
def val_tree(timm_checkpoint, tmp_path_factory):
    """val/<wnid or class name>/<image>.JPEG with the network's top-1 class known per image: images 0, 2 and 4 in
    the folder of their top-1 class (named by wnid; image 2's by its class name), the others in another class's
    wnid folder. Returns (folder, {image path: (label, top-1 correct)})."""
    root = tmp_path_factory.mktemp("imagenet_layout")
    flat = root / "flat"
    flat.mkdir()
    for number, (photo, box) in enumerate(CROPS):
        Image.open(os.path.join(PHOTOS, photo)).crop(box).save(flat / f"ILSVRC2012_val_{number + 1:08d}.JPEG",
                                                                quality=92)
    cfg = _config("--ckpt_file", timm_checkpoint)
    model = CheckpointModel(cfg)
    files = sorted(str(flat / name) for name in os.listdir(flat))
    paths, images, _ = next(image_batches(files, resolve_preprocessing(cfg, model.metadata), SIZE, SIZE, len(files),
                                          lambda path, reason: pytest.fail(f"{path}: {reason}")))
    top1 = model.predict(images).argmax(axis=1)
    val, expected = root / "val", {}
    for number, (path, predicted) in enumerate(zip(paths, top1)):
        label = int(predicted) if number % 2 == 0 else (int(predicted) + 17 * number) % 1000
        folder = val / (NAMES[label] if number == 2 else WNIDS[label])
        folder.mkdir(parents=True, exist_ok=True)
        os.rename(path, folder / os.path.basename(path))
        expected[str(folder / os.path.basename(path))] = (label, label == predicted)
    return val, expected


def _expected_in_reading_order(val, expected, class_names=NAMES, class_ids=WNIDS):
    listed = list_image_folder(str(val), class_names=class_names, class_ids=class_ids)
    assert sorted(listed.files) == sorted(expected)
    return [expected[path] for path in listed.files]


def _recording(monkeypatch, cls, method):
    """Record the (scores, labels) each call of cls.method gets."""
    calls = []
    real = getattr(cls, method)

    def recording(self, scores, labels):
        calls.append((np.asarray(scores.asnumpy() if hasattr(scores, "asnumpy") else scores),
                      np.asarray(labels.asnumpy() if hasattr(labels, "asnumpy") else labels)))
        return real(self, scores, labels)
    monkeypatch.setattr(cls, method, recording)
    return calls


def _per_image(calls):
    scores, labels = (np.concatenate(part) for part in zip(*calls))
    return [(int(label), bool(row.argmax() == label)) for row, label in zip(scores, labels)]


def test_eval_labels_wordnet_id_and_name_folders_with_the_models_classes(timm_checkpoint, val_tree, monkeypatch,
                                                                         capsys):
    import mindspore.nn
    val, expected = val_tree
    calls = _recording(monkeypatch, mindspore.nn.Top1CategoricalAccuracy, "update")
    metrics, count = eval_script.run_eval(_config("--dataset_path", val, "--checkpoint_path", timm_checkpoint))
    assert "eval: class folders labelled by WordNet id or name with the 1000 classes" in capsys.readouterr().out
    per_image = _expected_in_reading_order(val, expected)
    assert _per_image(calls) == per_image and count == len(CROPS)
    assert metrics["Top1-Acc"] == pytest.approx(np.mean([correct for _, correct in per_image]))
    assert 0 < metrics["Top1-Acc"] < 1


@pytest.fixture(scope="module")
def timm_onnx(timm_checkpoint, tmp_path_factory):
    name = str(tmp_path_factory.mktemp("timm_onnx") / "timm")
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "export.py"), "--config_path", CPU_CONFIG,
                          "--num_classes", "1000", "--height", str(SIZE), "--width", str(SIZE), "--ckpt_file",
                          timm_checkpoint, "--file_format", "ONNX", "--export_batch_size", "4", "--file_name", name],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    return name + ".onnx"


@pytest.mark.slow
def test_eval_onnx_labels_the_tree_as_eval_does(timm_onnx, val_tree, monkeypatch):
    from src.deploy.runners import OnnxClassifier
    assert model_classes(OnnxClassifier(timm_onnx, "CPU").metadata) == (NAMES, WNIDS)  # exported with the weights
    val, expected = val_tree
    calls = _recording(monkeypatch, TopKAccuracy, "update")
    accuracy = eval_onnx.run_eval_onnx(_config("--dataset_path", val, "--file_name", timm_onnx))
    per_image = _expected_in_reading_order(val, expected)
    assert _per_image(calls) == per_image
    assert accuracy.accuracy()[1] == pytest.approx(np.mean([correct for _, correct in per_image]))


def _label_file(model, val, tmp_path):
    out = tmp_path / f"labels_{os.path.basename(model)}.txt"
    run = subprocess.run([sys.executable, "-m", "src.tools.make_label_file", "--dataset_path", str(val),
                          "--label_file", str(out), "--model", str(model)], capture_output=True, text=True,
                         cwd=PROJECT_ROOT)
    return run, out


def test_label_file_numbers_the_tree_by_wordnet_id_also_for_a_checkpoint_without_class_ids(timm_checkpoint,
                                                                                           val_tree, tmp_path):
    """A checkpoint converted before class_ids were recorded (its 1000 names are ImageNet-1k's) labels the tree
    as today's does."""
    val, expected = val_tree
    wanted = sorted(f"{os.path.splitext(os.path.basename(path))[0]}:{label}\n"
                    for path, (label, _) in expected.items())
    params = read_checkpoint(timm_checkpoint)
    metadata = checkpoint_metadata(params)
    assert metadata["class_ids"] == WNIDS
    old = tmp_path / "names_only.ckpt"
    save_checkpoint(params, str(old), metadata={key: value for key, value in metadata.items() if key != "class_ids"})
    for model in (timm_checkpoint, old):
        run, out = _label_file(model, val, tmp_path)
        assert run.returncode == 0, run.stderr
        assert "(folders named by WordNet id or by name)" in run.stdout
        assert sorted(out.read_text().splitlines(keepends=True)) == wanted


def test_a_folder_that_is_neither_a_wordnet_id_nor_a_name_is_refused(timm_checkpoint, val_tree, tmp_path):
    val, _ = val_tree
    odd = tmp_path / "val"
    odd.mkdir()
    for entry in os.listdir(val):
        os.symlink(val / entry, odd / entry)
    (odd / "n99999999").mkdir()
    Image.new("RGB", (80, 80)).save(odd / "n99999999" / "x.JPEG")
    run, out = _label_file(timm_checkpoint, odd, tmp_path)
    assert run.returncode == 2 and not out.exists()
    assert run.stderr.startswith(f"error: class folder(s) 'n99999999' of '{odd}' are not classes of the model, whose "
                                 "1000 classes are 'tench', 'goldfish', 'great white shark', 'tiger shark', "
                                 "'hammerhead' and 995 more (WordNet ids 'n01440764', 'n01443537' and 998 more): "
                                 "remove or rename those folders")


def test_original_checkpoint_without_a_record_knows_imagenets_classes(tmp_path):
    """1000 classes and no record (the original's checkpoints): ImageNet-1k's wnids and names label a wnid tree
    holding some of its classes; other folders keep the sorted-folder rule and its refusal."""
    for wnid in (WNIDS[3], WNIDS[500]):
        (tmp_path / "val" / wnid).mkdir(parents=True)
    assert evaluation_classes(str(tmp_path / "val"), "imagenet", 1000, {}, "'m.ckpt'") == (NAMES, WNIDS)
    (tmp_path / "digits" / "0").mkdir(parents=True)
    with pytest.raises(UserError, match="has 1 class folders but 'm.ckpt' has 1000 classes and records no class"):
        evaluation_classes(str(tmp_path / "digits"), "imagenet", 1000, {}, "'m.ckpt'")


def test_a_wordnet_id_training_tree_records_names_and_ids():
    """train.py records a wnid tree's classes by name, with the wnids as class_ids (src.inputs.files)."""
    folders = [WNIDS[2], WNIDS[7], WNIDS[999]]
    assert folder_classes(folders) == ([NAMES[2], NAMES[7], NAMES[999]], folders)
    assert folder_classes(["cat", "dog"]) == (["cat", "dog"], None)
    assert model_classes({"class_names": [NAMES[2], NAMES[7]], "class_ids": [WNIDS[2], WNIDS[7]]}) == \
        ([NAMES[2], NAMES[7]], [WNIDS[2], WNIDS[7]])
    assert model_classes({"class_names": ["cat", "dog"]}) == (["cat", "dog"], None)
    assert model_classes({}) == (None, None)


def test_class_names_from_a_folder_are_those_training_records(tmp_path):
    """predict.py --class_names FOLDER: a WordNet-id tree gives ImageNet's names, an ImageNet root its train/
    split's classes (not ['train', 'val']), a folder of other names those names."""
    for split, folders in (("train", [WNIDS[7], WNIDS[2]]), ("val", [WNIDS[7], WNIDS[2], WNIDS[999]])):
        for folder in folders:
            (tmp_path / "root" / split / folder).mkdir(parents=True)
    (tmp_path / "names" / "dog").mkdir(parents=True)
    (tmp_path / "names" / "cat").mkdir()
    assert read_class_names(str(tmp_path / "root")) == [NAMES[2], NAMES[7]]
    assert read_class_names(str(tmp_path / "root" / "val")) == [NAMES[2], NAMES[7], NAMES[999]]
    assert read_class_names(str(tmp_path / "names")) == ["cat", "dog"]
