"""BatchNorm folding: the inference form of a trained network, each conv's BatchNorm merged into the conv.

In eval mode a BatchNorm after a conv is a per-channel affine map, so conv + BatchNorm equals one conv
with scaled weights and a bias:

    scale = gamma / sqrt(moving_variance + eps)      (eps: that BatchNorm's own)
    W' = W * scale (per output channel)              b' = beta + (b - moving_mean) * scale

(b = 0 for convs without bias). Only `nn.Conv2dBnAct` cells with a BatchNorm change; everything else
(the head's BatchNorm1d and DenseBnAct included) is left as it is. The folded network is for inference
only: it has no moving statistics to train or save.
"""
import mindspore as ms
import numpy as np
from mindspore import nn


def batchnorm_affine(gamma, beta, mean, variance, eps):
    """(scale, shift) of an eval-mode BatchNorm: it maps x to x * scale + shift, per channel."""
    scale = gamma / np.sqrt(variance + eps)
    return scale, beta - mean * scale


def folded_conv(conv, batchnorm):
    """A new nn.Conv2d with bias equal to `conv` followed by `batchnorm` in eval mode."""
    if batchnorm.use_batch_statistics:
        raise ValueError("a BatchNorm with use_batch_statistics=True normalises with the batch's own "
                         "statistics even in eval mode and cannot be folded into its conv.")
    scale, shift = batchnorm_affine(*(param.asnumpy().astype(np.float64) for param in (
        batchnorm.gamma, batchnorm.beta, batchnorm.moving_mean, batchnorm.moving_variance)), batchnorm.eps)
    weight = conv.weight.asnumpy().astype(np.float64) * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.asnumpy().astype(np.float64) if conv.has_bias else np.zeros_like(shift)
    bias = shift + bias * scale
    return nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     pad_mode=conv.pad_mode, padding=conv.padding, dilation=conv.dilation, group=conv.group,
                     has_bias=True, weight_init=ms.Tensor(weight.astype(np.float32)),
                     bias_init=ms.Tensor(bias.astype(np.float32)), data_format=conv.data_format)


def fold_batchnorm(net):
    """Fold the BatchNorm of every nn.Conv2dBnAct in `net` into its conv, in place; return `net` in eval
    mode. The result computes what `net` computes in eval mode, up to float32 rounding.

    Fold before the network's first graph-mode call: a compiled graph would keep running the old cells.
    """
    if net.compile_cache:
        raise ValueError("fold_batchnorm needs a network that has not been compiled yet (a graph-mode "
                         "call keeps running the compiled graph): fold it before its first call.")
    for _, cell in list(net.cells_and_names()):
        if isinstance(cell, nn.Conv2dBnAct) and cell.has_bn:
            weight_name = cell.conv.weight.name
            cell.conv = folded_conv(cell.conv, cell.batchnorm)
            del cell.batchnorm
            cell.has_bn = False
            # Parameter names must stay unique in the graph: the conv's weight keeps its full name.
            cell.conv.weight.name = weight_name
            cell.conv.bias.name = weight_name[:-len("weight")] + "bias"
    net.set_train(False)
    return net
