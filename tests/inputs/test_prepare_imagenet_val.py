"""src.tools.prepare_imagenet_val: ImageNet's flat validation folder sorted into <wnid>/ class folders from the
devkit's ground truth (IDs mapped by a meta.mat written here with SciPy, in the devkit's structure) or Kaggle's
LOC_val_solution.csv; mismatches are one line naming the first one and leave nothing; eval.py's error for a flat
folder names the tool."""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from PIL import Image

from src.inputs.files import imagenet_class_ids
from src.model_utils.config import PROJECT_ROOT

WNIDS = imagenet_class_ids()
LABELS = [WNIDS[index] for index in (0, 999, 0, 314, 1)]
"""The classes of ILSVRC2012_val_00000001 ... _00000005."""
ILSVRC_IDS = {0: 449, 1: 7, 314: 602, 999: 1000}
"""Made-up ILSVRC2012_IDs of these classes: as in the devkit, not the sorted-wnid order (its IDs follow
another ordering of the synsets)."""


def prepare(*args):
    return subprocess.run([sys.executable, "-m", "src.tools.prepare_imagenet_val", *map(str, args)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """ILSVRC2012_img_val.tar's layout: the images in one folder, plus both label files and a devkit."""
    root = tmp_path_factory.mktemp("flat")
    images = root / "val_flat"
    images.mkdir()
    rng = np.random.default_rng(0)
    for number in range(1, len(LABELS) + 1):
        pixels = rng.integers(0, 256, (40 + number, 60, 3), np.uint8)
        Image.fromarray(pixels).save(images / f"ILSVRC2012_val_{number:08d}.JPEG", quality=90)
    # meta.mat: a 'synsets' struct array (1 x N) whose entries have ILSVRC2012_ID, WNID and the devkit's other
    # fields, in ILSVRC2012_ID order, plus a higher-level synset (ID above 1000, children) as in the devkit
    by_id = sorted((ilsvrc, WNIDS[index]) for index, ilsvrc in ILSVRC_IDS.items())
    by_id.append((1001, "n00001740"))
    synsets = np.zeros((1, len(by_id)), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"),
                                               ("num_children", "O")])
    for column, (ilsvrc, wnid) in enumerate(by_id):
        synsets[0, column] = (np.array([[ilsvrc]], np.uint16), np.array([wnid]), np.array(["words"]),
                              np.array([[0 if ilsvrc <= 1000 else 4]], np.uint8))
    (root / "devkit" / "data").mkdir(parents=True)
    scipy.io.savemat(root / "devkit" / "data" / "meta.mat", {"synsets": synsets})
    index_of = {wnid: index for index, wnid in enumerate(WNIDS)}
    (root / "ground_truth.txt").write_text("".join(f"{ILSVRC_IDS[index_of[wnid]]}\n" for wnid in LABELS))
    (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"ILSVRC2012_val_{number:08d},{wnid} 1 2 30 40 {wnid} 5 6 20 30 \n"
        for number, wnid in reversed(list(enumerate(LABELS, 1)))))
    return root


def tree(folder):
    return {wnid: sorted(os.listdir(folder / wnid)) for wnid in sorted(os.listdir(folder))}


EXPECTED = {WNIDS[0]: ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000003.JPEG"],
            WNIDS[1]: ["ILSVRC2012_val_00000005.JPEG"], WNIDS[314]: ["ILSVRC2012_val_00000004.JPEG"],
            WNIDS[999]: ["ILSVRC2012_val_00000002.JPEG"]}


def test_devkit_ground_truth_links_images_into_wnid_folders(flat, tmp_path):
    out = tmp_path / "val"
    run = prepare("--images", flat / "val_flat", "--labels", flat / "ground_truth.txt", "--devkit", flat / "devkit",
                  "--output", out)
    assert run.returncode == 0, run.stderr
    assert tree(out) == EXPECTED
    link = out / WNIDS[314] / "ILSVRC2012_val_00000004.JPEG"
    assert os.path.islink(link) and os.path.samefile(link, flat / "val_flat" / "ILSVRC2012_val_00000004.JPEG")
    assert f"5 images in 4 class folders of {out} (links)" in run.stdout
    assert os.listdir(tmp_path) == ["val"]


def test_kaggle_csv_with_copy(flat, tmp_path):
    out = tmp_path / "val"
    run = prepare("--images", flat / "val_flat", "--labels", flat / "LOC_val_solution.csv", "--output", out, "--copy")
    assert run.returncode == 0, run.stderr
    assert tree(out) == EXPECTED
    copied = out / WNIDS[0] / "ILSVRC2012_val_00000003.JPEG"
    assert not os.path.islink(copied)
    assert copied.read_bytes() == (flat / "val_flat" / "ILSVRC2012_val_00000003.JPEG").read_bytes()


def _edited(flat, tmp_path, drop_image=None, extra_image=None, gt_lines=None, csv_text=None):
    """A copy of the flat set with one change: (images folder, ground truth, csv)."""
    images = tmp_path / "images"
    images.mkdir()
    for name in os.listdir(flat / "val_flat"):
        if name != drop_image:
            os.symlink(flat / "val_flat" / name, images / name)
    if extra_image:
        os.symlink(flat / "val_flat" / "ILSVRC2012_val_00000001.JPEG", images / extra_image)
    truth = tmp_path / "ground_truth.txt"
    truth.write_text(gt_lines if gt_lines is not None else (flat / "ground_truth.txt").read_text())
    csv = tmp_path / "LOC_val_solution.csv"
    csv.write_text(csv_text if csv_text is not None else (flat / "LOC_val_solution.csv").read_text())
    return images, truth, csv


@pytest.mark.parametrize("change, kind, message", [
    ({"extra_image": "ILSVRC2012_val_00000009.JPEG"}, "gt",
     "1 image(s) of '{images}' have no label in '{labels}', the first 'ILSVRC2012_val_00000009.JPEG': pass the label "
     "file of these images."),
    ({"drop_image": "ILSVRC2012_val_00000002.JPEG"}, "gt",
     "1 image(s) labelled in '{labels}' are not in '{images}', the first 'ILSVRC2012_val_00000002': unpack the whole "
     "validation archive there, or pass its label file."),
    ({"extra_image": "ILSVRC2012_val_00000007.JPEG"}, "csv",
     "1 image(s) of '{images}' have no label in '{labels}', the first 'ILSVRC2012_val_00000007.JPEG'"),
    ({"drop_image": "ILSVRC2012_val_00000003.JPEG"}, "csv",
     "1 image(s) labelled in '{labels}' are not in '{images}', the first 'ILSVRC2012_val_00000003'"),
    ({"gt_lines": "449\n7\n449\n1234\n1\n"}, "gt",
     "label file '{labels}' line 4 is '1234', expected an ILSVRC2012_ID of"),
    ({"csv_text": "ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3 4\nILSVRC2012_val_00000002,\n"},
     "csv", "label file '{labels}' line 3 is 'ILSVRC2012_val_00000002,', expected ImageId,"),
    ({"csv_text": "id,label\n"}, "csv",
     "label file '{labels}' does not start with the header ImageId,PredictionString of Kaggle's LOC_val_solution.csv."),
])
def test_mismatches_and_bad_label_files_are_one_line_and_leave_nothing(flat, tmp_path, change, kind, message):
    images, truth, csv = _edited(flat, tmp_path, **change)
    labels = truth if kind == "gt" else csv
    out = tmp_path / "out" / "val"
    run = prepare("--images", images, "--labels", labels, "--devkit", flat / "devkit", "--output", out)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: " + message.format(images=images, labels=labels))
    assert len(run.stderr.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


def test_devkit_file_needs_the_devkit_and_output_must_be_new(flat, tmp_path):
    run = prepare("--images", flat / "val_flat", "--labels", flat / "ground_truth.txt", "--output", tmp_path / "v")
    assert run.returncode == 2 and "pass --devkit DEVKIT_DIR (the folder holding data/meta.mat)" in run.stderr
    run = prepare("--images", flat / "val_flat", "--labels", flat / "ground_truth.txt", "--devkit", tmp_path,
                  "--output", tmp_path / "v")
    assert run.returncode == 2 and f"devkit file '{tmp_path / 'data' / 'meta.mat'}' does not exist" in run.stderr
    run = prepare("--images", flat / "val_flat", "--labels", flat / "LOC_val_solution.csv", "--output", tmp_path)
    assert run.returncode == 2 and f"--output '{tmp_path}' already exists: pass a new folder name." in run.stderr
    assert not os.path.exists(tmp_path / "v")


def test_eval_on_the_flat_folder_points_to_the_tool(flat, trained_checkpoint):
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "eval.py"), "--config_path",
                          os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), "--num_classes", "10",
                          "--dataset_path", str(flat / "val_flat"), "--checkpoint_path", trained_checkpoint],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: dataset folder '{flat / 'val_flat'}' has image files "
                                 "(ILSVRC2012_val_00000001.JPEG, ...) directly inside it")
    assert "python -m src.tools.prepare_imagenet_val --images FLAT_DIR" in run.stderr
