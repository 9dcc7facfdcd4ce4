"""The training step: RMSProp with weight decay on conv and dense weights only, label-smoothed loss,
fixed loss scale and mixed precision, wrapped in a MindSpore Model."""
from mindspore import nn
from mindspore.amp import FixedLossScaleManager
from mindspore.train import Model

from src.loss import CrossEntropySmooth


def param_groups(net, weight_decay):
    """Two groups: conv/dense weights get `weight_decay`; BatchNorm gamma/beta and biases get none."""
    decayed, other = [], []
    for param in net.trainable_params():
        (decayed if param.name.endswith(".weight") and len(param.shape) > 1 else other).append(param)
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": other, "weight_decay": 0.0},
            {"order_params": net.trainable_params()}]


def create_optimizer(net, learning_rate, cfg):
    """RMSProp(decay, momentum, epsilon, loss_scale) over `param_groups`; `learning_rate` is per step."""
    return nn.RMSProp(param_groups(net, cfg.weight_decay), learning_rate=learning_rate, decay=cfg.decay,
                      momentum=cfg.momentum, epsilon=cfg.epsilon, loss_scale=cfg.loss_scale)


def create_train_model(cfg, net, optimizer):
    """Model training `net` with `optimizer`, smooth_factor, loss_scale (fixed, no overflow skipping)
    and amp_level from `cfg`."""
    loss = CrossEntropySmooth(cfg.num_classes, cfg.smooth_factor)
    return Model(net, loss_fn=loss, optimizer=optimizer, amp_level=cfg.amp_level,
                 loss_scale_manager=FixedLossScaleManager(cfg.loss_scale, drop_overflow_update=False))
