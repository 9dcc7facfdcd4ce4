"""The parts of a training run: label-smoothed cross-entropy (Szegedy et al., 2016, section 7), the
warm-up + cosine learning-rate schedule, RMSProp with weight decay on conv and dense weights only, the train
Model (fixed loss scale, mixed precision), the eval Model shared by eval.py and the evaluation callback, and
fine-tuning: starting from a pretrained checkpoint (`pretrained`) and training only the head
(`freeze_backbone`: bn0, softmax.dense and softmax.batchnorm; everything under `features` is the backbone).
"""
import math

import mindspore as ms
import numpy as np
from mindspore import nn, ops
from mindspore.amp import FixedLossScaleManager
from mindspore.train import Model

from src.checkpoint import assign_params, checkpoint_num_classes, read_checkpoint
from src.dataset import create_dataset
from src.inceptionv4 import network_from_config
from src.runtime.stops import UserError


class CrossEntropySmooth(nn.LossBase):
    """Softmax cross-entropy against one-hot labels smoothed to (1 - s) + s/K on the true class, s/K elsewhere.

    The network already outputs log-probabilities; softmax(log_softmax(x)) = softmax(x), so applying
    softmax cross-entropy to them is exact.
    """

    def __init__(self, num_classes, smooth_factor=0.0, reduction="mean"):
        super().__init__(reduction)
        self.num_classes = num_classes
        self.on_value = ms.Tensor(1.0 - smooth_factor + smooth_factor / num_classes, ms.float32)
        self.off_value = ms.Tensor(smooth_factor / num_classes, ms.float32)
        self.one_hot = ops.OneHot()
        self.ce = nn.SoftmaxCrossEntropyWithLogits(reduction=reduction)

    def construct(self, logits, label):
        target = self.one_hot(label, self.num_classes, self.on_value, self.off_value)
        return self.ce(logits, target)


def get_lr(lr_init, lr_end, lr_max, warmup_epochs, total_epochs, steps_per_epoch):
    """One learning rate per step of the whole run (`total_epochs * steps_per_epoch` values, float32).

    Step i of epoch e (1-based) is entry (e - 1) * steps_per_epoch + i: a run that starts at
    `start_epoch` begins at entry (start_epoch - 1) * steps_per_epoch.
    """
    total = total_epochs * steps_per_epoch
    warmup = min(int(warmup_epochs * steps_per_epoch), total)
    lrs = np.empty(total, np.float32)
    for step in range(total):
        if step < warmup:
            lrs[step] = lr_init + (lr_max - lr_init) * step / warmup
        else:
            progress = (step - warmup) / max(total - warmup, 1)
            lrs[step] = lr_end + (lr_max - lr_end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return lrs


def param_groups(net, weight_decay):
    """Two groups: conv/dense weights get `weight_decay`; BatchNorm gamma/beta and biases get none."""
    decayed, other = [], []
    for param in net.trainable_params():
        (decayed if param.name.endswith(".weight") and len(param.shape) > 1 else other).append(param)
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": other, "weight_decay": 0.0},
            {"order_params": net.trainable_params()}]


def create_train_dataset(cfg, rank_id, group_size, preprocessing, skip=0):
    """This rank's training pipeline of cfg.dataset_path without its first `skip` batches; UserError when it
    yields no full batch."""
    dataset = create_dataset(cfg, cfg.dataset_path, True, rank_id=rank_id, group_size=group_size,
                             shuffle=cfg.shuffle, preprocessing=preprocessing)
    if dataset.get_dataset_size() == 0:
        raise UserError(f"'{cfg.dataset_path}' yields no full batch of {cfg.batch_size} images per device: "
                        "lower batch_size or add data.")
    return dataset.skip(skip) if skip else dataset


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


HEAD_PARAMETERS = ("softmax.dense.weight", "softmax.dense.bias", "softmax.batchnorm.gamma", "softmax.batchnorm.beta",
                   "softmax.batchnorm.moving_mean", "softmax.batchnorm.moving_variance")
"""The parameters whose shape follows num_classes: re-initialised when the class count changes."""


def load_pretrained(cfg, net, params=None, printer=print):
    """Load `cfg.pretrained` (its checkpoint dict `params`, read here when not given) into `net`; with another
    class count the classifier keeps its fresh initial values. Any other mismatch is a UserError and nothing is
    loaded."""
    params = read_checkpoint(cfg.pretrained) if params is None else params
    file_classes = checkpoint_num_classes(params)
    fresh = HEAD_PARAMETERS if file_classes is not None and file_classes != cfg.num_classes else ()
    assign_params(net, params, cfg.pretrained, skip=fresh)
    kept = sum(1 for _ in net.get_parameters()) - len(fresh)
    if fresh:
        printer(f"pretrained: kept {kept} parameters of '{cfg.pretrained}'; re-initialised {', '.join(fresh)} for "
                f"{cfg.num_classes} classes (the checkpoint has {file_classes})", flush=True)
    else:
        printer(f"pretrained: loaded all {kept} parameters of '{cfg.pretrained}'", flush=True)


def create_train_network(cfg, pretrained=None):
    """cfg's network in train mode, holding the weights of the checkpoint dict `pretrained` (of cfg.pretrained)
    when given, its backbone frozen with cfg.freeze_backbone."""
    net = network_from_config(cfg, is_train=True)
    if pretrained:
        load_pretrained(cfg, net, pretrained)
    if cfg.freeze_backbone:
        freeze_backbone(net)
    return net


def freeze_backbone(net):
    """Train only the head: the backbone's parameters get no gradient and its BatchNorms always use (and never
    update) their moving statistics, whatever mode the network is set to."""
    net.backbone_frozen = True
    for param in net.features.get_parameters():
        param.requires_grad = False
    for _, cell in net.features.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            cell.use_batch_statistics = False


def create_eval_model(cfg, net, dataset_path, preprocessing=None, class_names=None, class_ids=None):
    """(Model reporting Loss, Top1-Acc and Top5-Acc, eval dataset of `dataset_path`) for `net`; `preprocessing`
    (src.inputs.preprocessing) defaults to the config's; class folders are labelled by their position in the model's
    classes (WordNet ids `class_ids` or names `class_names`) when given.

    With fewer than five classes, Top5-Acc counts the top num_classes (and is 1.0).
    """
    metrics = {"Loss": nn.Loss(), "Top1-Acc": nn.Top1CategoricalAccuracy(),
               "Top5-Acc": nn.TopKCategoricalAccuracy(min(5, cfg.num_classes))}
    model = Model(net, loss_fn=CrossEntropySmooth(cfg.num_classes), metrics=metrics)
    return model, create_dataset(cfg, dataset_path, False, preprocessing=preprocessing, class_names=class_names,
                                 class_ids=class_ids)
