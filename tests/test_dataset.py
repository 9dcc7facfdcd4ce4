"""Both input pipelines on the demo data: batches, values, order, shards, and every bad-input message."""
import os
import shutil
import subprocess
import sys
from collections import Counter

import mindspore.dataset as ds
import numpy as np
import pytest
from PIL import Image

from src.inputs.files import CIFAR_RECORD_BYTES, cifar_files, image_data_problem, list_image_folder, read_cifar_file
from src.inputs.preprocessing import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from src.dataset import (create_dataset, create_dataset_cifar10, create_dataset_imagenet, explain_pipeline_errors,
                         worker_count)
from src.model_utils.config import PROJECT_ROOT, Config, get_config
from src.runtime.stops import UserError
from src.tools.check_dataset import main as check_dataset

TRAIN_SIZE, VAL_SIZE = 1437, 360
NORM = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "cifar10": (CIFAR10_MEAN, CIFAR10_STD)}
"""Both pipelines normalise with image_mean / image_std: the config's ImageNet values, CIFAR-10's own for cifar10
(the original's CIFAR-10 pipeline) unless given on the command line."""


def data_config(ds_type="imagenet", batch_size=8, size=75, num_classes=10, work_nums=2, *extra):
    return get_config(["--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), "--ds_type", ds_type,
                       "--width", str(size), "--height", str(size), "--batch_size", str(batch_size),
                       "--num_classes", str(num_classes), "--work_nums", str(work_nums), *extra])


def split_path(demo_data, ds_type, split):
    return os.path.join(demo_data, "cifar10") if ds_type == "cifar10" else os.path.join(demo_data, "imagenet", split)


def batches(data_set):
    return list(data_set.create_tuple_iterator(output_numpy=True, num_epochs=1))


def labels_of(data_set):
    return np.concatenate([labels for _, labels in batches(data_set)])


def source_rows(data_set):
    """The raw samples (file bytes or CIFAR pixels) a pipeline reads, in reading order, before any transform."""
    while data_set.children:
        data_set = data_set.children[0]
    return [row["image"].tobytes() for row in data_set.create_dict_iterator(num_epochs=1, output_numpy=True)]


def normalised_range(ds_type):
    mean, std = (np.asarray(v) for v in NORM[ds_type])
    return -mean / std, (1 - mean) / std


def cifar_records(labels, rng):
    """CIFAR-10 binary records with the given labels and random colour pixels."""
    pixels = rng.integers(0, 256, (len(labels), CIFAR_RECORD_BYTES - 1), dtype=np.uint8)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], pixels], axis=1).tobytes()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(data)
    return path


def small_image_folder(demo_data, folder, classes=("digit_0", "digit_1"), per_class=3):
    """A copy of the first images of a few demo classes."""
    for name in classes:
        source = os.path.join(demo_data, "imagenet", "val", name)
        os.makedirs(os.path.join(folder, name))
        for image in sorted(os.listdir(source))[:per_class]:
            shutil.copy(os.path.join(source, image), os.path.join(folder, name))
    return str(folder)


# ---------------------------------------------------------------------------------------------------------
# Batches on the demo data
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ds_type", ["imagenet", "cifar10"])
def test_training_batches_are_normalised_nchw_float32_with_int32_labels(demo_data, ds_type):
    data_set = create_dataset(data_config(ds_type), split_path(demo_data, ds_type, "train"), do_train=True)
    assert data_set.get_dataset_size() == TRAIN_SIZE // 8  # the incomplete last batch is dropped
    images, labels = batches(data_set)[0]
    assert images.shape == (8, 3, 75, 75) and images.dtype == np.float32
    assert labels.shape == (8,) and labels.dtype == np.int32
    assert set(labels) <= set(range(10)) and len(set(labels)) > 1  # shuffled: sorted order starts with 8 zeros
    low, high = normalised_range(ds_type)
    for channel in range(3):
        assert low[channel] - 1e-4 <= images[:, channel].min() and images[:, channel].max() <= high[channel] + 1e-4
    assert images.max() - images.min() > 2


@pytest.mark.parametrize("val_name", ["val", "validation_preprocess"])
def test_an_imagenet_root_is_read_split_by_split(demo_data, tmp_path, val_name):
    os.symlink(os.path.join(demo_data, "imagenet", "train"), tmp_path / "train")
    os.symlink(os.path.join(demo_data, "imagenet", "val"), tmp_path / val_name)
    cfg = data_config(batch_size=40)
    assert create_dataset(cfg, str(tmp_path), True).get_dataset_size() == TRAIN_SIZE // 40
    assert np.array_equal(labels_of(create_dataset(cfg, str(tmp_path), False)),
                          list_image_folder(os.path.join(demo_data, "imagenet", "val")).labels)


@pytest.mark.parametrize("ds_type", ["imagenet", "cifar10"])
def test_evaluation_reads_every_held_out_image_once_in_a_fixed_order(demo_data, ds_type):
    path = split_path(demo_data, ds_type, "val")
    cfg = data_config(ds_type, batch_size=7)
    first, second = batches(create_dataset(cfg, path, False)), batches(create_dataset(cfg, path, False))
    assert [len(labels) for _, labels in first] == [7] * (VAL_SIZE // 7) + [VAL_SIZE % 7]  # nothing dropped
    expected = (list_image_folder(path).labels if ds_type == "imagenet" else
                read_cifar_file(cifar_files(path, False)[0])[1])
    assert np.array_equal(np.concatenate([labels for _, labels in first]), expected)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(first, second))
    images = np.concatenate([images for images, _ in first])
    low, high = normalised_range(ds_type)
    for channel in range(3):  # black background and white ink of the digits reach both ends
        assert abs(images[:, channel].min() - low[channel]) < 0.05
        assert high[channel] - 0.5 < images[:, channel].max() <= high[channel] + 1e-4


@pytest.mark.parametrize("crop_pct,red_end,blue_start", [("1.0", 60, 66), ("0.875", 62, 70)])
def test_imagenet_evaluation_resizes_the_shorter_side_crops_the_centre_and_keeps_rgb(tmp_path, crop_pct, red_end,
                                                                                      blue_start):
    # 100 x 200 PNG (exact colours): red left of column 133, blue right of it. crop_pct 1.0 (the original's
    # Resize(75) + CenterCrop(75)) gives 75 x 150 and keeps columns 37..111: the edge lands at crop column ~63.
    # crop_pct 0.875 resizes the shorter side to round(75 / 0.875) = 86 (86 x 172) and keeps columns 48..122:
    # the edge lands at ~66. Squashing to a square instead would put it at ~50.
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :133, 0] = 255
    pixels[:, 133:, 2] = 255
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
        Image.fromarray(pixels).save(tmp_path / name / "edge.png")
    cfg = data_config("imagenet", 2, 75, 10, 2, "--crop_pct", crop_pct)
    images, labels = batches(create_dataset_imagenet(cfg, str(tmp_path), False))[0]
    assert list(labels) == [0, 1] and images.shape == (2, 3, 75, 75)
    mean, std = (np.asarray(v)[:, None, None] for v in NORM["imagenet"])
    red = (np.array([1.0, 0, 0])[:, None, None] - mean) / std
    blue = (np.array([0, 0, 1.0])[:, None, None] - mean) / std
    assert np.allclose(images[0][:, :, :red_end], red, atol=1e-3)
    assert np.allclose(images[0][:, :, blue_start:], blue, atol=1e-3)
    assert not np.allclose(images[0][:, :, red_end:blue_start], red, atol=1e-3)


def test_cifar_evaluation_images_are_the_records_pixels_normalised(tmp_path):
    data = cifar_records(np.arange(20) % 10, np.random.default_rng(0))
    write(str(tmp_path / "cifar-10-verify-bin" / "test_batch.bin"), data)
    # 32x32 keeps the records' pixels unresized: the pipeline takes any size (the config refuses sizes below the
    # network's 75x75 minimum, so the size is set on the checked config's values).
    cfg = Config({**data_config("cifar10", 20).to_dict(), "height": 32, "width": 32})
    images, labels = batches(create_dataset_cifar10(cfg, str(tmp_path), False))[0]
    records = np.frombuffer(data, np.uint8).reshape(20, CIFAR_RECORD_BYTES)
    mean, std = (np.asarray(v)[:, None, None] for v in NORM["cifar10"])
    expected = (records[:, 1:].reshape(20, 3, 32, 32) / 255.0 - mean) / std  # planes R, G, B -> channels 0, 1, 2
    assert np.array_equal(labels, records[:, 0]) and np.allclose(images, expected, atol=1e-5)


def test_cifar_reads_every_record_of_files_of_any_length_in_numeric_order(tmp_path):
    rng = np.random.default_rng(0)
    first, second = np.arange(10_001) % 10, np.array([7, 8, 9])  # more than MindSpore's Cifar10Dataset reads
    write(str(tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"), cifar_records(first, rng))
    write(str(tmp_path / "cifar-10-batches-bin" / "data_batch_10.bin"), cifar_records(second, rng))
    data_set = create_dataset(data_config("cifar10", batch_size=1000), str(tmp_path), True, shuffle=False)
    assert data_set.get_dataset_size() == 10_004 // 1000
    while data_set.children:
        data_set = data_set.children[0]
    read = [int(row["label"]) for row in data_set.create_dict_iterator(num_epochs=1, output_numpy=True)]
    assert read == list(first) + list(second)


def test_official_archive_layout_evaluates_its_test_batch(tmp_path):
    rng = np.random.default_rng(0)
    write(str(tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin"), cifar_records([1] * 20, rng))
    write(str(tmp_path / "cifar-10-batches-bin" / "test_batch.bin"), cifar_records([2] * 5, rng))
    assert list(labels_of(create_dataset(data_config("cifar10"), str(tmp_path), False))) == [2] * 5
    assert set(labels_of(create_dataset(data_config("cifar10"), str(tmp_path), True))) == {1}



def test_shuffle_argument_overrides_the_default(demo_data):
    train, val = (os.path.join(demo_data, "imagenet", split) for split in ("train", "val"))
    cfg = data_config(batch_size=32)
    assert np.all(np.diff(labels_of(create_dataset(cfg, train, True, shuffle=False))) >= 0)
    shuffled = labels_of(create_dataset(cfg, val, False, shuffle=True))
    in_order = list_image_folder(val).labels
    assert sorted(shuffled) == sorted(in_order) and not np.array_equal(shuffled, in_order)


# ---------------------------------------------------------------------------------------------------------
# Distributed shards and workers
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ds_type", ["imagenet", "cifar10"])
def test_evaluation_shards_are_disjoint_and_cover_every_image_once(demo_data, ds_type):
    path, cfg = split_path(demo_data, ds_type, "val"), data_config(ds_type)
    whole = Counter(source_rows(create_dataset(cfg, path, False)))
    shards = [Counter(source_rows(create_dataset(cfg, path, False, rank_id=rank, group_size=7))) for rank in range(7)]
    assert len(whole) == VAL_SIZE
    assert sum(shards, Counter()) == whole  # 360 = 4 x 51 + 3 x 52: no image padded in twice
    assert sorted(sum(shard.values()) for shard in shards) == [51] * 4 + [52] * 3


@pytest.mark.parametrize("ds_type", ["imagenet", "cifar10"])
def test_training_shards_are_equal_and_together_cover_the_data(demo_data, ds_type):
    path, cfg = split_path(demo_data, ds_type, "train"), data_config(ds_type)
    ds.config.set_seed(1)
    everything = set(source_rows(create_dataset(cfg, path, True)))
    shards = [source_rows(create_dataset(cfg, path, True, rank_id=rank, group_size=2)) for rank in range(2)]
    assert len(everything) == TRAIN_SIZE
    assert len(shards[0]) == len(shards[1]) == (TRAIN_SIZE + 1) // 2  # equal steps on every rank
    assert set(shards[0]) | set(shards[1]) == everything
    assert len(set(shards[0]) & set(shards[1])) <= 1  # only MindSpore's padding of the odd sample repeats
    assert create_dataset(cfg, path, True, rank_id=1, group_size=2).get_dataset_size() == (TRAIN_SIZE + 1) // 2 // 8


@pytest.mark.parametrize("ds_type", ["imagenet", "cifar10"])
def test_training_without_augment_uses_the_evaluation_preprocessing(demo_data, ds_type):
    path = split_path(demo_data, ds_type, "val")
    cfg = get_config(["--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), "--ds_type", ds_type,
                      "--width", "75", "--height", "75", "--batch_size", "8", "--num_classes", "10",
                      "--augment", "False"])
    if ds_type == "cifar10":  # training reads the training file: compare it with itself, augmented or not
        plain = batches(create_dataset(cfg, path, True, shuffle=False))
        augmented_cfg = data_config(ds_type)
        ds.config.set_seed(3)
        augmented = batches(create_dataset(augmented_cfg, path, True, shuffle=False))
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(plain, augmented))
        assert not all(np.array_equal(a[0], b[0]) for a, b in zip(plain, augmented))
        again = batches(create_dataset(cfg, path, True, shuffle=False))
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(plain, again))
        return
    train_view = batches(create_dataset(cfg, path, True, shuffle=False))
    eval_view = batches(create_dataset(cfg, path, False))
    assert len(train_view) == VAL_SIZE // 8  # training still drops the incomplete batch
    for (train_images, train_labels), (eval_images, eval_labels) in zip(train_view, eval_view):
        np.testing.assert_array_equal(train_images, eval_images)
        np.testing.assert_array_equal(train_labels, eval_labels)


def test_worker_count_is_capped_to_the_process_share_of_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert [worker_count(32), worker_count(3), worker_count(32, 4), worker_count(32, 16)] == [8, 3, 2, 1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)  # pinned by taskset
    assert worker_count(32, 8) == 3


def test_default_configs_do_not_oversubscribe_this_machine():
    for name in ("default_config.yaml", "default_config_gpu.yaml", "default_config_cpu.yaml"):
        cfg = get_config(["--config_path", os.path.join(PROJECT_ROOT, name)])
        assert 1 <= worker_count(cfg.work_nums) <= len(os.sched_getaffinity(0))


# ---------------------------------------------------------------------------------------------------------
# Bad input: clear messages before anything is compiled
# ---------------------------------------------------------------------------------------------------------

def _unknown_root(tmp_path, demo_data):
    """A dataset root whose split folders have names other than train/, val/, validation_preprocess/."""
    for split in ("training", "validation"):
        os.makedirs(tmp_path / "imagenet" / split / "digit_0")
    return str(tmp_path / "imagenet")


def _root_with(*splits):
    """An ImageNet root holding the given split folders, each with one class folder."""
    def make(tmp_path, demo_data):
        for split in splits:
            os.makedirs(tmp_path / "root" / split / "digit_0")
        return str(tmp_path / "root")
    return make


def _missing(tmp_path, demo_data):
    return str(tmp_path / "nowhere")


def _a_file(tmp_path, demo_data):
    return write(str(tmp_path / "data.bin"), b"x")


def _loose_images(tmp_path, demo_data):
    shutil.copy(os.path.join(demo_data, "imagenet", "val", "digit_0", sorted(os.listdir(
        os.path.join(demo_data, "imagenet", "val", "digit_0")))[0]), tmp_path / "photo.JPEG")
    return str(tmp_path)


def _class_folders_without_images(tmp_path, demo_data):
    for name in ("cat", "dog"):
        write(str(tmp_path / name / "notes.txt"), b"no images here")
    return str(tmp_path)


def _one_empty_class_folder(tmp_path, demo_data):
    folder = small_image_folder(demo_data, tmp_path / "data")
    os.makedirs(os.path.join(folder, "digit_5"))
    return folder


def _eleven_classes(tmp_path, demo_data):
    folder = small_image_folder(demo_data, tmp_path / "data", per_class=1)
    for extra in range(9):
        shutil.copytree(os.path.join(folder, "digit_0"), os.path.join(folder, f"extra_{extra}"))
    return folder


def _six_images(tmp_path, demo_data):
    return small_image_folder(demo_data, tmp_path / "data")


def _empty_folder(tmp_path, demo_data):
    return str(tmp_path)


def _inner_cifar_folder(tmp_path, demo_data):
    return os.path.join(demo_data, "cifar10", "cifar-10-batches-bin")


def _cifar_batch(tmp_path, name, labels):
    """Write <tmp_path>/cifar-10-batches-bin/<name> with records of `labels`; return its bytes."""
    data = cifar_records(labels, np.random.default_rng(0))
    write(str(tmp_path / "cifar-10-batches-bin" / name), data)
    return data


def _cifar_without_test_batch(tmp_path, demo_data):
    _cifar_batch(tmp_path, "data_batch_1.bin", [0] * 8)
    return str(tmp_path)


def _cifar_batches_bin_without_batches(tmp_path, demo_data):
    write(str(tmp_path / "cifar-10-batches-bin" / "readme.html"), b"<html></html>")
    return str(tmp_path)


def _truncated_cifar(tmp_path, demo_data):
    _cifar_batch(tmp_path, "data_batch_1.bin", [0] * 8)
    whole = _cifar_batch(tmp_path, "data_batch_2.bin", [0] * 8)
    write(str(tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"), whole[:-5])
    return str(tmp_path)


def _empty_cifar_file(tmp_path, demo_data):
    write(str(tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin"), b"")
    return str(tmp_path)


def _cifar_label_out_of_range(tmp_path, demo_data):
    _cifar_batch(tmp_path, "data_batch_1.bin", [3] * 8 + [12])
    return str(tmp_path)


BAD_INPUTS = {
    "empty path": ("imagenet", True, lambda tmp_path, demo_data: "", r"no dataset path given: set dataset_path"),
    "missing folder": ("imagenet", True, _missing,
                       r"dataset path '.*nowhere' does not exist: expected a folder laid out"),
    "a file": ("imagenet", False, _a_file, r"dataset path '.*data\.bin' is a file, not a folder"),
    "dataset root": ("imagenet", True, _unknown_root,
                     r"'.*imagenet' looks like a dataset root: its sub-folders \(training, validation\) hold folders.*"
                     r"e\.g\. '.*imagenet.training'"),
    "root without train/": ("imagenet", True, _root_with("val"),
                            r"^ImageNet root '.*root' has no training folder \(looked for '.*root/train'\)"),
    "root without a validation folder": ("imagenet", False, _root_with("train"),
                                         r"^ImageNet root '.*root' has no validation folder \(looked for "
                                         r"'.*root/val' or '.*root/validation_preprocess'\)"),
    "root with two validation folders": ("imagenet", False, _root_with("train", "val", "validation_preprocess"),
                                         r"^ImageNet root '.*root' holds both val/ and validation_preprocess/: pass "
                                         r"the validation folder to use itself, e\.g\. '.*root/val'\.$"),
    "images without class folders": ("imagenet", True, _loose_images,
                                     r"has image files \(photo\.JPEG, \.\.\.\) directly inside it: expected "
                                     r"<folder>/<class name>/<image>\.JPEG"),
    "no class folders": ("imagenet", False, _empty_folder, r"has no class folders: expected <folder>/<class name>"),
    "class folders without images": ("imagenet", True, _class_folders_without_images,
                                     r"has no image files \(\.jpeg, \.jpg, .*\) in its 2 class folders"),
    "an empty class folder": ("imagenet", False, _one_empty_class_folder,
                              r"1 class folder\(s\) of '.*data' have no image files: '.*digit_5'"),
    "more classes than num_classes": ("imagenet", True, _eleven_classes,
                                      r"has 11 class folders but num_classes is 10: set --num_classes 11"),
    "too few images for one batch": ("imagenet", True, _six_images,
                                     r"has 6 images: 6 per device, fewer than one batch of batch_size 8.*"
                                     r"--batch_size 6 or less"),
    "cifar: missing folder": ("cifar10", True, _missing, r"dataset path '.*nowhere' does not exist: expected a "
                                                         r"folder laid out as <folder>/cifar-10-batches-bin"),
    "cifar: no binary files": ("cifar10", True, _empty_folder,
                               r"CIFAR-10 folder '.*' has no '.*cifar-10-batches-bin' with data_batch_\*\.bin files"),
    "cifar: batches folder without batches": ("cifar10", True, _cifar_batches_bin_without_batches,
                                              r"has no '.*cifar-10-batches-bin' with data_batch_\*\.bin files"),
    "cifar: inner folder": ("cifar10", True, _inner_cifar_folder,
                            r"You passed the inner folder: pass its parent '.*cifar10'"),
    "cifar: no test batch": ("cifar10", False, _cifar_without_test_batch,
                             r"has no '.*cifar-10-verify-bin.test_batch\.bin'"),
    "cifar: truncated file": ("cifar10", True, _truncated_cifar,
                              rf"CIFAR-10 file '.*data_batch_2\.bin' has {8 * CIFAR_RECORD_BYTES - 5} bytes, not a "
                              r"whole number of 3073-byte records.*truncated"),
    "cifar: empty file": ("cifar10", True, _empty_cifar_file, r"CIFAR-10 file '.*data_batch_1\.bin' has 0 bytes"),
    "cifar: label out of range": ("cifar10", True, _cifar_label_out_of_range,
                                  r"'.*data_batch_1\.bin' holds label 12 but num_classes is 10"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_clear_message(case, tmp_path, demo_data):
    ds_type, do_train, make, message = BAD_INPUTS[case]
    with pytest.raises(UserError, match=message):
        create_dataset(data_config(ds_type), make(tmp_path, demo_data), do_train)


def _damaged_headers(good):
    """A JPEG whose frame header names quantization table 3, which it never defines (crashes MindSpore's
    decoder, which is why the pipeline checks headers first)."""
    data = bytearray(good)
    frame = data.find(b"\xff\xc0")
    data[frame + 4 + 8] = 3  # first component's quantization table selector
    return bytes(data)


def _bad_scan_data(good):
    """Valid headers and end marker, but scan data libjpeg rejects: only the decoder can tell."""
    scan = good.find(b"\xff\xda")
    return good[:scan] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\xff\xc5" * 50 + b"\xff\xd9"


BAD_IMAGES = {
    "truncated": (lambda good: good[:len(good) // 2], "truncated JPEG: no end-of-image marker"),
    "not an image": (lambda good: b"<html>404 not found</html>", r"not a JPEG, PNG, BMP or TIFF image"),
    "empty": (lambda good: b"", "the file is empty"),
    "damaged headers": (_damaged_headers, "corrupt JPEG: quantization table 3 is not defined"),
    "undecodable": (_bad_scan_data, "Unsupported JPEG process"),
}


@pytest.mark.parametrize("do_train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind", BAD_IMAGES)
def test_a_bad_image_stops_the_pipeline_naming_the_file(kind, do_train, demo_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MindSpore's decoder dumps a failing image into the working folder
    folder = small_image_folder(demo_data, tmp_path / "data")
    first = os.path.join(folder, "digit_1", sorted(os.listdir(os.path.join(folder, "digit_1")))[0])
    with open(first, "rb") as stream:
        damage, problem = BAD_IMAGES[kind]
        bad = write(os.path.join(folder, "digit_1", "bad.JPEG"), damage(stream.read()))
    with pytest.raises(UserError) as error, explain_pipeline_errors():
        batches(create_dataset(data_config(batch_size=2), folder, do_train))
    message = str(error.value)
    assert message.startswith(f"bad image file '{bad}': ")
    assert problem in message.split("\n")[0]
    assert f"python -m src.tools.check_dataset --ds_type imagenet {folder}'" in message


def test_the_undecodable_image_passes_the_structural_check(demo_data):
    """So the test above does exercise the decoder's own failure message."""
    val = os.path.join(demo_data, "imagenet", "val", "digit_0")
    with open(os.path.join(val, sorted(os.listdir(val))[0]), "rb") as stream:
        assert image_data_problem(_bad_scan_data(stream.read())) is None


def test_other_pipeline_errors_pass_through_unchanged():
    with pytest.raises(RuntimeError, match="something else"), explain_pipeline_errors():
        raise RuntimeError("something else")


# ---------------------------------------------------------------------------------------------------------
# The dataset checker
# ---------------------------------------------------------------------------------------------------------

def test_checker_lists_every_bad_file_and_exits_1(demo_data, tmp_path, capsys):
    folder = small_image_folder(demo_data, tmp_path / "data")
    truncated = write(os.path.join(folder, "digit_0", "cut.JPEG"), b"\xff\xd8\xff\xe0\x00\x10JFIF")
    text = write(os.path.join(folder, "digit_1", "page.JPEG"), b"<html></html>")
    with pytest.raises(SystemExit) as exit_info:
        check_dataset(["--ds_type", "imagenet", folder])
    out = capsys.readouterr().out
    assert exit_info.value.code == 1
    assert f"bad image file '{truncated}': truncated JPEG" in out
    assert f"bad image file '{text}': not a JPEG, PNG, BMP or TIFF image" in out
    assert out.endswith(f"{folder}: 8 image files in 2 class folders checked, 2 bad\n")


def test_checker_finds_a_bad_file_among_many_with_worker_processes(demo_data, tmp_path):
    folder = str(tmp_path / "train")
    shutil.copytree(os.path.join(demo_data, "imagenet", "train"), folder)
    bad = write(os.path.join(folder, "digit_9", "zzz.JPEG"), b"")
    result = subprocess.run([sys.executable, "-m", "src.tools.check_dataset", folder, "--workers", "2"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [f"bad image file '{bad}': the file is empty",
                                          f"{folder}: {TRAIN_SIZE + 1} image files in 10 class folders checked, 1 bad"]


def test_checker_passes_a_good_folder_and_rejects_a_wrong_layout(demo_data):
    val, root = os.path.join(demo_data, "imagenet", "val"), os.path.join(demo_data, "imagenet")
    good = subprocess.run([sys.executable, "-m", "src.tools.check_dataset", "--ds_type", "imagenet", val],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0 and good.stdout == f"{val}: {VAL_SIZE} image files in 10 class folders checked, 0 bad\n"
    wrong = subprocess.run([sys.executable, "-m", "src.tools.check_dataset", root],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith(f"error: dataset folder '{root}' looks like a dataset root")
    assert "Traceback" not in wrong.stderr


def test_checker_reports_cifar_files(demo_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        check_dataset(["--ds_type", "cifar10", os.path.join(demo_data, "cifar10")])
    assert exit_info.value.code == 0
    assert f"data_batch_1.bin': {TRAIN_SIZE} records, labels 0-9" in capsys.readouterr().out
    folder = _truncated_cifar(tmp_path, demo_data)
    with pytest.raises(SystemExit) as exit_info:
        check_dataset(["--ds_type", "cifar10", folder])
    out = capsys.readouterr().out
    assert exit_info.value.code == 1
    assert "data_batch_1.bin': 8 records" in out and "bad CIFAR-10 file '" in out and "data_batch_2.bin' has" in out
    assert "note: CIFAR-10 folder" in out and "test_batch.bin" in out
