"""train.py end to end on small real data: checkpoints, kill-and-resume, NaN guard, bad input, learning."""
import glob
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import mindspore as ms
import pytest

from conftest import example_pattern, readme_example, write_small_cifar
from src.model_utils.config import PROJECT_ROOT

SMALL_RECORDS = 64   # 4 steps per epoch at batch 16


@pytest.fixture(scope="module")
def small_cifar(demo_data, tmp_path_factory):
    """A CIFAR-10 folder holding the first 64 demo training and 48 held-out records."""
    return str(write_small_cifar(demo_data, tmp_path_factory.mktemp("small_cifar"), SMALL_RECORDS, 48))


def _settings(ckpt_path, *extra):
    """train.py settings for the small CIFAR data (dataset_path and config_path come separately)."""
    return ["--ds_type", "cifar10", "--num_classes", "10", "--width", "75", "--height", "75", "--batch_size", "16",
            "--work_nums", "1", "--lr_max", "0.01", "--lr_init", "0.001", "--ckpt_path", str(ckpt_path), *extra]


def _args(data, ckpt_path, *extra):
    return [sys.executable, os.path.join(PROJECT_ROOT, "train.py"),
            "--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), "--dataset_path", data,
            *_settings(ckpt_path, *extra)]


def _train(data, ckpt_path, *extra):
    os.makedirs(ckpt_path, exist_ok=True)
    return subprocess.run(_args(data, ckpt_path, *extra), capture_output=True, text=True, cwd=ckpt_path)


def _checkpoints(ckpt_path):
    return sorted(os.path.basename(path) for path in glob.glob(os.path.join(ckpt_path, "ckpt_0", "*.ckpt")))


def _state(path, optimizer=True):
    """A checkpoint's arrays: network weights, BatchNorm statistics, global step and (optionally) RMSProp state."""
    skip = ("learning_rate",) if optimizer else ("moment.", "mean_square.", "learning_rate")
    return {name: value.asnumpy() for name, value in ms.load_checkpoint(path).items()
            if not name.startswith(skip) and not isinstance(value, str)}  # str: the metadata entry


@pytest.mark.slow
def test_cpu_launcher_trains_two_epochs_and_keeps_the_newest_checkpoints(small_cifar, project_copy):
    """Run from the project root with paths relative to it, as a user follows the README."""
    (project_copy / "data").mkdir()
    (project_copy / "data" / "small").symlink_to(small_cifar)
    settings = _settings("runs/ckpt", "--epoch_size", "2", "--save_checkpoint_steps", "2", "--keep_checkpoint_max",
                         "3", "--eval_dataset_path", "data/small")
    run = subprocess.run(["bash", "scripts/run_standalone_train_cpu.sh", "data/small", *settings], capture_output=True,
                         text=True, cwd=project_copy, env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr[-3000:]
    ckpt_path = project_copy / "runs" / "ckpt"  # where the user's relative --ckpt_path points, not train_cpu/runs
    # Saved after steps 2, 4 (end of epoch 1), 6 and 8; the newest three remain.
    assert _checkpoints(ckpt_path) == ["inceptionv4-best.ckpt", "inceptionv4-train-1_4.ckpt",
                                       "inceptionv4-train-2_2.ckpt", "inceptionv4-train-2_4.ckpt"]
    log = (project_copy / "train_cpu" / "log.txt").read_text()
    for line in readme_example("- **Log**"):  # the README's log example is what a run prints
        progress = re.match(r"epoch \d+ step \d+/\d+, ", line)  # every 30 s inside an epoch: test_train_parts.py
        assert progress or re.search(example_pattern(line), log, re.M), line
    assert re.search(r"^epoch: 1 step: 4, loss is [0-9.]+$", log, re.M)
    assert re.search(r"^Epoch time: [0-9.]+, per step time: [0-9.]+$", log, re.M)
    assert len(re.findall(r"^eval: epoch \d Top1-Acc 0\.\d{4} Top5-Acc", log, re.M)) == 2
    last = ms.load_checkpoint(str(ckpt_path / "ckpt_0" / "inceptionv4-train-2_4.ckpt"))
    assert int(last["global_step"].asnumpy()[0]) == 8
    assert not glob.glob(str(ckpt_path / "ckpt_0" / ".*"))  # no temporary files left behind


@pytest.mark.parametrize("script,args", [("run_standalone_train_cpu.sh", []),
                                         ("run_standalone_train_ascend.sh", ["/data"]),
                                         ("run_standalone_train_ascend.sh", ["x", "/data"])])
def test_train_launchers_print_usage_on_wrong_arguments(tmp_path, script, args):
    run = subprocess.run(["bash", os.path.join(PROJECT_ROOT, "scripts", script), *args], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert f"Usage: bash scripts/{script}" in run.stderr
    assert os.listdir(tmp_path) == []  # no run folder made


@pytest.mark.slow
def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(small_cifar, tmp_path):
    # Deterministic apart from the interruption: no shuffling, augmentation or dropout.
    common = ("--epoch_size", "2", "--shuffle", "False", "--augment", "False", "--dropout_keep_prob", "1.0",
              "--seed", "5", "--save_checkpoint_steps", "1", "--keep_checkpoint_max", "4")
    whole = _train(small_cifar, tmp_path / "whole", *common)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # Kill a second run for real once it has written the checkpoint of epoch 1 step 3 (mid-epoch).
    os.makedirs(tmp_path / "killed")
    killed = subprocess.Popen(_args(small_cifar, tmp_path / "killed", *common), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tmp_path / "killed")
    target = os.path.join(tmp_path, "killed", "ckpt_0", "inceptionv4-train-1_3.ckpt")
    deadline = time.time() + 600
    while not os.path.exists(target) and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = [name for name in _checkpoints(tmp_path / "killed") if name.startswith("inceptionv4-train-")]
    assert "inceptionv4-train-2_4.ckpt" not in done, "the run finished before it could be killed"
    latest = max(done, key=lambda name: tuple(map(int, re.findall(r"\d+", name)[-2:])))

    resumed = _train(small_cifar, tmp_path / "killed", *common, "--resume",
                     os.path.join(tmp_path, "killed", "ckpt_0", latest))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "train: finished 8 steps" in resumed.stdout
    # The first step of epoch 2 comes after the resumed run finished the interrupted epoch from the restored
    # weights, optimizer state, step counter and data position: it must match bit for bit.
    first = os.path.join("ckpt_0", "inceptionv4-train-2_1.ckpt")
    a, b = _state(os.path.join(tmp_path, "whole", first)), _state(os.path.join(tmp_path, "killed", first))
    assert int(a["global_step"][0]) == int(b["global_step"][0]) == 5
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)
    # Later steps may drift by float rounding (measured: first difference 4e-4 in bn1.gamma at step 6, up to
    # 4e-3 in any weight at step 8, for weights that moved ~3e-2); a wrong resume would differ by the moves.
    final = os.path.join("ckpt_0", "inceptionv4-train-2_4.ckpt")
    a = _state(os.path.join(tmp_path, "whole", final), optimizer=False)
    b = _state(os.path.join(tmp_path, "killed", final), optimizer=False)
    assert int(a["global_step"][0]) == int(b["global_step"][0]) == 8
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=1e-2, err_msg=name)


@pytest.mark.slow
def test_non_finite_loss_stops_with_step_lr_and_loss_scale(small_cifar, tmp_path):
    run = _train(small_cifar, tmp_path, "--epoch_size", "1", "--lr_init", "1e30", "--lr_max", "1e30")
    assert run.returncode == 2
    message = run.stderr.strip().splitlines()[-1]
    assert re.match(r"error: the loss is (nan|inf) at epoch 1 step \d \(global step \d, learning rate 1e\+30, "
                    r"loss scale 1024\)", message), message
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("extra,message", [
    (("--dataset_path", "/no/such/folder"), r"/no/such/folder"),
    (("--resume", "/no/such.ckpt"), r"resume checkpoint '/no/such.ckpt' does not exist"),
    (("--amp_level", "O2"), r"amp_level 'O2' needs float16 kernels, which the CPU backend lacks"),
    (("--width", "64"), r"config key 'width' on the command line is 64; it must be at least 75"),
    (("--start_epoch", "5", "--epoch_size", "2"), r"start_epoch 5 must lie in \[1, epoch_size=2\]"),
])
def test_bad_input_is_one_line_before_compiling(small_cifar, tmp_path, extra, message):
    start = time.time()
    run = _train(small_cifar, tmp_path, *extra)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert re.search(message, run.stderr.strip().splitlines()[-1])
    assert time.time() - start < 60  # refused before any graph compile


def test_resume_from_another_num_classes_names_the_parameters(small_cifar, tmp_path):
    from src.inceptionv4 import Inceptionv4
    other = os.path.join(tmp_path, "five_classes.ckpt")
    ms.save_checkpoint(Inceptionv4(classes=5), other)
    run = _train(small_cifar, tmp_path, "--resume", other)
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert "softmax.dense.weight (5, 1536) in the file vs (10, 1536) in the network" in last
    assert "Is num_classes the one it was trained with?" in last
