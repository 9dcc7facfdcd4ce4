"""Shared test set-up: the CPU speed default applies to the test process as to every entry point."""
import glob
import os
import re

import pytest

from src.runtime.context import apply_cpu_defaults

apply_cpu_defaults("CPU")


_NOT_OUTPUTS = (".venv/", ".pytest_cache/")


def _checkout_outputs():
    """Untracked and ignored paths of the checkout (folders collapsed), or None outside a git checkout."""
    import subprocess
    from src.model_utils.config import PROJECT_ROOT
    run = subprocess.run(["git", "-C", PROJECT_ROOT, "status", "--porcelain", "--ignored"], capture_output=True,
                         text=True, check=False)
    if run.returncode:
        return None
    paths = {line[3:] for line in run.stdout.splitlines() if line[:2] in ("??", "!!")}
    return {path for path in paths if not path.startswith(_NOT_OUTPUTS) and "__pycache__" not in path}


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """No test, and no command a test runs, leaves files in the checkout (kernel caches, run folders, exports):
    everything goes to temporary folders."""
    before = _checkout_outputs()
    yield
    after = _checkout_outputs()
    if before is not None and after is not None:
        left = sorted(after - before)
        assert not left, f"the tests left generated files in the checkout: {', '.join(left[:10])}"


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """Folder (str) holding the demo dataset, built once per test session by src/tools/make_demo_data.py:
    <folder>/cifar10/cifar-10-{batches,verify}-bin/*.bin and <folder>/imagenet/{train,val}/<class>/*.JPEG."""
    from src.tools.make_demo_data import make_demo_data
    return make_demo_data(str(tmp_path_factory.mktemp("demo_data")))


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory):
    """`bash scripts/quickstart.sh` (README, the first command), run once per session in a stand-in project
    folder with its outputs in a temporary folder: {"run": the completed process, "project": that folder (the
    demo data in data/demo/), "out": the output folder
    (ckpt/, *.log, inceptionv4.onnx, inceptionv4_int8.onnx), "checkpoint": the last training checkpoint}.
    Its network is the one the learning test and the INT8 test check; INT8_TARGET=vnni makes the INT8 file
    whatever this machine's CPU (without VNNI the quickstart keeps INT8 only where it times 1.2x float32)."""
    import subprocess
    import sys
    root = link_project(tmp_path_factory.mktemp("quickstart_project"), QUICKSTART_ENTRIES)
    out = tmp_path_factory.mktemp("quickstart_out")
    run = subprocess.run(["bash", str(root / "scripts" / "quickstart.sh")], capture_output=True, text=True,
                         cwd=root, env={**os.environ, "OUT": str(out), "VENV": sys.prefix, "INT8_TARGET": "vnni"})
    checkpoints = sorted(glob.glob(os.path.join(out, "ckpt", "ckpt_0", "inceptionv4-train-*.ckpt")))
    return {"run": run, "project": str(root), "out": str(out), "checkpoint": checkpoints[-1] if checkpoints else None}


def write_small_cifar(demo_data, folder, train_records, eval_records=0):
    """Make `folder` a CIFAR-10 folder holding the first records of the demo training file (and, when
    `eval_records` > 0, of the held-out file): real digits, few enough for quick training runs."""
    from src.inputs.files import CIFAR_EVAL_DIR, CIFAR_EVAL_FILE, CIFAR_RECORD_BYTES, CIFAR_TRAIN_DIR
    parts = [(CIFAR_TRAIN_DIR, "data_batch_1.bin", train_records), (CIFAR_EVAL_DIR, CIFAR_EVAL_FILE, eval_records)]
    for sub, name, records in parts:
        if records:
            (folder / sub).mkdir()
            with open(f"{demo_data}/cifar10/{sub}/{name}", "rb") as stream:
                (folder / sub / name).write_bytes(stream.read(records * CIFAR_RECORD_BYTES))
    return folder


def run_entry_point(script, args, monkeypatch, capsys):
    """Run an entry point as `python <script> <args>` inside this process (no start-up cost: for runs that end
    before MindSpore compiles); return (exit code, stdout, stderr)."""
    import runpy
    import sys
    from src.model_utils.config import PROJECT_ROOT
    monkeypatch.setattr(sys, "argv", [script, *args])
    try:
        runpy.run_path(os.path.join(PROJECT_ROOT, script), run_name="__main__")
        code = 0
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PROJECT_ENTRIES = ("scripts", "src", "ascend310_infer", "train.py", "eval.py", "export.py", "eval_onnx.py",
                   "postprocess.py", "default_config.yaml", "default_config_gpu.yaml", "default_config_cpu.yaml")
QUICKSTART_ENTRIES = PROJECT_ENTRIES + ("benchmarks", "requirements.txt")


def link_project(root, entries=PROJECT_ENTRIES):
    """Make `root` stand in for the project root: links to the checkout's `entries` (scripts, code, configs)."""
    from src.model_utils.config import PROJECT_ROOT
    for name in entries:
        (root / name).symlink_to(os.path.join(PROJECT_ROOT, name))
    return root


@pytest.fixture
def project_copy(tmp_path):
    """A folder standing in for the project root, so a launcher run from "the project root" writes its run
    folder here and not into the checkout."""
    root = tmp_path / "project"
    root.mkdir()
    return link_project(root)


def readme_example(after):
    """The lines of the first fenced block of README.md or docs/*.md that follows the line containing `after`."""
    import glob
    from src.model_utils.config import PROJECT_ROOT
    text = ""
    for path in [os.path.join(PROJECT_ROOT, "README.md")] + sorted(glob.glob(os.path.join(PROJECT_ROOT, "docs", "*.md"))):
        with open(path, encoding="utf-8") as stream:
            text += stream.read() + "\n"
    block = re.search(r"```\w*\n(.*?)\n\s*```", text[text.index(after):], re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def example_pattern(line):
    """A regex matching README example `line` with any absolute paths, hexadecimal ids (8 or more digits) and
    numbers in place of its own."""
    kinds = [r"(?<![\w.])/[^\s',]+", r"\b[0-9a-f]{8,}\b", r"\d+(?:\.\d+)?"]
    parts = re.split("(" + "|".join(kinds) + ")", line)
    wildcards = [r"/[^\s',]+", r"[0-9a-f]+", r"[0-9.]+"]
    return "^" + "".join(re.escape(part) if index % 2 == 0 else
                         next(wild for kind, wild in zip(kinds, wildcards) if re.fullmatch(kind, part))
                         for index, part in enumerate(parts)) + "$"


@pytest.fixture(scope="session")
def trained_checkpoint(demo_data, tmp_path_factory):
    """A 10-class network (75x75) after a few training steps on the demo train images, with the BatchNorm
    statistics of one batch of its final weights (momentum 0), saved as a plain checkpoint: outputs far
    from uniform, for tests that compare ways of running a model."""
    import itertools

    import mindspore as ms
    from mindspore import nn

    from src.dataset import create_dataset
    from src.inceptionv4 import Inceptionv4
    from src.model_utils.config import PROJECT_ROOT, get_config
    cfg = get_config(["--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), "--num_classes",
                      "10", "--height", "75", "--width", "75", "--batch_size", "16", "--ds_type", "imagenet"])
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    try:
        net = Inceptionv4(classes=10, bn_momentum=0.0, head_bn_momentum=0.0)
        loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), nn.Momentum(net.trainable_params(), 0.01, 0.9))
        step.set_train(True)
        train = create_dataset(cfg, os.path.join(demo_data, "imagenet", "train"), do_train=True)
        batches = train.create_tuple_iterator(num_epochs=1)
        for images, labels in itertools.islice(batches, 4):
            step(images, labels)
        net.set_train(True)
        net(next(batches)[0])  # momentum 0: the moving statistics become this batch's, for the final weights
        path = str(tmp_path_factory.mktemp("trained") / "trained_10_classes.ckpt")
        ms.save_checkpoint(net, path)
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)
    return path


@pytest.fixture(scope="session")
def timm_checkpoint(tmp_path_factory):
    """timm's recipe weights (tests/timm_reference.py, 1000 classes) as a model.safetensors, converted by
    src.tools.convert_checkpoint: a checkpoint recording timm's preprocessing and ImageNet-1k's classes."""
    import subprocess
    import sys

    from safetensors.numpy import save_file

    from src.model_utils.config import PROJECT_ROOT
    from tests.timm_reference import recipe_weights
    folder = tmp_path_factory.mktemp("timm_converted")
    save_file(dict(recipe_weights()), str(folder / "model.safetensors"))
    run = subprocess.run([sys.executable, "-m", "src.tools.convert_checkpoint", "--source", "timm", "--input",
                          str(folder / "model.safetensors"), "--output", str(folder / "timm.ckpt")],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr
    os.remove(folder / "model.safetensors")
    return str(folder / "timm.ckpt")
