"""Fine-tuning: `pretrained` loads a 1000-class checkpoint into a 10-class network (classifier re-initialised,
everything else bit-identical), `freeze_backbone` trains only the head, and the bad combinations."""
import glob
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from conftest import write_small_cifar
from src.inceptionv4 import Inceptionv4
from src.model_utils.config import PROJECT_ROOT, get_config
from src.training.parts import HEAD_PARAMETERS, load_pretrained
from tests.model_zoo_originals import checkpoint_parameters

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")


@pytest.fixture(scope="module")
def imagenet_checkpoint(tmp_path_factory):
    """A 1000-class checkpoint with random weights and random BatchNorm statistics (not the fresh 0 / 1), so that
    "kept" and "changed" cannot happen by accident."""
    rng = np.random.default_rng(0)
    params = []
    for p in Inceptionv4(classes=1000).get_parameters():
        value = p.asnumpy()
        if p.name.endswith(("moving_variance", "gamma")):
            value = rng.uniform(0.5, 2.0, p.shape)
        elif p.name.endswith(("moving_mean", "beta")):
            value = rng.uniform(-0.1, 0.1, p.shape)
        params.append({"name": p.name, "data": ms.Tensor(value.astype(np.float32))})
    path = str(tmp_path_factory.mktemp("pretrained") / "imagenet_1000.ckpt")
    ms.save_checkpoint(params, path)
    return path


def _arrays(path):
    return {name: value.asnumpy() for name, value in ms.load_checkpoint(path).items() if hasattr(value, "asnumpy")}


def test_pretrained_keeps_the_backbone_and_reinitialises_the_classifier(imagenet_checkpoint):
    cfg = get_config(["--config_path", CPU_CONFIG, "--num_classes", "10", "--pretrained", imagenet_checkpoint])
    net = Inceptionv4(classes=10)
    lines = []
    load_pretrained(cfg, net, printer=lambda *a, **k: lines.append(" ".join(map(str, a))))
    source = _arrays(imagenet_checkpoint)
    for param in net.get_parameters():
        if param.name in HEAD_PARAMETERS:
            assert param.shape[0] == 10
        else:
            assert np.array_equal(param.asnumpy(), source[param.name]), param.name
    assert net.softmax.batchnorm.moving_variance.asnumpy().tolist() == [1.0] * 10  # fresh, not the file's
    assert lines == [f"pretrained: kept 749 parameters of '{imagenet_checkpoint}'; re-initialised "
                     f"{', '.join(HEAD_PARAMETERS)} for 10 classes (the checkpoint has 1000)"]


@pytest.mark.slow
def test_freeze_backbone_trains_only_the_head(imagenet_checkpoint, demo_data, tmp_path):
    (tmp_path / "cifar").mkdir()
    data = write_small_cifar(demo_data, tmp_path / "cifar", 64)
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "train.py"), "--config_path", CPU_CONFIG,
                          "--dataset_path", str(data), "--ds_type", "cifar10", "--num_classes", "10", "--height", "75",
                          "--width", "75", "--batch_size", "16", "--epoch_size", "1", "--augment", "False",
                          "--pretrained", imagenet_checkpoint, "--freeze_backbone", "True", "--lr_max", "0.01",
                          "--ckpt_path", str(tmp_path / "ckpt")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pretrained: kept 749 parameters" in run.stdout
    [trained] = glob.glob(str(tmp_path / "ckpt" / "ckpt_0" / "inceptionv4-train-1_4.ckpt"))
    before, after = _arrays(imagenet_checkpoint), _arrays(trained)
    backbone = [name for name in before if name.startswith("features.")]
    assert len(backbone) == 745
    assert all(np.array_equal(before[name], after[name]) for name in backbone)  # weights and BN statistics
    assert after["softmax.dense.weight"].shape == (10, 1536)
    for name in ("bn0.gamma", "bn0.beta", "bn0.moving_mean", "bn0.moving_variance"):
        assert not np.array_equal(before[name], after[name]), name


@pytest.mark.parametrize("extra,message", [
    (["--resume", "x.ckpt"], "set either 'pretrained'"),
    (["--pretrained", "absent.ckpt"], "does not exist"),
])
def test_bad_pretrained_settings(imagenet_checkpoint, tmp_path, extra, message):
    args = ["--pretrained", imagenet_checkpoint] if "--resume" in extra else []
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "train.py"), "--config_path", CPU_CONFIG,
                          "--dataset_path", str(tmp_path), "--num_classes", "10", *args, *extra,
                          "--ckpt_path", str(tmp_path / "ckpt")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert message in run.stderr


def test_pretrained_of_another_layout_loads_nothing(tmp_path):
    old = tmp_path / "mindcv_names.ckpt"
    mindcv_names = [(name.replace(".conv.conv.", ".conv."), shape) for name, shape in checkpoint_parameters(10)]
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(np.zeros(shape, np.float32))} for name, shape in mindcv_names],
                       str(old))
    cfg = get_config(["--config_path", CPU_CONFIG, "--num_classes", "10", "--pretrained", str(old)])
    net = Inceptionv4(classes=10)
    before = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    from src.runtime.stops import UserError
    with pytest.raises(UserError, match="is a mindcv Inception-v4 checkpoint"):
        load_pretrained(cfg, net)
    assert all(np.array_equal(before[p.name], p.asnumpy()) for p in net.get_parameters())
