"""Inception-v4 (Szegedy et al., 2016, arXiv:1602.07261).

Block names follow the paper's figures: Stem (Fig. 3), Inception-A (Fig. 4),
Reduction-A (Fig. 7, with k, l, m, n from Table 1), Inception-B (Fig. 5),
Reduction-B (Fig. 8), Inception-C (Fig. 6), whole network (Fig. 9).
A "V" in the figures means "valid" padding; every other conv keeps the
spatial size ("same").
"""
from mindspore import nn, ops
from mindspore.common.initializer import XavierUniform

MIN_INPUT_SIZE = 75
"""Smallest height/width for which every "valid" stride-2 layer still has an output."""

NUM_FEATURES = 1536


class Conv2dBnAct(nn.Cell):
    """Conv (no bias, Xavier-uniform) + BatchNorm + ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, pad_mode="same",
                 bn_momentum=0.997):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              pad_mode=pad_mode, has_bias=False, weight_init=XavierUniform())
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3, momentum=bn_momentum)
        self.relu = nn.ReLU()

    def construct(self, x):
        return self.relu(self.bn(self.conv(x)))


def _avg_pool_same():
    """3x3 stride-1 average pool that keeps the size and ignores the zero padding."""
    return nn.AvgPool2d(kernel_size=3, stride=1, pad_mode="same")


def _max_pool_valid():
    return nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")


class _Block(nn.Cell):
    """Base for the multi-branch blocks: subclasses build `self.branches`, outputs are concatenated."""

    def __init__(self, bn_momentum):
        super().__init__()
        self.bn_momentum = bn_momentum
        self.concat = ops.Concat(axis=1)

    def conv(self, *args, **kwargs):
        return Conv2dBnAct(*args, bn_momentum=self.bn_momentum, **kwargs)

    def seq(self, *cells):
        return nn.SequentialCell(list(cells))

    def construct(self, x):
        return self.concat(tuple(branch(x) for branch in self.branches))


class Stem(nn.Cell):
    """Figure 3: 299x299x3 -> 35x35x384."""

    def __init__(self, in_channels, bn_momentum=0.997):
        super().__init__()
        conv = lambda *a, **k: Conv2dBnAct(*a, bn_momentum=bn_momentum, **k)  # noqa: E731
        self.conv1 = conv(in_channels, 32, 3, stride=2, pad_mode="valid")
        self.conv2 = conv(32, 32, 3, pad_mode="valid")
        self.conv3 = conv(32, 64, 3)
        self.mixed_3a_pool = _max_pool_valid()
        self.mixed_3a_conv = conv(64, 96, 3, stride=2, pad_mode="valid")
        self.mixed_4a_branch0 = nn.SequentialCell([conv(160, 64, 1), conv(64, 96, 3, pad_mode="valid")])
        self.mixed_4a_branch1 = nn.SequentialCell([
            conv(160, 64, 1), conv(64, 64, (1, 7)), conv(64, 64, (7, 1)),
            conv(64, 96, 3, pad_mode="valid")])
        self.mixed_5a_conv = conv(192, 192, 3, stride=2, pad_mode="valid")
        self.mixed_5a_pool = _max_pool_valid()
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        x = self.conv3(self.conv2(self.conv1(x)))
        x = self.concat((self.mixed_3a_pool(x), self.mixed_3a_conv(x)))
        x = self.concat((self.mixed_4a_branch0(x), self.mixed_4a_branch1(x)))
        return self.concat((self.mixed_5a_conv(x), self.mixed_5a_pool(x)))


class InceptionA(_Block):
    """Figure 4: 35x35x384 -> 35x35x384."""

    def __init__(self, bn_momentum=0.997):
        super().__init__(bn_momentum)
        self.branches = nn.CellList([
            self.seq(_avg_pool_same(), self.conv(384, 96, 1)),
            self.conv(384, 96, 1),
            self.seq(self.conv(384, 64, 1), self.conv(64, 96, 3)),
            self.seq(self.conv(384, 64, 1), self.conv(64, 96, 3), self.conv(96, 96, 3)),
        ])


class ReductionA(_Block):
    """Figure 7: 35x35x384 -> 17x17x(384 + n + m)."""

    def __init__(self, k, l, m, n, bn_momentum=0.997):
        super().__init__(bn_momentum)
        self.branches = nn.CellList([
            _max_pool_valid(),
            self.conv(384, n, 3, stride=2, pad_mode="valid"),
            self.seq(self.conv(384, k, 1), self.conv(k, l, 3),
                     self.conv(l, m, 3, stride=2, pad_mode="valid")),
        ])


class InceptionB(_Block):
    """Figure 5: 17x17x1024 -> 17x17x1024."""

    def __init__(self, bn_momentum=0.997):
        super().__init__(bn_momentum)
        self.branches = nn.CellList([
            self.seq(_avg_pool_same(), self.conv(1024, 128, 1)),
            self.conv(1024, 384, 1),
            self.seq(self.conv(1024, 192, 1), self.conv(192, 224, (1, 7)), self.conv(224, 256, (7, 1))),
            self.seq(self.conv(1024, 192, 1), self.conv(192, 192, (1, 7)), self.conv(192, 224, (7, 1)),
                     self.conv(224, 224, (1, 7)), self.conv(224, 256, (7, 1))),
        ])


class ReductionB(_Block):
    """Figure 8: 17x17x1024 -> 8x8x1536."""

    def __init__(self, bn_momentum=0.997):
        super().__init__(bn_momentum)
        self.branches = nn.CellList([
            _max_pool_valid(),
            self.seq(self.conv(1024, 192, 1), self.conv(192, 192, 3, stride=2, pad_mode="valid")),
            self.seq(self.conv(1024, 256, 1), self.conv(256, 256, (1, 7)), self.conv(256, 320, (7, 1)),
                     self.conv(320, 320, 3, stride=2, pad_mode="valid")),
        ])


class InceptionC(nn.Cell):
    """Figure 6: 8x8x1536 -> 8x8x1536 (two branches split into 1x3 and 3x1)."""

    def __init__(self, bn_momentum=0.997):
        super().__init__()
        conv = lambda *a, **k: Conv2dBnAct(*a, bn_momentum=bn_momentum, **k)  # noqa: E731
        self.branch0 = nn.SequentialCell([_avg_pool_same(), conv(1536, 256, 1)])
        self.branch1 = conv(1536, 256, 1)
        self.branch2 = conv(1536, 384, 1)
        self.branch2_1x3 = conv(384, 256, (1, 3))
        self.branch2_3x1 = conv(384, 256, (3, 1))
        self.branch3 = nn.SequentialCell([conv(1536, 384, 1), conv(384, 448, (1, 3)), conv(448, 512, (3, 1))])
        self.branch3_1x3 = conv(512, 256, (1, 3))
        self.branch3_3x1 = conv(512, 256, (3, 1))
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        b2 = self.branch2(x)
        b3 = self.branch3(x)
        return self.concat((self.branch0(x), self.branch1(x),
                            self.branch2_1x3(b2), self.branch2_3x1(b2),
                            self.branch3_1x3(b3), self.branch3_3x1(b3)))


class Inceptionv4(nn.Cell):
    """Figure 9: Stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C, average pool, dropout, dense.

    The head is the model zoo's: BatchNorm1d(1536) before dropout, and BatchNorm1d + log-softmax
    after the dense layer. Dropout keeps 80% of the activations (paper, Fig. 9) while training.

    Args:
        in_channels: input image channels.
        classes: number of output classes.
        k, l, m, n: Reduction-A filter counts (paper, Table 1).
        is_train: initial mode; `set_train()` changes it later.
        bn_momentum: weight of the old value in every conv BatchNorm's moving statistics.
        head_bn_momentum: the same for the two BatchNorm1d layers of the head.
        dropout_keep_prob: fraction of features the dropout keeps while training (paper: 0.8).
    """

    def __init__(self, in_channels=3, classes=1000, k=192, l=224, m=256, n=384, is_train=True,
                 bn_momentum=0.997, head_bn_momentum=0.9, dropout_keep_prob=0.8):
        super().__init__()
        self.stem = Stem(in_channels, bn_momentum)
        self.inception_a = nn.SequentialCell([InceptionA(bn_momentum) for _ in range(4)])
        self.reduction_a = ReductionA(k, l, m, n, bn_momentum)
        self.inception_b = nn.SequentialCell([InceptionB(bn_momentum) for _ in range(7)])
        self.reduction_b = ReductionB(bn_momentum)
        self.inception_c = nn.SequentialCell([InceptionC(bn_momentum) for _ in range(3)])
        self.mean = ops.ReduceMean(keep_dims=False)
        self.bn0 = nn.BatchNorm1d(NUM_FEATURES, eps=1e-3, momentum=head_bn_momentum)
        self.dropout = nn.Dropout(p=1.0 - dropout_keep_prob)
        self.classifier = nn.Dense(NUM_FEATURES, classes, weight_init=XavierUniform())
        self.bn1 = nn.BatchNorm1d(classes, eps=1e-3, momentum=head_bn_momentum)
        self.log_softmax = nn.LogSoftmax(axis=1)
        self.set_train(is_train)

    def features(self, x):
        """The three stage outputs: 384x35x35, 1024x17x17 and 1536x8x8 at 299x299."""
        x = self.inception_a(self.stem(x))
        x = self.inception_b(self.reduction_a(x))
        return self.inception_c(self.reduction_b(x))

    def construct(self, x):
        check_input_size(x.shape[2], x.shape[3])
        x = self.mean(self.features(x), (2, 3))
        x = self.dropout(self.bn0(x))
        return self.log_softmax(self.bn1(self.classifier(x)))


def check_input_size(height, width):
    """Raise ValueError unless the image is at least MIN_INPUT_SIZE on both sides."""
    if height < MIN_INPUT_SIZE or width < MIN_INPUT_SIZE:
        raise ValueError(f"Inception-v4 needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels, "
                         f"got {height}x{width}: set 'height' and 'width' to {MIN_INPUT_SIZE} or more.")


def create_network(cfg, is_train=True):
    """The network described by a Config (num_classes, bn_momentum, dropout_keep_prob)."""
    return Inceptionv4(classes=cfg.num_classes, is_train=is_train, bn_momentum=cfg.bn_momentum,
                       dropout_keep_prob=cfg.dropout_keep_prob)
