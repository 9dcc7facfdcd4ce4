"""The original model zoo's three configuration files (tests/model_zoo_originals.py, written from its sources) and
its habits: ImageNet roots as data paths, enable_profiling, the training record of a run that is resumed.

The end-to-end part trains on a small ImageNet root made from the demo digits (3 training and 1 validation
image per class) at 75x75 with batch 8, overriding only paths, sizes, the peak learning rate (the files' 0.4 is
for 8 devices x 128 images) and, where the file targets Ascend or GPU, the device: each file trains,
evaluates, exports and evaluates the ONNX export."""
import csv
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest
import yaml

from src.model_utils.config import ORIGINAL_KEYS, PROJECT_ROOT, UNUSED_KEYS, get_config
from src.runtime.stops import UserError
from src.training.parts import get_lr
from tests.model_zoo_originals import CONFIGS

SIZES = ["--width", "75", "--height", "75", "--batch_size", "8", "--num_classes", "10", "--work_nums", "1",
         "--lr_max", "0.01"]
ON_CPU = ["--device_target", "CPU", "--amp_level", "O0"]
"""What a user of the Ascend or GPU file changes to run it on a CPU (float16 needs Ascend or GPU)."""


def _write(tmp_path, values, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return str(path)


def _original(name):
    return dict(CONFIGS[name])


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """{suffix: path} of the original's three files, written as YAML from tests/model_zoo_originals.py."""
    folder = tmp_path_factory.mktemp("model_zoo_configs")
    return {name: _write(folder, values, f"default_config{name}.yaml") for name, values in CONFIGS.items()}


# ---------------------------------------------------------------------------------------------------------
# Loading the files
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,target", [("", "Ascend"), ("_gpu", "GPU"), ("_cpu", "CPU")])
def test_original_files_load_with_their_values(original, name, target):
    values = _original(name)
    cfg = get_config(["--config_path", original[name]])
    assert cfg.device_target == target == values["platform"]
    for key, value in values.items():
        if key not in UNUSED_KEYS and key != "platform":
            assert getattr(cfg, key) == value, key
    for key in UNUSED_KEYS:
        assert not hasattr(cfg, key)
    # Keys this port added take default_config.yaml's values.
    reference = get_config([])
    for key in ("bn_momentum", "dropout_keep_prob", "eval_dataset_path", "profiling_steps", "export_batch_size",
                "seed", "augment"):
        assert key not in values and getattr(cfg, key) == getattr(reference, key), key


def test_unused_keys_are_accepted_in_files_and_on_the_command_line(original):
    cfg = get_config(["--config_path", original["_gpu"], "--is_distributed", "True", "--group_size", "8",
                      "--ckpt_save_dir", "x", "--num_parallel_workers", "4"])
    assert cfg.work_nums == 8 and not hasattr(cfg, "group_size")


@pytest.mark.parametrize("file_values,argv,target", [
    ({"platform": "GPU", "device_target": "GPU"}, [], "GPU"),
    ({"platform": "GPU"}, [], "GPU"),
    ({"device_target": "GPU"}, ["--platform", "CPU"], "CPU"),
    ({"platform": "GPU", "device_target": "GPU"}, ["--device_target", "CPU", "--platform", "CPU"], "CPU"),
])
def test_platform_and_device_target_that_agree(tmp_path, file_values, argv, target):
    values = {key: value for key, value in _original("_cpu").items() if key not in ("platform", "device_target")}
    path = _write(tmp_path, {**values, **file_values})
    assert get_config(["--config_path", path, *argv]).device_target == target


def test_platform_and_device_target_that_disagree_are_one_clear_line(tmp_path):
    path = _write(tmp_path, {**_original("_cpu"), "platform": "GPU"})
    with pytest.raises(UserError, match=r"^config file '.*cfg\.yaml' sets platform 'GPU' but device_target 'CPU': "
                                        r"both name the backend .* Make them agree or keep only device_target\.$"):
        get_config(["--config_path", path])
    with pytest.raises(UserError, match=r"^the command line sets platform 'GPU' but device_target 'CPU'"):
        get_config(["--platform", "GPU", "--device_target", "CPU"])


def test_keys_in_neither_the_original_nor_this_port_stay_errors(original, tmp_path):
    path = _write(tmp_path, {**_original("_cpu"), "enable_profilng": True})
    with pytest.raises(UserError, match=r"unknown config key 'enable_profilng' in .*Did you mean 'enable_profiling'"):
        get_config(["--config_path", path])
    with pytest.raises(UserError, match=r"unknown config key 'distribute' on the command line"):
        get_config(["--config_path", original["_cpu"], "--distribute", "True"])


def test_a_file_lacking_a_key_of_the_original_is_refused(tmp_path):
    values = _original("_cpu")
    del values["lr_max"]
    with pytest.raises(UserError, match=r"lacks the keys lr_max: copy them from default_config\.yaml"):
        get_config(["--config_path", _write(tmp_path, values)])
    assert "lr_max" in ORIGINAL_KEYS and "bn_momentum" not in ORIGINAL_KEYS


# ---------------------------------------------------------------------------------------------------------
# End to end: each file trains, evaluates, exports; profiling; the training record across a resume
# ---------------------------------------------------------------------------------------------------------

def _run(cmd, cwd, cache):
    env = {**os.environ, "PYTHON": sys.executable, "MS_COMPILER_CACHE_ENABLE": "1", "MS_COMPILER_CACHE_PATH": cache}
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, f"{' '.join(cmd)}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout


def _python(script, *args):
    return [sys.executable, os.path.join(PROJECT_ROOT, script), *args]


def _script(name, *args):
    return ["bash", os.path.join(PROJECT_ROOT, "scripts", name), *args]


@pytest.fixture(scope="module")
def imagenet_root(demo_data, tmp_path_factory):
    """An ImageNet root (train/ and val/ of class folders) with 3 training and 1 validation digit per class."""
    root = tmp_path_factory.mktemp("imagenet_root")
    for split, count in (("train", 3), ("val", 1)):
        source = os.path.join(demo_data, "imagenet", split)
        for label in sorted(os.listdir(source)):
            os.makedirs(root / split / label)
            for name in sorted(os.listdir(os.path.join(source, label)))[:count]:
                shutil.copy(os.path.join(source, label, name), root / split / label / name)
    return str(root)


@pytest.fixture(scope="module")
def runs(original, imagenet_root, tmp_path_factory):
    """Every entry point run with each original file; {name: output} plus the folders.

    - Ascend file: train.py on root/train for 1 epoch (data sink mode, as the file sets), eval.py on root/val.
    - GPU file: train.py on the root, resuming the Ascend file's run to epoch 2 in the same folder (the record
      continues), with evaluation on the root; eval.py on the root.
    - CPU file: the CPU launcher on the root with enable_profiling and evaluation, the CPU eval launcher on the
      root, export.py to ONNX with its default batch, then eval_onnx.py with each of the three files.
    """
    work = tmp_path_factory.mktemp("model_zoo_runs")
    cache = str(work / "compile_cache")
    out = {"work": work, "root": imagenet_root}
    ascend_ckpt = str(work / "ascend_ckpt")
    out["train_ascend"] = _run(_python("train.py", "--config_path", original[""], *ON_CPU, *SIZES, "--dataset_path",
                                       os.path.join(imagenet_root, "train"), "--epoch_size", "1",
                                       "--ckpt_path", ascend_ckpt), work, cache)
    first = os.path.join(ascend_ckpt, "ckpt_0", "inceptionv4-train-1_3.ckpt")
    out["record_before_resume"] = (work / "ascend_ckpt" / "ckpt_0" / "metrics.csv").read_text()
    out["eval_ascend"] = _run(_python("eval.py", "--config_path", original[""], *ON_CPU, *SIZES, "--dataset_path",
                                      os.path.join(imagenet_root, "val"), "--checkpoint_path", first), work, cache)
    out["train_gpu"] = _run(_python("train.py", "--config_path", original["_gpu"], *ON_CPU, *SIZES,
                                    "--dataset_path", imagenet_root, "--eval_dataset_path", imagenet_root,
                                    "--epoch_size", "2", "--resume", first, "--ckpt_path", ascend_ckpt), work, cache)
    out["eval_gpu"] = _run(_python("eval.py", "--config_path", original["_gpu"], *ON_CPU, *SIZES, "--dataset_path",
                                   imagenet_root, "--checkpoint_path", first), work, cache)

    cpu_ckpt = str(work / "cpu_ckpt")
    out["train_cpu"] = _run(_script("run_standalone_train_cpu.sh", imagenet_root, "--config_path", original["_cpu"],
                                    *SIZES, "--epoch_size", "1", "--ckpt_path", cpu_ckpt, "--eval_dataset_path",
                                    imagenet_root, "--enable_profiling", "True", "--profiling_steps", "1"),
                            work, cache)
    trained = os.path.join(cpu_ckpt, "ckpt_0", "inceptionv4-train-1_3.ckpt")
    out["eval_cpu"] = _run(_script("run_eval_cpu.sh", imagenet_root, trained, "--config_path", original["_cpu"],
                                   *SIZES), work, cache)
    out["export_cpu"] = _run(_python("export.py", "--config_path", original["_cpu"], *SIZES, "--file_format", "ONNX",
                                     "--ckpt_file", trained, "--file_name", str(work / "model")), work, cache)
    for name in CONFIGS:
        out[f"eval_onnx{name}"] = _run(_python("eval_onnx.py", "--config_path", original[name], "--device_target",
                                               "CPU", *SIZES, "--dataset_path", imagenet_root,
                                               "--file_name", str(work / "model.onnx")), work, cache)
    out.update(ascend_dir=os.path.join(ascend_ckpt, "ckpt_0"), cpu_dir=os.path.join(cpu_ckpt, "ckpt_0"))
    return out


def _metric(out):
    return {key: float(value) for key, value in re.findall(r"'(\w+-Acc|Loss)': ([0-9.e+-]+)", out)}


@pytest.mark.slow
def test_each_original_file_trains_evaluates_and_exports(runs):
    assert "train: finished 3 steps" in runs["train_ascend"]
    assert "train: finished 6 steps" in runs["train_gpu"] and "train: finished 3 steps" in runs["train_cpu"]
    for name, images in (("eval_ascend", 10), ("eval_gpu", 10), ("eval_cpu", 10)):
        assert re.search(rf"^eval: {images} images of ", runs[name], re.M), runs[name]
        assert set(_metric(runs[name])) == {"Loss", "Top1-Acc", "Top5-Acc"}
    assert _metric(runs["eval_ascend"]) == _metric(runs["eval_gpu"])  # the same checkpoint and images
    # Export keeps the original's batch size 1 by default and says so.
    assert "(ONNX, batch size 1: input 1x3x75x75 float32, output 1x10 log-probabilities" in runs["export_cpu"]
    import onnx
    dims = onnx.load(str(runs["work"] / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [dim.dim_value for dim in dims] == [1, 3, 75, 75]
    accuracies = {re.search(r"^top-1 accuracy: ([0-9.]+)$", runs[f"eval_onnx{name}"], re.M).group(1)
                  for name in CONFIGS}
    assert len(accuracies) == 1
    assert float(accuracies.pop()) == pytest.approx(_metric(runs["eval_cpu"])["Top1-Acc"], abs=0.1 + 1e-9)


@pytest.mark.slow
def test_imagenet_roots_are_read_split_by_split(runs):
    root = runs["root"]
    for name in ("train_gpu", "train_cpu"):
        assert f"dataset: ImageNet root '{root}': reading {os.path.join(root, 'train')}" in runs[name]
        assert f"dataset: ImageNet root '{root}': reading {os.path.join(root, 'val')}" in runs[name]
    assert f"reading {os.path.join(root, 'val')}" in runs["eval_cpu"]
    assert "dataset: ImageNet root" not in runs["train_ascend"] + runs["eval_ascend"]  # split folders given
    assert re.search(r"^train: 3 steps per epoch", runs["train_cpu"], re.M)  # 30 training images, batch 8


@pytest.mark.slow
def test_enable_profiling_writes_profiler_data_beside_the_checkpoints(runs):
    folders = glob.glob(os.path.join(runs["cpu_dir"], "profiler", "*_ascend_ms"))
    assert len(folders) == 1, folders
    with open(os.path.join(folders[0], "ASCEND_PROFILER_OUTPUT", "trace_view.json"), encoding="utf-8") as stream:
        events = json.load(stream)
    assert any(event.get("ph") == "X" and "Conv2D" in event.get("name", "") for event in events)
    with open(os.path.join(folders[0], "FRAMEWORK", "cpu_op_type_info_0.csv"), encoding="utf-8") as stream:
        ops = {row["op_type"]: row for row in csv.DictReader(stream)}
    assert int(ops["Conv2D"]["execution_frequency(per-step)"]) > 100  # every conv of the network, one step
    assert "profiler: recording steps 3-3 of this run" in runs["train_cpu"]
    # Nothing in the working folders but the launcher's log, nothing in the checkout.
    assert sorted(os.listdir(runs["work"] / "train_cpu")) == ["log.txt"]
    for folder, subfolders, _ in os.walk(PROJECT_ROOT):
        subfolders[:] = [name for name in subfolders if name not in (".venv", ".git")]
        assert not [name for name in subfolders if name.endswith("_ascend_ms") or name == "profiler"], folder


def _rows(folder):
    with open(os.path.join(folder, "metrics.csv"), newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_training_record_after_a_run_and_after_resuming_it(runs):
    before = list(csv.DictReader(runs["record_before_resume"].splitlines()))
    rows = _rows(runs["ascend_dir"])
    assert [row["epoch"] for row in rows] == ["1", "2"] and [row["global_step"] for row in rows] == ["3", "6"]
    assert rows[0] == before[0]  # kept, not rewritten or duplicated
    assert not before[0]["top1"] and rows[1]["top1"]  # the resumed run evaluates
    lrs = get_lr(4e-5, 4e-6, 0.01, 1, 2, 3)  # the original files' schedule (lr_max 0.01) over 2 epochs of 3 steps
    assert float(rows[1]["learning_rate"]) == pytest.approx(lrs[5], rel=1e-5)
    log = runs["train_gpu"]
    top1, top5 = re.search(r"^eval: epoch 2 Top1-Acc ([0-9.]+) Top5-Acc ([0-9.]+)", log, re.M).groups()
    assert float(rows[1]["top1"]) == pytest.approx(float(top1), abs=5e-5)
    assert float(rows[1]["top5"]) == pytest.approx(float(top5), abs=5e-5)
    epoch_ms = float(re.search(r"^Epoch time: ([0-9.]+),", log, re.M).group(1))
    assert float(rows[1]["epoch_seconds"]) == pytest.approx(epoch_ms / 1000, rel=0.05, abs=0.5)
    assert float(rows[1]["images_per_second"]) == pytest.approx(24 / float(rows[1]["epoch_seconds"]), rel=0.01)
    assert float(rows[1]["train_loss"]) > 0
    for folder in (runs["ascend_dir"], runs["cpu_dir"]):
        with open(os.path.join(folder, "curves.png"), "rb") as stream:
            png = stream.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert 800 <= width <= 2000 and 300 <= height <= 1200 and len(png) > 20000
    cpu = _rows(runs["cpu_dir"])
    assert len(cpu) == 1 and cpu[0]["top1"] and cpu[0]["eval_loss"]
