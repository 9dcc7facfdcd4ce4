"""predict.py on the demo JPEGs: class names, CSV equal to what it prints, agreement with eval.py's pipeline
and with the ONNX export, skipped files (unreadable entries, formats the decoder cannot read), streaming with
a progress line and a stop that keeps the finished rows, and every bad input."""
import csv
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from conftest import run_entry_point
from src.dataset import create_dataset
from src.deploy.inference import load_network
from src.model_utils.config import PROJECT_ROOT, get_config

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
SHAPE = ["--config_path", CPU_CONFIG, "--height", "75", "--width", "75"]
LINE = re.compile(r"^(?P<image>\S+): (?P<top>.+)$")
ENTRY = re.compile(r"(\d+)\. (.+?) \((\d+)\) ([0-9.]+)")


def _without_permission_override():
    """In the child before exec: drop root's right to ignore file permissions (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding set), so that chmod 000 means unreadable to predict.py as to a user."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):
            libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def predict_command(*args):
    return [sys.executable, os.path.join(PROJECT_ROOT, "predict.py"), *map(str, args)]


def predict(*args, cwd=None):
    return subprocess.run(predict_command(*args), capture_output=True, text=True, cwd=cwd or PROJECT_ROOT,
                          preexec_fn=_without_permission_override)


def printed_rows(stdout):
    """[(image, rank, index, name, probability text)] from predict.py's per-image lines."""
    rows = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match and ENTRY.search(match.group("top")):
            for rank, name, index, prob in ENTRY.findall(match.group("top")):
                rows.append((match.group("image"), rank, index, name, prob))
    return rows


@pytest.fixture(scope="module")
def images(demo_data, tmp_path_factory):
    """Two held-out demo images of every class (class folders kept), a text file and a damaged JPEG."""
    folder = tmp_path_factory.mktemp("predict_images")
    source = os.path.join(demo_data, "imagenet", "val")
    for name in sorted(os.listdir(source)):
        os.makedirs(folder / name)
        for image in sorted(os.listdir(os.path.join(source, name)))[:2]:
            shutil.copy(os.path.join(source, name, image), folder / name)
    return folder


def test_predictions_names_csv_and_eval_pipeline_agree(trained_checkpoint, images, demo_data, tmp_path):
    junk = tmp_path / "with_junk"
    shutil.copytree(images, junk)
    (junk / "notes.txt").write_text("not an image\n")
    good = sorted(os.listdir(junk / "digit_0"))[0]
    (junk / "digit_0" / "broken.JPEG").write_bytes((junk / "digit_0" / good).read_bytes()[:300])
    out = tmp_path / "preds.csv"
    run = predict(*SHAPE, "--ckpt_file", trained_checkpoint, "--image", junk, "--topk", "3", "--batch_size", "8",
                  "--class_names", os.path.join(demo_data, "imagenet", "val"), "--output", out)
    assert run.returncode == 0, run.stderr
    assert "preprocessing: bilinear resize to 75, centre crop 75x75, mean 0.485 0.456 0.406, std 0.229 0.224 0.225" \
        in run.stdout
    assert f"skipped '{junk / 'notes.txt'}': not an image" in run.stdout
    assert f"skipped '{junk / 'digit_0' / 'broken.JPEG'}': damaged image" in run.stdout
    rows = printed_rows(run.stdout)
    with open(out, newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    assert table[0] == ["image", "rank", "class_index", "class_name", "probability"]
    assert [tuple(row) for row in table[1:]] == rows and len(rows) == 20 * 3
    assert all(name == f"digit_{index}" for _, _, index, name, _ in rows)  # names of the class folders

    # eval.py's way: the same checkpoint, the same pipeline over the same folder, in its reading order
    cfg = get_config(SHAPE + ["--num_classes", "10", "--batch_size", "8", "--ds_type", "imagenet"])
    net, _ = load_network(cfg, trained_checkpoint)
    predicted = np.concatenate([net(ms.Tensor(batch)).asnumpy().argmax(axis=1) for batch, _ in
                                create_dataset(cfg, str(images), False).create_tuple_iterator(num_epochs=1,
                                                                                              output_numpy=True)])
    files = [os.path.join(str(junk), name, image) for name in sorted(os.listdir(images))
             for image in sorted(os.listdir(images / name))]
    top1 = {image: int(index) for image, rank, index, _, _ in rows if rank == "1"}
    assert [top1[path] for path in files] == list(predicted)

    # eval.py's accuracy on the folder equals the share of images whose top-1 name is their folder's
    run_eval = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "eval.py"), *SHAPE, "--num_classes", "10",
                               "--dataset_path", str(images), "--checkpoint_path", trained_checkpoint],
                              capture_output=True, text=True)
    assert run_eval.returncode == 0, run_eval.stderr
    accuracy = float(re.search(r"'Top1-Acc': ([0-9.]+)", run_eval.stdout).group(1))
    names = {image: name for image, rank, _, name, _ in rows if rank == "1"}
    assert accuracy == pytest.approx(np.mean([names[path] == os.path.basename(os.path.dirname(path))
                                              for path in files]))


@pytest.mark.slow
def test_exported_files_give_the_same_classes(trained_checkpoint, images, tmp_path):
    """ONNX and MINDIR of batch 3 (20 images: the last batch padded) and a batch-dynamic ONNX file."""
    exports = {name: subprocess.Popen([sys.executable, os.path.join(PROJECT_ROOT, "export.py"), *SHAPE, "--num_classes",
                                       "10", "--ckpt_file", trained_checkpoint, "--file_format", fmt,
                                       "--export_batch_size", "3", *extra, "--file_name", str(tmp_path / name)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for name, fmt, extra in (("model.onnx", "ONNX", []), ("model.mindir", "MINDIR", []),
                                        ("dynamic.onnx", "ONNX", ["--dynamic_batch", "True"]))}
    for export in exports.values():
        assert export.wait(timeout=900) == 0, export.stderr.read()
    from_ckpt = predict(*SHAPE, "--ckpt_file", trained_checkpoint, "--image", images, "--topk", "2")
    assert from_ckpt.returncode == 0, from_ckpt.stderr
    ckpt_rows = printed_rows(from_ckpt.stdout)
    assert len(ckpt_rows) == 40
    assert all(name == index for _, _, index, name, _ in ckpt_rows)  # 10 classes, no names: the index
    # Size and preprocessing come from the exported files: no --height/--width.
    for name in exports:
        run = predict("--config_path", CPU_CONFIG, "--file_name", tmp_path / name, "--image", images, "--topk", "2")
        assert run.returncode == 0, (name, run.stderr)
        rows = printed_rows(run.stdout)
        assert [r[:4] for r in ckpt_rows] == [r[:4] for r in rows], name
        assert max(abs(float(a[4]) - float(b[4])) for a, b in zip(ckpt_rows, rows)) < 1e-4, name


@pytest.mark.parametrize("option,name,words", [
    ("--file_name", "model.ckpt", ["is a MindSpore checkpoint, not an ONNX model: pass checkpoints with --ckpt_file"]),
    ("--file_name", "model.air", ["is an exported AIR model", "scripts/run_infer_310.sh"]),
    ("--ckpt_file", "model.onnx", ["is an exported ONNX model, not a MindSpore checkpoint",
                                   "pass ONNX files with --file_name"]),
    ("--file_name", "absent.mindir", ["MINDIR model", "does not exist", "export.py --file_format MINDIR"]),
    ("--ckpt_file", "notes.mindir", ["is not a MINDIR model"]),
])
def test_a_model_file_of_the_wrong_kind_is_one_line(option, name, words, images, tmp_path, monkeypatch, capsys):
    path = tmp_path / name
    if not name.startswith("absent"):
        path.write_text("not a model\n")
    code, _, err = run_entry_point("predict.py", [*SHAPE, option, str(path), "--image", str(images)], monkeypatch,
                                   capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and f"{name}.onnx" not in err  # no path the user never typed
    for word in words:
        assert word in err


def test_bad_inputs_are_one_line(trained_checkpoint, images, tmp_path):
    wrong_names = tmp_path / "names.txt"
    wrong_names.write_text("a\nb\nc\n")
    only_text = tmp_path / "texts"
    only_text.mkdir()
    (only_text / "a.txt").write_text("hello")
    model = ["--ckpt_file", trained_checkpoint]
    cases = [
        (model, "no images given"),
        ([*model, "--image", tmp_path / "absent"], f"'{tmp_path / 'absent'}' does not exist"),
        (["--image", images], "pass exactly one model"),
        ([*model, "--file_name", "x.onnx", "--image", images], "pass exactly one model"),
        ([*model, "--image", images, "--topk", "0"], "--topk must be at least 1"),
        ([*model, "--image", images, "--class_names", wrong_names], "give 3 class names but the model has 10"),
        ([*model, "--image", images, "--output", images], f"--output '{images}' is a folder: pass a file name"),
        ([*model, "--image", only_text], "none of the 1 file(s) given with --image is a readable image"),
        (["--file_name", tmp_path / "absent.onnx", "--image", images], "does not exist"),
    ]
    for args, message in cases:
        run = predict(*SHAPE, *args)
        assert run.returncode == 2, (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr, (args, run.stderr)


def _val_subset(demo_data, folder, per_class):
    """`folder` holding the first `per_class` held-out demo images of every class (class folders kept)."""
    source = os.path.join(demo_data, "imagenet", "val")
    for name in sorted(os.listdir(source)):
        os.makedirs(folder / name)
        for image in sorted(os.listdir(os.path.join(source, name)))[:per_class]:
            shutil.copy(os.path.join(source, name, image), folder / name)
    return folder


@pytest.mark.slow
def test_a_checkpoint_is_used_at_the_size_it_was_trained_at(quickstart, demo_data, images, tmp_path):
    """The quickstart's checkpoint (75x75) records its size: predict.py and eval.py with a config that says
    299x299 and no --height/--width give the answers of an explicit --height 75 --width 75 run (issue 23: they
    gave chance accuracy)."""
    assert quickstart["run"].returncode == 0, quickstart["run"].stderr[-3000:]
    checkpoint = quickstart["checkpoint"]
    val = str(_val_subset(demo_data, tmp_path / "val", 4))
    note = f"image size: 75x75, recorded in '{checkpoint}' (the config says 299x299; --height/--width override it)"
    common = ["--config_path", CPU_CONFIG, "--num_classes", "10"]
    runs = {}
    for sized in (False, True):
        size = SHAPE[2:] if sized else []
        run = predict(*common, *size, "--ckpt_file", checkpoint, "--image", images, "--topk", "2")
        evaluation = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "eval.py"), *common, *size,
                                     "--ds_type", "imagenet", "--dataset_path", val, "--checkpoint_path", checkpoint],
                                    capture_output=True, text=True, cwd=tmp_path)
        for done in (run, evaluation):
            assert done.returncode == 0, done.stderr[-3000:]
            assert (note in done.stdout.splitlines()) != sized, done.stdout[-2000:]
            assert "centre crop 75x75" in done.stdout
        metric = [line for line in evaluation.stdout.splitlines() if line.startswith("metric:")]
        runs[sized] = (printed_rows(run.stdout), metric)
    rows, metric = runs[False]
    assert len(rows) == 2 * 20 and (rows, metric) == runs[True]
    top1 = float(re.search(r"'Top1-Acc': ([0-9.]+)", metric[0]).group(1))
    assert top1 > 0.8, metric  # the 75x75 answer (at 299x299: 0.1, chance)
    correct = [row for row in rows if row[1] == "1" and row[3] == os.path.basename(os.path.dirname(row[0]))]
    assert len(correct) > 0.8 * 20, rows


def test_unreadable_entries_and_undecodable_formats_are_named_and_skipped(trained_checkpoint, images, tmp_path):
    """Issue 23, items 3 and 9: the readable images are predicted, every other entry gets a line saying why and
    what to do."""
    folder = tmp_path / "photos"
    good = sorted((images / "digit_1").iterdir())[:2]
    folder.mkdir()
    for path in good:
        shutil.copy(path, folder)
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "gone.jpg").symlink_to("deleted.jpg")
    shutil.copy(good[0], folder / "secret.jpg")
    (folder / "secret.jpg").chmod(0)
    (folder / "locked").mkdir()
    shutil.copy(good[0], folder / "locked")
    (folder / "locked").chmod(0)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "anim.gif").write_bytes(b"GIF89a" + bytes(40))
    (folder / "photo.jpg").write_bytes(b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40))  # a WebP named .jpg
    try:
        run = predict(*SHAPE, "--ckpt_file", trained_checkpoint, "--image", folder, "--topk", "1")
    finally:
        (folder / "locked").chmod(0o755)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert [row[0] for row in printed_rows(run.stdout)] == [str(folder / path.name) for path in good]
    lines = set(run.stdout.splitlines())
    expected = [
        f"skipped folder '{folder / 'locked'}': it cannot be listed (Permission denied): chmod a+rx it",
        f"skipped '{folder / 'loop.jpg'}': it is a symbolic link loop (it leads back to itself): fix or remove the "
        "link",
        f"skipped '{folder / 'gone.jpg'}': it is a broken symbolic link (its target 'deleted.jpg' does not exist)",
        f"skipped '{folder / 'secret.jpg'}': it cannot be read: no read permission (chmod a+r it",
        f"skipped '{folder / 'pipe.jpg'}': not a regular file (a pipe, socket or device)",
        f"skipped '{folder / 'anim.gif'}': a GIF image, a format MindSpore's decoder cannot read (it reads JPEG, "
        "PNG, BMP or TIFF): convert it",
        f"skipped '{folder / 'photo.jpg'}': a WebP image, a format MindSpore's decoder cannot read",
    ]
    for text in expected:
        assert any(line.startswith(f"predict: {text}") for line in lines), (text, run.stdout)


def test_unreachable_paths_say_what_is_wrong(trained_checkpoint, tmp_path):
    """Issue 23, item 8: not "does not exist" for a link loop or a file in a closed folder, not "holds no
    files" for a folder that cannot be listed."""
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "a.jpg").write_bytes(b"x")
    cases = [
        (tmp_path / "loop.jpg", f"--image '{tmp_path / 'loop.jpg'}' is a symbolic link loop (it leads back to "
                                "itself): fix or remove the link."),
        (tmp_path / "closed" / "a.jpg", f"--image '{tmp_path / 'closed' / 'a.jpg'}' cannot be reached: no "
                                        f"permission to enter the folder '{tmp_path / 'closed'}' (chmod a+x it"),
        (tmp_path / "closed", f"--image folder '{tmp_path / 'closed'}' cannot be listed (Permission denied): "
                              "chmod a+rx it"),
    ]
    (tmp_path / "closed").chmod(0)
    try:
        for path, message in cases:
            run = predict(*SHAPE, "--ckpt_file", trained_checkpoint, "--image", path)
            assert run.returncode == 2, (path, run.stderr)
            assert run.stderr.strip().startswith(f"error: {message}") and len(run.stderr.splitlines()) == 1, \
                run.stderr
    finally:
        (tmp_path / "closed").chmod(0o755)


def test_rows_stream_with_progress_and_a_stop_keeps_the_finished_rows(trained_checkpoint, demo_data, tmp_path):
    """Issue 23, item 12: rows are printed and written batch by batch with a progress line; SIGINT while
    predicting leaves a CSV of the rows printed (complete rows only) and says so."""
    folder = tmp_path / "many"
    folder.mkdir()
    source = os.path.join(demo_data, "imagenet", "train", "digit_4")
    for index, name in enumerate(sorted(os.listdir(source)) * 2):
        os.link(os.path.join(source, name), folder / f"{index:04d}_{name}")
    total = len(os.listdir(folder))
    out = tmp_path / "preds.csv"
    with subprocess.Popen(predict_command(*SHAPE, "--ckpt_file", trained_checkpoint, "--image", folder, "--topk",
                                          "2", "--batch_size", "4", "--output", out),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT) as proc:
        shown = []
        for line in proc.stdout:
            shown.append(line)
            if line.startswith("predict: ") and " files done, " in line:
                with open(out, newline="", encoding="utf-8") as stream:
                    early = list(csv.reader(stream))  # the CSV already holds the first two batches
                proc.send_signal(signal.SIGINT)
                break
        rest, err = proc.communicate(timeout=120)
    stdout = "".join(shown) + rest
    progress = re.search(r"^predict: 8 of (\d+) files done, [0-9.]+ images/s, about \d+ (s|min \d+ s) left$",
                         stdout, re.M)
    assert progress and int(progress.group(1)) == total, stdout
    assert len(early) == 1 + 8 * 2
    rows = printed_rows(stdout)
    done = len(rows) // 2
    assert proc.returncode == 130, err
    assert err.strip() == (f"predict.py: stopped by SIGINT (Ctrl-C). It had predicted {done} images of the {total} "
                           f"files; '{out}' holds their rows (complete rows only)")
    assert 8 <= done < total and done % 4 == 0
    with open(out, newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    assert table[0] == ["image", "rank", "class_index", "class_name", "probability"]
    assert [tuple(row) for row in table[1:]] == rows
