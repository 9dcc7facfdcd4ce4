"""The demo dataset: real digits in the exact CIFAR-10 binary layout and as JPEG folders, one held-out split."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from src.inputs.files import CIFAR_RECORD_BYTES
from src.model_utils.config import PROJECT_ROOT
from src.runtime.stops import UserError
from src.tools.make_demo_data import DEFAULT_OUTPUT_DIR, JPEG_SIZE, digit_image, make_demo_data, split_indices

DIGITS = load_digits()
CIFAR_FILES = {"train": ("cifar10", "cifar-10-batches-bin", "data_batch_1.bin"),
               "val": ("cifar10", "cifar-10-verify-bin", "test_batch.bin")}


def jpeg_indices(demo_data, split):
    """{digit index: class folder} of the JPEG files of a split (names end in _<index>.JPEG)."""
    root = os.path.join(demo_data, "imagenet", split)
    return {int(name[:-5].rsplit("_", 1)[1]): folder
            for folder in os.listdir(root) for name in os.listdir(os.path.join(root, folder))}


def records(demo_data, split):
    path = os.path.join(demo_data, *CIFAR_FILES[split])
    with open(path, "rb") as stream:
        return path, stream.read()


@pytest.mark.parametrize("split", ["train", "val"])
def test_cifar_files_are_whole_records_in_the_official_layout(demo_data, split):
    path, data = records(demo_data, split)
    indices = sorted(jpeg_indices(demo_data, split))
    assert os.path.getsize(path) == len(indices) * CIFAR_RECORD_BYTES == len(data)
    for record, index in zip(np.frombuffer(data, np.uint8).reshape(-1, CIFAR_RECORD_BYTES), indices):
        label, planes = record[0], record[1:].reshape(3, 32, 32)  # 1 label byte, then R, G, B planes row-major
        assert label == DIGITS.target[index]
        assert np.array_equal(planes.transpose(1, 2, 0), digit_image(DIGITS.images[index], 32))


def test_rendered_digits_are_the_scanned_digits():
    for index in range(0, len(DIGITS.target), 97):
        image = digit_image(DIGITS.images[index], 32)
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
        blocks = image[:, :, 0].astype(float).reshape(8, 4, 8, 4).mean(axis=(1, 3))
        assert np.corrcoef(blocks.ravel(), DIGITS.images[index].ravel())[0, 1] > 0.9


def test_held_out_split_is_stratified_disjoint_and_shared_by_both_formats(demo_data):
    train, val = jpeg_indices(demo_data, "train"), jpeg_indices(demo_data, "val")
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(range(len(DIGITS.target)))
    assert (len(train), len(val)) == (1437, 360)
    for digit in range(10):
        total = np.sum(DIGITS.target == digit)
        held_out = sum(DIGITS.target[index] == digit for index in val)
        assert abs(held_out - 0.2 * total) <= 1
    for split, indices in (("train", train), ("val", val)):
        assert all(folder == f"digit_{DIGITS.target[index]}" for index, folder in indices.items())
        _, data = records(demo_data, split)
        assert list(np.frombuffer(data, np.uint8)[::CIFAR_RECORD_BYTES]) == [DIGITS.target[i] for i in sorted(indices)]


def test_jpeg_files_are_rgb_images_of_their_digit(demo_data):
    root = os.path.join(demo_data, "imagenet", "val", "digit_7")
    name = sorted(os.listdir(root))[0]
    with Image.open(os.path.join(root, name)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (JPEG_SIZE, JPEG_SIZE))
        pixels = np.asarray(image).astype(int)
    index = int(name[:-5].rsplit("_", 1)[1])
    assert np.abs(pixels - digit_image(DIGITS.images[index], JPEG_SIZE)).mean() < 3


def test_split_depends_only_on_the_seed():
    first, again, other = (split_indices(DIGITS.target, seed) for seed in (0, 0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])


def tree_digest(folder):
    digest = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as stream:
                digest[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha256(stream.read()).hexdigest()
    return digest


def test_rebuilding_gives_the_same_files_and_removes_stale_ones(demo_data, tmp_path):
    out = str(tmp_path / "demo")
    make_demo_data(out)
    stale = os.path.join(out, "imagenet", "train", "digit_0", "stale.JPEG")
    open(stale, "wb").close()
    make_demo_data(out)
    assert tree_digest(out) == tree_digest(demo_data)


def test_a_second_run_waits_for_the_first(demo_data, tmp_path):
    """Two quickstarts started together in one checkout both build data/demo: while one holds the folder (here
    the test holds it), the other waits (building takes about 2 s) and then writes the same files."""
    from src.tools.make_demo_data import _only_writer
    out = tmp_path / "demo"
    out.mkdir()
    command = [sys.executable, "-m", "src.tools.make_demo_data", "--output_dir", str(out)]
    with _only_writer(str(out)):
        run = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            run.wait(timeout=15)
        assert os.listdir(out) == []
    assert run.wait(timeout=120) == 0, run.stderr.read()
    assert tree_digest(str(out)) == tree_digest(demo_data)


def test_refuses_to_replace_folders_it_did_not_make(tmp_path):
    (tmp_path / "imagenet").mkdir()
    (tmp_path / "imagenet" / "precious.JPEG").write_bytes(b"user data")
    with pytest.raises(UserError, match=r"imagenet' exists and was not made by make_demo_data"):
        make_demo_data(str(tmp_path))
    assert (tmp_path / "imagenet" / "precious.JPEG").read_bytes() == b"user data"
    assert not (tmp_path / "cifar10").exists()
    with pytest.raises(UserError, match=r"output folder '.*precious.JPEG' is a file"):
        make_demo_data(str(tmp_path / "imagenet" / "precious.JPEG"))


def test_command_line_writes_the_dataset(tmp_path):
    result = subprocess.run([sys.executable, "-m", "src.tools.make_demo_data", "--output_dir", str(tmp_path / "d")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1437 training and 360 held-out" in result.stdout
    assert (tmp_path / "d" / "imagenet" / "val").is_dir()
    assert DEFAULT_OUTPUT_DIR == os.path.join(PROJECT_ROOT, "data", "demo")
