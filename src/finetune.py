"""Starting training from a pretrained checkpoint (config key `pretrained`) and training only the head
(`freeze_backbone`): bn0, softmax.dense and softmax.batchnorm; everything under `features` is the backbone."""
from mindspore import nn

from src.checkpoint import assign_params, checkpoint_num_classes, read_checkpoint

CLASSIFIER = ("softmax.dense.weight", "softmax.dense.bias", "softmax.batchnorm.gamma", "softmax.batchnorm.beta",
              "softmax.batchnorm.moving_mean", "softmax.batchnorm.moving_variance")
"""The parameters whose shape follows num_classes: re-initialised when the class count changes."""


def load_pretrained(cfg, net, params=None, printer=print):
    """Load `cfg.pretrained` (its checkpoint dict `params`, read here when not given) into `net`; with another
    class count the classifier keeps its fresh initial values. Any other mismatch is a UserError and nothing is
    loaded."""
    params = read_checkpoint(cfg.pretrained) if params is None else params
    file_classes = checkpoint_num_classes(params)
    fresh = CLASSIFIER if file_classes is not None and file_classes != cfg.num_classes else ()
    assign_params(net, params, cfg.pretrained, skip=fresh)
    kept = sum(1 for _ in net.get_parameters()) - len(fresh)
    if fresh:
        printer(f"pretrained: kept {kept} parameters of '{cfg.pretrained}'; re-initialised {', '.join(fresh)} for "
                f"{cfg.num_classes} classes (the checkpoint has {file_classes})", flush=True)
    else:
        printer(f"pretrained: loaded all {kept} parameters of '{cfg.pretrained}'", flush=True)


def freeze_backbone(net):
    """Train only the head: the backbone's parameters get no gradient and its BatchNorms always use (and never
    update) their moving statistics, whatever mode the network is set to."""
    net.backbone_frozen = True
    for param in net.features.get_parameters():
        param.requires_grad = False
    for _, cell in net.features.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            cell.use_batch_statistics = False
