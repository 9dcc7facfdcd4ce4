"""BatchNorm folding (src/deploy/inference.py): same log-probabilities as the eval-mode network, in MindSpore and in
the ONNX export."""
import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn

from export import run_export
from src.deploy.inference import fold_batchnorm
from src.deploy.runners import OnnxClassifier
from src.inceptionv4 import Inceptionv4
from src.model_utils.config import get_config

CONV_COUNT = 149
"""Conv + BatchNorm cells of Inception-v4 (stem 11, 4 x A 7, Red-A 4, 7 x B 10, Red-B 6, 3 x C 10)."""


@pytest.fixture
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=ms.GRAPH_MODE)


def network_with_statistics(size, stats_batch=32, seed=0):
    """A 10-class eval-mode network with non-trivial BatchNorm statistics, and a batch of images.

    gamma and beta are random; every moving mean and variance is that of other images (one training-mode
    pass with momentum 0 over `stats_batch` images), then each conv channel's is moved at random (the
    variance up by 20-50 %: a deep network normalised exactly by random statistics amplifies float32
    rounding chaotically, one normalised by too large ones ignores its input). Needs PyNative mode.
    """
    rng = np.random.default_rng(seed)
    ms.set_seed(seed)
    net = Inceptionv4(classes=10, bn_momentum=0.0, head_bn_momentum=0.0)
    for name, param in net.parameters_and_names():
        if name.endswith(".gamma"):
            param.set_data(ms.Tensor(rng.uniform(0.5, 1.5, param.shape).astype(np.float32)))
        elif name.endswith(".beta"):
            param.set_data(ms.Tensor(rng.normal(0.0, 0.2, param.shape).astype(np.float32)))
    batches = [rng.standard_normal((n, 3, size, size)).astype(np.float32) for n in (stats_batch, 4)]
    net(ms.Tensor(batches[0]))
    net.set_train(False)
    for name, param in net.parameters_and_names():  # each conv channel's statistics a bit off the data's
        if name.endswith(".conv.batchnorm.moving_mean"):
            std = np.sqrt(net.parameters_dict()[name[:-len("mean")] + "variance"].asnumpy())
            values = param.asnumpy() + rng.normal(0.0, 0.1, param.shape) * std
        elif name.endswith(".conv.batchnorm.moving_variance"):
            values = param.asnumpy() * rng.uniform(1.2, 1.5, param.shape)
        else:
            continue
        param.set_data(ms.Tensor(values.astype(np.float32)))
    return net, batches[1]


@pytest.mark.parametrize("size,stats_batch", [(75, 32), (299, 8)])
def test_folded_network_gives_the_eval_mode_log_probabilities(size, stats_batch, pynative):
    net, images = network_with_statistics(size, stats_batch)
    reference = net(ms.Tensor(images)).asnumpy()
    # Non-trivial: the images get clearly different predictions.
    assert np.ptp(reference, axis=0).max() > 0.5
    folded = fold_batchnorm(net)
    assert folded is net and not folded.training
    output = folded(ms.Tensor(images)).asnumpy()
    assert np.abs(output - reference).max() <= 1e-4


def test_folding_changes_only_the_conv_batchnorms(pynative):
    net = Inceptionv4(classes=10, is_train=True)
    names = [name for name, _ in net.parameters_and_names()]
    fold_batchnorm(net)
    folded = [name for name, _ in net.parameters_and_names()]
    assert [param.name for _, param in net.parameters_and_names()] == folded  # unique names in the graph
    conv_bn = [name for name in names if ".conv.batchnorm." in name]
    assert len(conv_bn) == 4 * CONV_COUNT
    assert set(names) - set(folded) == set(conv_bn)
    biases = set(folded) - set(names)
    assert len(biases) == CONV_COUNT and all(name.endswith(".conv.conv.bias") for name in biases)
    assert "features.0.conv2d_1a_3x3.conv.conv.weight" in folded
    assert not [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
    assert isinstance(net.bn0, nn.BatchNorm1d) and net.softmax.has_bn


def test_folding_a_compiled_network_is_refused():
    net = nn.SequentialCell([nn.Conv2dBnAct(3, 4, 3, has_bn=True, activation="relu")])
    net.set_train(False)
    net(ms.Tensor(np.zeros((1, 3, 8, 8), np.float32)))
    with pytest.raises(ValueError, match="before its first call"):
        fold_batchnorm(net)


def test_export_with_and_without_folding_gives_the_same_onnx_outputs(tmp_path, pynative):
    net, images = network_with_statistics(75, seed=1)
    reference = net(ms.Tensor(images)).asnumpy()
    ckpt = str(tmp_path / "net.ckpt")
    ms.save_checkpoint(net, ckpt)
    ms.set_context(mode=ms.GRAPH_MODE)
    outputs = {}
    for fold in (True, False):
        name = str(tmp_path / f"fold_{fold}")
        path = run_export(get_config(["--config_path", "default_config_cpu.yaml", "--num_classes", "10",
                                      "--width", "75", "--height", "75", "--batch_size", "4",
                                      "--ckpt_file", ckpt, "--file_name", name, "--file_format", "ONNX",
                                      "--fold_batchnorm", str(fold)]))
        ops = [node.op_type for node in onnx.load(path).graph.node]
        # The head keeps its two BatchNorm1d layers; unfolded, every conv has its own BatchNorm too.
        assert ops.count("BatchNormalization") == (2 if fold else 2 + CONV_COUNT)
        outputs[fold] = OnnxClassifier(path, "CPU").predict(images)
    assert np.abs(outputs[True] - outputs[False]).max() <= 1e-4
    assert np.abs(outputs[True] - reference).max() <= 1e-4
