"""Inception-v4 (Szegedy et al., 2016, arXiv:1602.07261), as the original MindSpore model zoo builds it.

The function and the parameter names are the original's (`features.0.conv2d_1a_3x3.conv.conv.weight`,
`features.6.branch_2.1.conv.batchnorm.gamma`, `softmax.dense.weight`, `bn0.beta`, ...), so the original's
checkpoints load as they are; TF-slim, mindcv and timm compute the same function. Where the paper's
Figures 5 and 6 draw the 1x7/7x1 and 1x3/3x1 convolutions in the other order, the implementations win:
they are what every published set of weights was trained with.

`features` holds 17 blocks: Stem (0), 4 x Inception-A (1-4), Reduction-A (5), 7 x Inception-B (6-12),
Reduction-B (13), 3 x Inception-C (14-16). Each block concatenates its branches in the order
branch_0, branch_1, ...; pooling branches come last.
"""
import functools

from mindspore import nn, ops
from mindspore.common.initializer import XavierUniform

from src.model_utils.config import MIN_IMAGE_SIZE

NUM_FEATURES = 1536
CONV_BN_EPS = 1e-5
"""BatchNorm eps of every convolution (nn.Conv2dBnAct's default, as in the original)."""
BN0_EPS = 1e-3
HEAD_BN_EPS = 1e-5
"""eps of the BatchNorm1d after the dense layer (nn.DenseBnAct's default, as in the original)."""


class BasicConv2d(nn.Cell):
    """Conv (no bias, Xavier-uniform) + BatchNorm + ReLU: the original's `Conv2d` cell.

    Its `conv` is an nn.Conv2dBnAct (`conv`, `batchnorm`), hence the names `<name>.conv.conv.weight` and
    `<name>.conv.batchnorm.{gamma,beta,moving_mean,moving_variance}`. Every call states its kernel, stride and
    padding ("same" keeps the size at stride 1; "valid" is the figures' "V"), as the original does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride, pad_mode, momentum):
        super().__init__()
        self.conv = nn.Conv2dBnAct(in_channels, out_channels, kernel_size, stride=stride, pad_mode=pad_mode,
                                   has_bias=False, weight_init=XavierUniform(), has_bn=True,
                                   momentum=momentum, eps=CONV_BN_EPS, activation="relu")

    def construct(self, x):
        return self.conv(x)


class Stem(nn.Cell):
    """299x299x3 -> 35x35x384 (Fig. 3)."""

    def __init__(self, in_channels=3, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.conv2d_1a_3x3 = conv(in_channels, 32, 3, stride=2, pad_mode="valid")                # 149x149x32
        self.conv2d_2a_3x3 = conv(32, 32, 3, stride=1, pad_mode="valid")                         # 147x147x32
        self.conv2d_2b_3x3 = conv(32, 64, 3, stride=1, pad_mode="same")                          # 147x147x64
        self.mixed_3a_branch_0 = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")         # 73x73x64
        self.mixed_3a_branch_1 = conv(64, 96, 3, stride=2, pad_mode="valid")                     # 73x73x96
        self.mixed_4a_branch_0 = nn.SequentialCell(conv(160, 64, 1, stride=1, pad_mode="same"),
                                                   conv(64, 96, 3, stride=1, pad_mode="valid"))  # 71x71x96
        self.mixed_4a_branch_1 = nn.SequentialCell(conv(160, 64, 1, stride=1, pad_mode="same"),
                                                   conv(64, 64, (1, 7), stride=1, pad_mode="same"),
                                                   conv(64, 64, (7, 1), stride=1, pad_mode="same"),
                                                   conv(64, 96, 3, stride=1, pad_mode="valid"))  # 71x71x96
        self.mixed_5a_branch_0 = conv(192, 192, 3, stride=2, pad_mode="valid")                   # 35x35x192
        self.mixed_5a_branch_1 = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")         # 35x35x192
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        x = self.conv2d_2b_3x3(self.conv2d_2a_3x3(self.conv2d_1a_3x3(x)))
        x = self.concat((self.mixed_3a_branch_0(x), self.mixed_3a_branch_1(x)))
        x = self.concat((self.mixed_4a_branch_0(x), self.mixed_4a_branch_1(x)))
        return self.concat((self.mixed_5a_branch_0(x), self.mixed_5a_branch_1(x)))


class InceptionA(nn.Cell):
    """35x35x384 -> 35x35x384: 1x1 96 | 1x1 64, 3x3 96 | 1x1 64, 3x3 96, 3x3 96 | avg pool, 1x1 96 (Fig. 4)."""

    def __init__(self, in_channels=384, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.branch_0 = conv(in_channels, 96, 1, stride=1, pad_mode="same")
        self.branch_1 = nn.SequentialCell(conv(in_channels, 64, 1, stride=1, pad_mode="same"),
                                          conv(64, 96, 3, stride=1, pad_mode="same"))
        self.branch_2 = nn.SequentialCell(conv(in_channels, 64, 1, stride=1, pad_mode="same"),
                                          conv(64, 96, 3, stride=1, pad_mode="same"),
                                          conv(96, 96, 3, stride=1, pad_mode="same"))
        self.branch_3 = nn.SequentialCell(nn.AvgPool2d(kernel_size=3, stride=1, pad_mode="same"),
                                          conv(in_channels, 96, 1, stride=1, pad_mode="same"))
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        return self.concat((self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)))


class InceptionB(nn.Cell):
    """17x17x1024 -> 17x17x1024 (Fig. 5, 7x1/1x7 order as in the implementations):
    1x1 384 | 1x1 192, 1x7 224, 7x1 256 | 1x1 192, 7x1 192, 1x7 224, 7x1 224, 1x7 256 | avg pool, 1x1 128."""

    def __init__(self, in_channels=1024, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.branch_0 = conv(in_channels, 384, 1, stride=1, pad_mode="same")
        self.branch_1 = nn.SequentialCell(conv(in_channels, 192, 1, stride=1, pad_mode="same"),
                                          conv(192, 224, (1, 7), stride=1, pad_mode="same"),
                                          conv(224, 256, (7, 1), stride=1, pad_mode="same"))
        self.branch_2 = nn.SequentialCell(conv(in_channels, 192, 1, stride=1, pad_mode="same"),
                                          conv(192, 192, (7, 1), stride=1, pad_mode="same"),
                                          conv(192, 224, (1, 7), stride=1, pad_mode="same"),
                                          conv(224, 224, (7, 1), stride=1, pad_mode="same"),
                                          conv(224, 256, (1, 7), stride=1, pad_mode="same"))
        self.branch_3 = nn.SequentialCell(nn.AvgPool2d(kernel_size=3, stride=1, pad_mode="same"),
                                          conv(in_channels, 128, 1, stride=1, pad_mode="same"))
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        return self.concat((self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)))


class ReductionA(nn.Cell):
    """35x35x384 -> 17x17x(n + m + 384): 3x3/2 n | 1x1 k, 3x3 l, 3x3/2 m | max pool (Fig. 7, Table 1)."""

    def __init__(self, in_channels=384, k=192, l=224, m=256, n=384, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.branch_0 = conv(in_channels, n, 3, stride=2, pad_mode="valid")
        self.branch_1 = nn.SequentialCell(conv(in_channels, k, 1, stride=1, pad_mode="same"),
                                          conv(k, l, 3, stride=1, pad_mode="same"),
                                          conv(l, m, 3, stride=2, pad_mode="valid"))
        self.branch_2 = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        return self.concat((self.branch_0(x), self.branch_1(x), self.branch_2(x)))


class ReductionB(nn.Cell):
    """17x17x1024 -> 8x8x1536: 1x1 192, 3x3/2 192 | 1x1 256, 1x7 256, 7x1 320, 3x3/2 320 | max pool (Fig. 8)."""

    def __init__(self, in_channels=1024, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.branch_0 = nn.SequentialCell(conv(in_channels, 192, 1, stride=1, pad_mode="same"),
                                          conv(192, 192, 3, stride=2, pad_mode="valid"))
        self.branch_1 = nn.SequentialCell(conv(in_channels, 256, 1, stride=1, pad_mode="same"),
                                          conv(256, 256, (1, 7), stride=1, pad_mode="same"),
                                          conv(256, 320, (7, 1), stride=1, pad_mode="same"),
                                          conv(320, 320, 3, stride=2, pad_mode="valid"))
        self.branch_2 = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        return self.concat((self.branch_0(x), self.branch_1(x), self.branch_2(x)))


class InceptionC(nn.Cell):
    """8x8x1536 -> 8x8x1536 (Fig. 6, 3x1/1x3 order as in the implementations):
    1x1 256 | 1x1 384 -> [1x3 256, 3x1 256] | 1x1 384, 3x1 448, 1x3 512 -> [1x3 256, 3x1 256] | avg pool, 1x1 256."""

    def __init__(self, in_channels=1536, momentum=0.997):
        super().__init__()
        conv = functools.partial(BasicConv2d, momentum=momentum)
        self.branch_0 = conv(in_channels, 256, 1, stride=1, pad_mode="same")
        self.branch_1 = conv(in_channels, 384, 1, stride=1, pad_mode="same")
        self.branch_1_1 = conv(384, 256, (1, 3), stride=1, pad_mode="same")
        self.branch_1_2 = conv(384, 256, (3, 1), stride=1, pad_mode="same")
        self.branch_2 = nn.SequentialCell(conv(in_channels, 384, 1, stride=1, pad_mode="same"),
                                          conv(384, 448, (3, 1), stride=1, pad_mode="same"),
                                          conv(448, 512, (1, 3), stride=1, pad_mode="same"))
        self.branch_2_1 = conv(512, 256, (1, 3), stride=1, pad_mode="same")
        self.branch_2_2 = conv(512, 256, (3, 1), stride=1, pad_mode="same")
        self.branch_3 = nn.SequentialCell(nn.AvgPool2d(kernel_size=3, stride=1, pad_mode="same"),
                                          conv(in_channels, 256, 1, stride=1, pad_mode="same"))
        self.concat = ops.Concat(axis=1)

    def construct(self, x):
        x1 = self.branch_1(x)
        x2 = self.branch_2(x)
        return self.concat((self.branch_0(x), self.branch_1_1(x1), self.branch_1_2(x1),
                            self.branch_2_1(x2), self.branch_2_2(x2), self.branch_3(x)))


class Inceptionv4(nn.Cell):
    """Stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C (`features`), then the original's head:
    global average pool, `bn0` (BatchNorm1d, eps 1e-3), dropout, `softmax` (dense with zero-initialised bias,
    BatchNorm1d with eps 1e-5, log-softmax). The network returns log-probabilities.

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
        blocks = [Stem(in_channels, bn_momentum)]
        blocks += [InceptionA(384, bn_momentum) for _ in range(4)]
        blocks += [ReductionA(384, k, l, m, n, bn_momentum)]
        blocks += [InceptionB(1024, bn_momentum) for _ in range(7)]
        blocks += [ReductionB(1024, bn_momentum)]
        blocks += [InceptionC(1536, bn_momentum) for _ in range(3)]
        self.features = nn.SequentialCell(blocks)
        self.avgpool = ops.ReduceMean(keep_dims=False)
        self.softmax = nn.DenseBnAct(NUM_FEATURES, classes, weight_init=XavierUniform(), bias_init="zeros",
                                     has_bias=True, has_bn=True, momentum=head_bn_momentum, eps=HEAD_BN_EPS,
                                     activation="logsoftmax")
        self.dropout = nn.Dropout(p=1.0 - dropout_keep_prob)
        self.bn0 = nn.BatchNorm1d(NUM_FEATURES, eps=BN0_EPS, momentum=head_bn_momentum)
        self.backbone_frozen = False
        """True (src.training.parts.freeze_backbone): no gradient flows into `features`, so none is computed there."""
        self.set_train(is_train)

    def forward_features(self, x):
        """The last stage's feature map: 1536x8x8 at 299x299."""
        check_input_size(x.shape[2], x.shape[3])
        x = self.features(x)
        return ops.stop_gradient(x) if self.backbone_frozen else x

    def forward_head(self, x):
        """Feature map -> log-probabilities."""
        x = self.bn0(self.avgpool(x, (2, 3)))
        return self.softmax(self.dropout(x))

    def construct(self, x):
        return self.forward_head(self.forward_features(x))


def check_input_size(height, width):
    """Raise ValueError unless the image is at least MIN_IMAGE_SIZE on both sides."""
    if height < MIN_IMAGE_SIZE or width < MIN_IMAGE_SIZE:
        raise ValueError(f"Inception-v4 needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels, "
                         f"got height {height} and width {width}: set 'height' and 'width' to "
                         f"{MIN_IMAGE_SIZE} or more.")


def network_from_config(cfg, is_train=True, num_classes=None):
    """The network described by a Config (num_classes unless given, bn_momentum, dropout_keep_prob)."""
    return Inceptionv4(classes=num_classes or cfg.num_classes, is_train=is_train, bn_momentum=cfg.bn_momentum,
                       dropout_keep_prob=cfg.dropout_keep_prob)
