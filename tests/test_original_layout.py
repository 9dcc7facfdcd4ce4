"""The network is the original model zoo's: its parameter names and shapes, its function (checked against
timm's outputs for the same weights, in MindSpore and through the ONNX export) and the refusal of
checkpoints of other layouts."""
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from src.deploy.inference import load_network
from src.deploy.runners import OnnxClassifier
from src.inceptionv4 import Inceptionv4
from src.model_utils.config import PROJECT_ROOT, get_config
from tests.model_zoo_originals import checkpoint_parameters
from tests.timm_reference import TIMM_BN_EPS, expected_logp, recipe_weights, reference_input, timm_keys

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
SIZE_299 = ["--config_path", CPU_CONFIG, "--num_classes", "1000", "--height", "299", "--width", "299"]
TIMM_BN_SUFFIXES = {"bn.weight": "gamma", "bn.bias": "beta", "bn.running_mean": "moving_mean",
                    "bn.running_var": "moving_variance"}


def test_parameter_names_and_shapes_are_the_original_checkpoints():
    net = Inceptionv4(classes=1000)
    assert [(p.name, tuple(p.shape)) for p in net.get_parameters()] == checkpoint_parameters()


def _conv_groups(names, weight_suffix):
    """Conv prefixes in registration order: names ending with `weight_suffix` mark one conv each."""
    return [name[:-len(weight_suffix)] for name in names if name.endswith(weight_suffix)]


def _timm_weights_under_original_names():
    """The recipe's weights written under the original's names purely by registration order (timm's modules
    and the original's convolutions come in the same order): BN variance moved from timm's eps 1e-3 to the
    original's 1e-5, the head BatchNorms the timm model lacks set to identity."""
    timm = recipe_weights()
    net = Inceptionv4(classes=1000, is_train=False)
    names = [p.name for p in net.get_parameters()]
    ours = _conv_groups(names, ".conv.conv.weight")
    theirs = _conv_groups(timm, ".conv.weight")
    assert len(ours) == len(theirs) == 149
    out = {}
    for mine, their in zip(ours, theirs):
        out[f"{mine}.conv.conv.weight"] = timm[f"{their}.conv.weight"]
        for suffix, ms_name in TIMM_BN_SUFFIXES.items():
            out[f"{mine}.conv.batchnorm.{ms_name}"] = timm[f"{their}.{suffix}"]
        out[f"{mine}.conv.batchnorm.moving_variance"] = \
            (timm[f"{their}.bn.running_var"].astype(np.float64) + TIMM_BN_EPS - 1e-5).astype(np.float32)
    out["softmax.dense.weight"] = timm["last_linear.weight"]
    out["softmax.dense.bias"] = timm["last_linear.bias"]
    for prefix, size, eps in (("softmax.batchnorm", 1000, 1e-5), ("bn0", 1536, 1e-3)):
        out.update({f"{prefix}.moving_mean": np.zeros(size, np.float32),
                    f"{prefix}.moving_variance": np.full(size, 1.0 - eps, np.float32),
                    f"{prefix}.gamma": np.ones(size, np.float32), f"{prefix}.beta": np.zeros(size, np.float32)})
    assert sorted(out) == sorted(names)
    return out


@pytest.fixture(scope="module")
def timm_weights_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("timm_ref") / "timm_recipe_original_names.ckpt")
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(value)}
                        for name, value in _timm_weights_under_original_names().items()], path)
    return path


def test_reproduces_timm_log_probabilities_at_299(timm_weights_ckpt):
    net, _ = load_network(get_config(SIZE_299), timm_weights_ckpt)  # eval.py's way of reading a checkpoint
    out = net(ms.Tensor(reference_input())).asnumpy()
    expected = expected_logp()
    assert out.shape == expected.shape == (2, 1000)
    assert np.abs(out - expected).max() <= 1e-4
    assert (out.argmax(axis=1) == 314).all()


@pytest.mark.slow
def test_onnx_export_reproduces_timm_log_probabilities(timm_weights_ckpt, tmp_path):
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "export.py"), *SIZE_299,
                          "--device_target", "CPU", "--file_format", "ONNX", "--ckpt_file", timm_weights_ckpt,
                          "--file_name", str(tmp_path / "timm_ref")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    onnx_files = [name for name in os.listdir(tmp_path) if name.endswith(".onnx")]
    assert len(onnx_files) == 1
    out = OnnxClassifier(str(tmp_path / onnx_files[0]), "CPU").predict(reference_input())
    assert np.abs(out - expected_logp()).max() <= 1e-4


def test_checkpoint_of_timms_layout_is_refused_in_one_line(tmp_path):
    old = tmp_path / "timm_names.ckpt"
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(np.zeros(shape, np.float32))}
                        for name, shape in timm_keys()], str(old))
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "eval.py"), "--config_path", CPU_CONFIG,
                          "--num_classes", "10", "--dataset_path", str(tmp_path), "--checkpoint_path", str(old)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "holds timm's Inception-v4 names" in lines[0] and str(old) in lines[0] and "--source timm" in lines[0]
