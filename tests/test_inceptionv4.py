"""The network: parameter count, stage shapes, minimum input size, training and eval behaviour."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.inceptionv4 import MIN_IMAGE_SIZE, Inceptionv4, check_input_size
from src.training.parts import CrossEntropySmooth


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=ms.GRAPH_MODE)


def _images(batch, size, seed=0):
    return ms.Tensor(np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32))


def test_parameter_count_matches_original():
    net = Inceptionv4()
    assert sum(p.size for p in net.trainable_params()) == 42_684_888


def test_parameter_count_follows_classes():
    # Only the dense layer (1536*c + c) and the last BatchNorm (2c) depend on the class count.
    assert sum(p.size for p in Inceptionv4(classes=10).trainable_params()) == \
        42_684_888 - 1537 * 990 - 2 * 990


def test_stage_shapes_at_299():
    net = Inceptionv4(is_train=False)
    x = _images(1, 299)
    shapes = {}
    for index, block in enumerate(net.features):
        x = block(x)
        shapes[index] = x.shape
    # Stem, Inception-A x4, Reduction-A, Inception-B x7, Reduction-B, Inception-C x3
    assert shapes[0] == shapes[4] == (1, 384, 35, 35)
    assert shapes[5] == shapes[12] == (1, 1024, 17, 17)
    assert shapes[13] == shapes[16] == (1, 1536, 8, 8) and len(shapes) == 17


def test_output_at_minimum_size_is_log_probabilities():
    net = Inceptionv4(classes=7, is_train=False)
    out = net(_images(2, MIN_IMAGE_SIZE)).asnumpy()
    assert out.shape == (2, 7)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-5)


def test_non_square_input():
    net = Inceptionv4(classes=3, is_train=False)
    x = ms.Tensor(np.zeros((1, 3, 80, 120), np.float32))
    assert net(x).shape == (1, 3)


@pytest.mark.parametrize("height,width", [(74, 75), (75, 74), (32, 32)])
def test_too_small_input_names_the_minimum(height, width):
    with pytest.raises(ValueError, match=r"at least 75x75 pixels, got height %d and width %d" % (height, width)):
        check_input_size(height, width)
    net = Inceptionv4(classes=3, is_train=False)
    with pytest.raises(ValueError, match="at least 75x75"):
        net(ms.Tensor(np.zeros((1, 3, height, width), np.float32)))


def test_dropout_keeps_80_percent_in_training():
    net = Inceptionv4(classes=3)
    assert net.dropout.p == pytest.approx(0.2)
    kept = net.dropout(ms.Tensor(np.ones((1000, 1536), np.float32))).asnumpy()
    assert (kept != 0).mean() == pytest.approx(0.8, abs=0.01)


def _moving_mean_after_one_batch(bn, channels):
    """Moving mean after one training batch whose mean is 1 in every channel (starts at 0)."""
    bn.set_train(True)
    shape = (8, channels) if isinstance(bn, nn.BatchNorm1d) else (8, channels, 2, 2)
    bn(ms.Tensor(np.ones(shape, np.float32)))
    return float(bn.moving_mean.asnumpy().mean())


def test_batchnorm_momentum_is_the_weight_of_the_old_statistic():
    net = Inceptionv4(classes=3)
    # MindSpore: moving = momentum * moving + (1 - momentum) * batch. The head's 0.9 is PyTorch's 0.1,
    # the value the original meant; the original's momentum=0.1 would keep only 10% of the history.
    assert _moving_mean_after_one_batch(net.bn0, 1536) == pytest.approx(0.1, abs=1e-6)
    first_bn = net.features[0].conv2d_1a_3x3.conv.batchnorm
    assert _moving_mean_after_one_batch(first_bn, 32) == pytest.approx(0.003, abs=1e-6)
    fast = Inceptionv4(classes=3, bn_momentum=0.9)
    assert _moving_mean_after_one_batch(fast.features[0].conv2d_1a_3x3.conv.batchnorm, 32) == \
        pytest.approx(0.1, abs=1e-6)


def test_convs_have_no_bias_and_xavier_uniform_weights():
    net = Inceptionv4(classes=3)
    convs = [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.Conv2d)]
    assert len(convs) == 149
    assert all(not conv.has_bias for conv in convs)
    weight = net.features[0].conv2d_2a_3x3.conv.conv.weight.asnumpy()  # 32 x 32 x 3 x 3
    fan = 32 * 9
    bound = np.sqrt(6.0 / (fan + fan))
    assert np.abs(weight).max() <= bound
    assert weight.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)


def test_train_step_changes_weights_and_eval_is_deterministic():
    ms.set_seed(0)
    net = Inceptionv4(classes=4)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, CrossEntropySmooth(4)),
                               nn.Momentum(net.trainable_params(), 0.01, 0.9))
    before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
    moving_before = net.bn0.moving_mean.asnumpy().copy()
    loss = step(_images(4, 75), ms.Tensor(np.array([0, 1, 2, 3], np.int32))).asnumpy()
    assert np.isfinite(loss)
    change = {name: np.abs(value - net.parameters_dict()[name].asnumpy()).max() for name, value in before.items()}
    # The dense bias feeds straight into the head BatchNorm, which subtracts the batch mean: its gradient is
    # zero up to rounding.
    assert change.pop("softmax.dense.bias") < 1e-6
    assert min(change.values()) > 0
    assert not np.array_equal(moving_before, net.bn0.moving_mean.asnumpy())

    net.set_train(False)
    x = _images(2, 75, seed=1)
    first, second = net(x).asnumpy(), net(x).asnumpy()
    np.testing.assert_array_equal(first, second)
    # Eval mode uses the moving statistics: one image's output does not depend on its batch mates.
    np.testing.assert_allclose(net(x[:1]).asnumpy(), first[:1], rtol=1e-4, atol=1e-5)
