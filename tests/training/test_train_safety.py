"""train.py and eval.py never lose a run or report a wrong number: outputs checked before any work, clean stops on
SIGINT/SIGTERM with the resume command (and for export.py and predict.py, from their first moment), leftovers of killed runs removed, one run per folder, resuming at another
batch size, class names recorded at training and used by name at evaluation. Real processes, signals and files
on a 40-image ImageNet-style folder of the demo digits at 75x75."""
import ast
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

import mindspore as ms
import numpy as np
import pytest

from conftest import run_entry_point
from src.checkpoint import checkpoint_metadata, read_checkpoint
from src.inputs.files import CIFAR_TRAIN_DIR
from src.dataset import create_dataset
from src.model_utils.config import PROJECT_ROOT, get_config
from src.runtime.fileio import TEMPORARY_NAME
from src.runtime.stops import NAMES
from src.training.runs import RUN_FILE, previous_best, resume_point

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
CLASSES = [f"digit_{digit}" for digit in range(10)]
MISSING = "digit_3"
"""The class the validation folder lacks."""
TRAIN_PER_CLASS, VAL_PER_CLASS = 4, 2
"""40 training images: 5 steps of 8 per epoch; 18 validation images."""
SETTINGS = ["--config_path", CPU_CONFIG, "--num_classes", "10", "--width", "75", "--height", "75", "--batch_size", "8",
            "--work_nums", "1", "--lr_max", "0.01", "--lr_init", "0.001", "--epoch_size", "1",
            "--keep_checkpoint_max", "2"]
PREFIX = "inceptionv4-train"
TIMEOUT = 900


def _copy_classes(source, target, per_class, skip=()):
    for name in CLASSES:
        if name in skip:
            continue
        os.makedirs(os.path.join(target, name))
        for image in sorted(os.listdir(os.path.join(source, name)))[:per_class]:
            shutil.copy(os.path.join(source, name, image), os.path.join(target, name, image))
    return str(target)


@pytest.fixture(scope="module")
def folders(demo_data, tmp_path_factory):
    """train/ (40 images, 10 classes) and val/ (18 images, every class but MISSING) from the demo digits."""
    root = tmp_path_factory.mktemp("small_imagenet")
    demo = os.path.join(demo_data, "imagenet")
    return {"train": _copy_classes(os.path.join(demo, "train"), root / "train", TRAIN_PER_CLASS),
            "val": _copy_classes(os.path.join(demo, "val"), root / "val", VAL_PER_CLASS, skip=(MISSING,))}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The new runs here build the same graphs: MindSpore's compile cache lets later ones skip most compiling.
    Resumed runs do without (NO_CACHE): with the cache, MindSpore 2.10 crashed them with SIGSEGV."""
    return {**os.environ, "MS_COMPILER_CACHE_ENABLE": "1",
            "MS_COMPILER_CACHE_PATH": str(tmp_path_factory.mktemp("compile_cache"))}


NO_CACHE = {name: value for name, value in os.environ.items() if not name.startswith("MS_COMPILER_CACHE")}


def _script(name, *args):
    return [sys.executable, os.path.join(PROJECT_ROOT, name), *args]


def _train_args(folders, ckpt_path, *extra):
    return _script("train.py", *SETTINGS, "--dataset_path", folders["train"], "--ckpt_path", str(ckpt_path), *extra)


def _run(cmd, env, cwd):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT)


class Process:
    """A real process with its output in files, so that the test can watch it while it runs."""

    def __init__(self, cmd, env, cwd, name):
        self.out, self.err = cwd / f"{name}.out", cwd / f"{name}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)

    def wait_for(self, ready, what):
        deadline = time.time() + TIMEOUT
        while not ready():
            assert self.popen.poll() is None, f"ended before {what}: {self.err.read_text()[-3000:]}"
            assert time.time() < deadline, f"no {what} within {TIMEOUT} s"
            time.sleep(0.005)

    def finish(self):
        code = self.popen.wait(timeout=TIMEOUT)
        return code, self.out.read_text(), self.err.read_text()


def _temporaries(folder):
    """Temporary files of checkpoints being written (or left by a killed run) in `folder`."""
    return [name for name in os.listdir(folder) if TEMPORARY_NAME.match(name) and name.startswith(f".{PREFIX}-")] \
        if os.path.isdir(folder) else []


def _metadata(path):
    return checkpoint_metadata(read_checkpoint(str(path)))


def _stop_line(err, signal_name):
    """(checkpoint, command) of the one line train.py prints when a signal stopped it."""
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(rf"train\.py: stopped by {signal_name}\. Last complete checkpoint: '(.+?)'\. "
                         r"Continue with: (.+)", last)
    assert match, err[-3000:]
    return match.group(1), shlex.split(match.group(2))


@pytest.fixture(scope="module")
def trained(folders, env, tmp_path_factory):
    """One epoch of train.py on train/ with the evaluation callback on val/ (which lacks a class)."""
    work = tmp_path_factory.mktemp("trained")
    run = _run(_train_args(folders, work / "ckpt", "--eval_dataset_path", folders["val"]), env, work)
    assert run.returncode == 0, run.stderr[-3000:]
    folder = work / "ckpt" / "ckpt_0"
    return {"work": work, "folder": folder, "log": run.stdout, "final": folder / f"{PREFIX}-1_5.ckpt",
            "best": folder / "inceptionv4-best.ckpt"}


@pytest.mark.slow
def test_class_names_travel_with_the_model_and_evaluation_maps_folders_by_name(trained, folders, env, tmp_path):
    run_id = json.loads((trained["folder"] / RUN_FILE).read_text())["run_id"]
    assert _metadata(trained["final"])["class_names"] == CLASSES == _metadata(trained["best"])["class_names"]
    assert _metadata(trained["final"])["training"] == {
        "epoch": 1, "step_in_epoch": 5, "global_step": 5, "batch_size": 8, "steps_per_epoch": 5, "group_size": 1,
        "run_id": run_id}
    callback_top1 = float(re.search(r"^eval: epoch 1 Top1-Acc ([0-9.]+)", trained["log"], re.M).group(1))
    assert previous_best(str(trained["best"]), run_id) == (1, pytest.approx(callback_top1, abs=1e-4))

    # eval.py on the folder without digit_3: labelled by name, it scores exactly what the callback scored.
    run = _run(_script("eval.py", *SETTINGS, "--dataset_path", folders["val"], "--checkpoint_path",
                       str(trained["final"])), env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"labelled by name with the 10 classes of '{trained['final']}'; no images of 1: {MISSING}" in run.stdout
    assert re.search(r"^eval: 18 images", run.stdout, re.M)
    metrics = ast.literal_eval(re.search(r"^metric: (\{.*\})$", run.stdout, re.M).group(1))
    assert metrics["Top1-Acc"] == pytest.approx(callback_top1, abs=1e-4)

    # Per image: the label is the position of the image's class folder among the recorded class names, in the
    # pipeline eval.py builds and in the label file of the inference app's tool (digit_4 stays 4, not 3).
    cfg = get_config([*SETTINGS, "--ds_type", "imagenet"])
    batches = create_dataset(cfg, folders["val"], False, class_names=CLASSES).create_tuple_iterator(
        num_epochs=1, output_numpy=True)
    labels = [int(label) for _, batch_labels in batches for label in batch_labels]
    expected = [CLASSES.index(name) for name in sorted(os.listdir(folders["val"]))
                for _ in range(VAL_PER_CLASS)]
    assert labels == expected and 4 in labels and 3 not in labels
    label_file = tmp_path / "labels.txt"
    made = _run([sys.executable, "-m", "src.tools.make_label_file", "--dataset_path", folders["val"], "--label_file",
                 str(label_file), "--model", str(trained["final"])], env, PROJECT_ROOT)
    assert made.returncode == 0, made.stderr
    assert "numbered by the 10 class names" in made.stdout
    for line in label_file.read_text().splitlines():
        stem, label = line.split(":")
        assert int(label) == CLASSES.index(stem.rsplit("_", 1)[0]), line


@pytest.mark.slow
def test_class_folders_the_model_does_not_know_are_refused(trained, folders, tmp_path, monkeypatch, capsys):
    unknown = tmp_path / "val_unknown"
    shutil.copytree(folders["val"], unknown)
    os.rename(unknown / "digit_5", unknown / "digit_five")
    code, out, err = run_entry_point("eval.py", [*SETTINGS, "--dataset_path", str(unknown), "--checkpoint_path",
                                                 str(trained["final"])], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err and "metric:" not in out
    assert err.strip().splitlines()[-1] == (
        f"error: class folder(s) 'digit_five' of '{unknown}' are not classes of the model, whose 10 classes are "
        "'digit_0', 'digit_1', 'digit_2', 'digit_3', 'digit_4' and 5 more: remove or rename those folders, or use a "
        "model trained on them.")

    # A checkpoint without class names (the original's, or ms.save_checkpoint) cannot map a folder missing a class.
    from src.inceptionv4 import Inceptionv4
    legacy = str(tmp_path / "legacy.ckpt")
    ms.save_checkpoint(Inceptionv4(classes=10), legacy)
    code, _, err = run_entry_point("eval.py", [*SETTINGS, "--dataset_path", folders["val"], "--checkpoint_path",
                                               legacy], monkeypatch, capsys)
    assert code == 2
    assert f"has 9 class folders but '{legacy}' has 10 classes and records no class names" in err


def test_fewer_training_classes_than_num_classes_is_refused(folders, tmp_path):
    run = _run(_train_args(folders, tmp_path / "ckpt", "--num_classes", "12"), None, tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: the training data '{folders['train']}' has 10 class folders but num_classes is 12: set "
        "--num_classes 10, add the missing class folders, or pass --allow_fewer_classes True to train 12 outputs on "
        "10 classes.")


@pytest.mark.slow
def test_a_second_run_never_touches_the_first_runs_files(trained, folders, env):
    before = {name: os.stat(trained["folder"] / name).st_mtime_ns for name in os.listdir(trained["folder"])}
    run = _run(_train_args(folders, trained["work"] / "ckpt"), env, trained["work"])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    run_id = json.loads((trained["folder"] / RUN_FILE).read_text())["run_id"]
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: checkpoint folder '{trained['folder']}' holds the files of run {run_id}; its latest checkpoint is "
        f"'{trained['final']}'. A new run never overwrites or rotates them: pass another --ckpt_path, or continue "
        "that run with --resume <one of its checkpoints>.")
    assert "steps per epoch" not in run.stdout  # refused before any data was loaded
    assert {name: os.stat(trained["folder"] / name).st_mtime_ns for name in os.listdir(trained["folder"])} == before


@pytest.mark.slow
def test_resuming_with_another_batch_size_continues_at_the_next_epoch(trained, folders, env, tmp_path):
    """The end of epoch 1 at batch 8 (5 steps per epoch) continues at epoch 2 at batch 10 (4 steps per epoch),
    with the schedule laid out for 4 steps per epoch, instead of being read as step 5 of 8."""
    run = _run(_train_args(folders, tmp_path / "ckpt", "--batch_size", "10", "--epoch_size", "2", "--resume",
                           str(trained["final"])), NO_CACHE, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (f"resume: '{trained['final']}' was trained with batch size 8 on 1 device(s) (5 steps per epoch), this "
            "run uses 10 on 1 (4 steps per epoch): continuing from the end of epoch 1") in run.stdout
    assert "4 steps per epoch on rank 0 of 1, starting after step 4 (epoch 2)" in run.stdout
    assert re.search(r"^epoch: 2 step: 4, loss is", run.stdout, re.M)
    assert "train: finished 8 steps" in run.stdout
    final = tmp_path / "ckpt" / "ckpt_0" / f"{PREFIX}-2_4.ckpt"
    params = read_checkpoint(str(final))
    training = checkpoint_metadata(params)["training"]
    assert (training["epoch"], training["step_in_epoch"], training["global_step"], training["batch_size"],
            training["steps_per_epoch"]) == (2, 4, 8, 10, 4)
    assert training["run_id"] == _metadata(trained["final"])["training"]["run_id"]  # the same run, continued
    assert int(params["global_step"].asnumpy()[0]) == 8 and params["learning_rate"].shape == (8,)


@pytest.mark.parametrize("recorded,step,spe,batch,expected", [
    ({}, 6, 4, 16, 6),                                                                   # no record: as is
    ({"epoch": 2, "step_in_epoch": 3, "global_step": 7, "batch_size": 16, "steps_per_epoch": 4}, 7, 4, 16, 7),
    ({"epoch": 1, "step_in_epoch": 4, "global_step": 4, "batch_size": 16, "steps_per_epoch": 4}, 4, 8, 8, 8),
    ({"epoch": 2, "step_in_epoch": 2, "global_step": 6, "batch_size": 16, "steps_per_epoch": 4}, 6, 8, 8, 12),
    ({"epoch": 2, "step_in_epoch": 3, "global_step": 7, "batch_size": 16, "steps_per_epoch": 4}, 7, 3, 20, 5),
    ({"epoch": 1, "step_in_epoch": 2, "global_step": 2, "batch_size": 8, "steps_per_epoch": 8}, 2, 4, 16, 1),
])
def test_resume_point_follows_the_images_seen(recorded, step, spe, batch, expected):
    # e.g. row 4: epoch 2 after 3 x 16 = 48 images, at batch 20 (3 steps per epoch): epoch 2 step 2 (40 images).
    assert resume_point(recorded, step, spe, batch, 1, "x.ckpt").done == expected


def test_a_resumed_run_keeps_a_better_best_checkpoint(tmp_path):
    from mindspore import nn
    from src.callback import EvalCallBack
    scores, state = iter([0.3, 0.7]), types.SimpleNamespace(cur_epoch_num=2, train_network=nn.Dense(2, 2))
    best = tmp_path / "best.ckpt"
    callback = EvalCallBack(lambda: {"Top1-Acc": next(scores), "Top5-Acc": 1.0}, 1, nn.Dense(2, 2), str(best), 3,
                            printer=lambda *args, **kwargs: None, metadata={"training": {"run_id": "r1"}},
                            best=(1, 0.5))  # epoch 1 of the run, before it was resumed
    context = types.SimpleNamespace(original_args=lambda: state)
    callback.on_train_epoch_end(context)
    assert not best.exists() and callback.best == (1, 0.5)  # 0.3 is worse: the earlier best stays
    state.cur_epoch_num = 3
    callback.on_train_epoch_end(context)
    assert previous_best(str(best), "r1") == (3, 0.7) and previous_best(str(best), "another run") is None


@pytest.mark.slow
def test_signals_stop_cleanly_and_the_named_checkpoint_resumes(folders, env, tmp_path):
    args = _train_args(folders, tmp_path / "ckpt", "--save_checkpoint_steps", "1")
    folder = tmp_path / "ckpt" / "ckpt_0"
    saving = lambda: bool(_temporaries(folder))  # noqa: E731  a checkpoint is being written right now

    # SIGTERM while the first checkpoint is written: the save completes, then the run stops (exit 143).
    first = Process(args, env, tmp_path, "term")
    first.wait_for(saving, "checkpoint save")
    first.popen.send_signal(signal.SIGTERM)
    code, _, err = first.finish()
    assert code == 143, err[-3000:]
    checkpoint, command = _stop_line(err, "SIGTERM")
    assert checkpoint == str(folder / f"{PREFIX}-1_1.ckpt") and command[-2:] == ["--resume", checkpoint]
    assert command[1:-2] == args[1:]  # the command that ran, with --resume added
    assert _metadata(checkpoint)["training"]["global_step"] == 1 and not _temporaries(folder)
    assert "Traceback" not in err

    # SIGKILL during the first save of a run in a new folder (as a power loss): its temporary files stay...
    folder = tmp_path / "other" / "ckpt_0"
    args = _train_args(folders, tmp_path / "other", "--save_checkpoint_steps", "1")
    killed = Process(args, env, tmp_path, "kill")
    killed.wait_for(saving, "checkpoint save")
    killed.popen.send_signal(signal.SIGKILL)
    killed.finish()
    left = _temporaries(folder)
    assert left

    # ... until the next run in that folder (free again: it holds no checkpoint) removes them. Ctrl-C (SIGINT)
    # during its first save: exit 130.
    interrupted = Process(args, env, tmp_path, "int")
    interrupted.wait_for(lambda: "temporary file(s)" in interrupted.out.read_text() and saving(), "checkpoint save")
    interrupted.popen.send_signal(signal.SIGINT)
    code, out, err = interrupted.finish()
    assert code == 130, err[-3000:]
    assert f"removed {len(left)} temporary file(s) an interrupted run left in" in out
    checkpoint, command = _stop_line(err, re.escape("SIGINT (Ctrl-C)"))
    assert checkpoint == str(folder / f"{PREFIX}-1_1.ckpt")
    assert _metadata(checkpoint)["training"]["global_step"] == 1 and not _temporaries(folder)

    # A run holds its folder locked: while another process does, the printed command is refused...
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        refused = _run(command, env, tmp_path)
    finally:
        os.close(lock)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
        f"error: checkpoint folder '{folder}' is in use by another training run right now: wait for it to finish, "
        "or pass another --ckpt_path.")

    # ... and once free, it finishes the run (compiled afresh: MindSpore 2.10's compile cache crashed resumed
    # runs with SIGSEGV).
    code, out, err = Process(command, NO_CACHE, tmp_path, "resumed").finish()
    assert code == 0, err[-3000:]
    assert "starting after step 1 (epoch 1)" in out and "train: finished 5 steps" in out
    assert _metadata(folder / f"{PREFIX}-1_5.ckpt")["training"]["run_id"] == \
        json.loads((folder / RUN_FILE).read_text())["run_id"]
    assert not _temporaries(folder)


@pytest.mark.slow
def test_ctrl_c_during_evaluation_reports_no_accuracy(trained, folders, env, tmp_path):
    evaluation = Process(_script("eval.py", *SETTINGS, "--dataset_path", folders["val"], "--checkpoint_path",
                                 str(trained["final"])), env, tmp_path, "eval")
    evaluation.wait_for(lambda: "labelled by name" in evaluation.out.read_text(), "evaluation")
    evaluation.popen.send_signal(signal.SIGINT)
    code, out, err = evaluation.finish()
    assert code == 130 and "metric:" not in out
    assert re.fullmatch(r"eval\.py: stopped by SIGINT \(Ctrl-C\)\. It had scored \d+ images; no accuracy is reported",
                        err.strip().splitlines()[-1]), err[-3000:]
    assert "Traceback" not in err and "ERROR" not in err


def test_outputs_are_checked_before_any_data_is_read(folders, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    start = time.time()
    run = _run(_train_args(folders, notes / "ck"), None, tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: checkpoint folder (ckpt_path) '{notes}/ck/ckpt_0' cannot be created: '{notes}' is a file, not a "
        "folder. Pass a path under a folder.")
    assert "steps per epoch" not in run.stdout and time.time() - start < 60


def test_cifar_class_names_come_from_batches_meta(demo_data):
    from src.inputs.files import dataset_class_names
    names = dataset_class_names(os.path.join(demo_data, "cifar10"), "cifar10", True)
    with open(os.path.join(demo_data, "cifar10", CIFAR_TRAIN_DIR, "batches.meta.txt"), encoding="utf-8") as stream:
        assert names == [line.strip() for line in stream if line.strip()] == CLASSES


@pytest.mark.slow
def test_predict_names_classes_and_preprocesses_as_training_recorded(trained, folders, env, tmp_path):
    metadata = _metadata(trained["final"])
    assert metadata["preprocessing"] == {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                                         "interpolation": "bilinear", "crop_pct": 1.0, "resize_backend": "numpy",
                                         "resize_rounding": "round"}
    digit = os.path.join(folders["val"], "digit_4")
    run = _run(_script("predict.py", *SETTINGS, "--ckpt_file", str(trained["final"]), "--image", digit,
                       "--topk", "10"), env, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith(digit)]
    assert len(lines) == VAL_PER_CLASS
    shown = {name for line in lines for name in re.findall(r"\d+\. (\S+) \((\d+)\)", line)}
    assert shown == {(name, str(index)) for index, name in enumerate(CLASSES)}  # recorded names, no --class_names



def _signal_after_start(process, delay, signum=signal.SIGINT):
    """Send `signum` to `process` `delay` s after its signal handling started (catch_signals, the entry point's
    first lines: its watcher thread runs), from a thread; return the thread."""
    def send():
        tasks = f"/proc/{process.popen.pid}/task"
        while process.popen.poll() is None and len(os.listdir(tasks)) < 2:
            time.sleep(0.002)
        time.sleep(delay)
        process.popen.send_signal(signum)
    thread = threading.Thread(target=send)
    thread.start()
    return thread


def _only_stop_line(err, script, signal_name=NAMES[signal.SIGINT]):
    """The one line on stderr of a run stopped by a signal (with its detail, if any)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"{re.escape(script)}: stopped by {re.escape(signal_name)}(\. .+)?",
                                            lines[0]), err[-3000:]
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["export.py", "eval.py"])
def test_ctrl_c_while_mindspore_is_imported_is_a_clean_stop(script, trained_checkpoint, folders, tmp_path):
    """Ctrl-C 0.2, 0.5, 1 and 2 s after the entry point started (while `import mindspore` runs): exit 130 and one
    line (issue 23: an exception inside the import, then `Fatal Python error` and exit 134)."""
    runs = []
    for delay in (0.2, 0.5, 1.0, 2.0):
        work = tmp_path / f"at_{delay}"
        work.mkdir()
        args = _script(script, *SETTINGS, "--checkpoint_path", trained_checkpoint, "--dataset_path", folders["val"],
                       "--ckpt_file", trained_checkpoint, "--file_format", "ONNX", "--file_name", str(work / "model"))
        process = Process(args, None, work, "run")
        runs.append((delay, work, process, _signal_after_start(process, delay)))
    for delay, work, process, sender in runs:
        sender.join()
        code, _, err = process.finish()
        assert code == 130, f"{delay} s: {err[-3000:]}"
        _only_stop_line(err, script)
        assert sorted(os.listdir(work)) == ["run.err", "run.out"]  # no model, no temporary file, no graph dump


@pytest.mark.slow
def test_a_second_ctrl_c_during_export_stops_at_once_in_one_line(trained_checkpoint, tmp_path):
    """Ctrl-C during the export waits for the file; Ctrl-C again (here: every 0.3 s) stops at once, in one line,
    leaving nothing (issue 23: MindSpore's compiler printed ~60 ERROR lines and left rank_0/om/analyze_fail.ir in
    the working folder)."""
    model = tmp_path / "out" / "model.onnx"
    export = Process(_script("export.py", *SETTINGS, "--ckpt_file", trained_checkpoint, "--file_format", "ONNX",
                             "--file_name", str(model)), None, tmp_path, "export")
    writing = lambda: os.path.isdir(model.parent) and any(TEMPORARY_NAME.match(name)  # noqa: E731
                                                          for name in os.listdir(model.parent))
    export.wait_for(writing, "the export")
    export.popen.send_signal(signal.SIGINT)
    export.wait_for(lambda: "received: stopping at the next safe point" in export.out.read_text(), "the first stop")
    while export.popen.poll() is None:
        time.sleep(0.3)
        export.popen.send_signal(signal.SIGINT)
    code, _, err = export.finish()
    assert code == 130 and _only_stop_line(err, "export.py") == \
        f"export.py: stopped by SIGINT (Ctrl-C). '{model}' was not written"
    assert sorted(os.listdir(tmp_path)) == ["export.err", "export.out", "out"] and not os.listdir(tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("kind,signum,code", [("checkpoint", signal.SIGINT, 130), ("onnx", signal.SIGINT, 130),
                                              ("onnx", signal.SIGTERM, 143)])
def test_a_signal_during_predict_is_a_clean_stop(kind, signum, code, trained_checkpoint, demo_data, tmp_path):
    """predict.py stops like the other entry points (issue 23: a KeyboardInterrupt traceback with an ONNX file,
    exit 143 and no message with a checkpoint)."""
    from tests.test_input_checks import _onnx_classifier
    images = tmp_path / "images"
    images.mkdir()
    val = os.path.join(demo_data, "imagenet", "val")
    for name in os.listdir(val):
        for copy in range(4):  # 1,440 images: the run lasts past the signal
            os.makedirs(images / f"{name}_{copy}")
            for image in os.listdir(os.path.join(val, name)):
                os.link(os.path.join(val, name, image), images / f"{name}_{copy}" / image)
    model = ["--ckpt_file", trained_checkpoint] if kind == "checkpoint" else \
        ["--file_name", _onnx_classifier(tmp_path / "tiny.onnx", np.ones((3, 10)))]
    run = Process(_script("predict.py", *SETTINGS, *model, "--image", str(images), "--output",
                          str(tmp_path / "preds.csv")), None, tmp_path, "predict")
    run.wait_for(lambda: "preprocessing:" in run.out.read_text(), "predicting")
    run.popen.send_signal(signum)
    stopped, _, err = run.finish()
    assert stopped == code
    _only_stop_line(err, "predict.py", NAMES[signum])
    assert not [name for name in os.listdir(tmp_path) if TEMPORARY_NAME.match(name)]


@pytest.mark.slow
def test_predict_and_eval_use_the_size_the_checkpoint_was_trained_at(trained, folders, tmp_path):
    """train.py records 75x75: predict.py and eval.py with a config file that says 299x299 and no --height/--width
    give the answers of an explicit --height 75 --width 75 run (issue 23: 299x299 gave chance accuracy)."""
    checkpoint = str(trained["final"])
    note = f"image size: 75x75, recorded in '{checkpoint}' (the config says 299x299; --height/--width override it)"
    sized = SETTINGS[SETTINGS.index("--config_path"):SETTINGS.index("--work_nums")]  # config, classes, size, batch
    unsized = [arg for arg in sized if arg not in ("--width", "--height", "75")]
    outputs = {}
    for settings in (unsized, sized):
        runs = [_run(_script("predict.py", *settings, "--ckpt_file", checkpoint, "--image", folders["val"],
                             "--topk", "2"), None, tmp_path),
                _run(_script("eval.py", *settings, "--checkpoint_path", checkpoint, "--dataset_path", folders["val"]),
                     None, tmp_path)]
        for run in runs:
            assert run.returncode == 0, run.stderr[-3000:]
            assert (note in run.stdout.splitlines()) == (settings is unsized), run.stdout[-2000:]
            assert "centre crop 75x75" in run.stdout
        outputs[settings is sized] = [[line for line in run.stdout.splitlines() if line.startswith(("/", "metric:"))]
                                      for run in runs]
    assert outputs[False] == outputs[True]
    assert len(outputs[True][0]) == 18 and len(outputs[True][1]) == 1
