"""The evaluation model shared by eval.py and the training-time evaluation callback."""
from mindspore import nn
from mindspore.train import Model

from src.dataset import create_dataset
from src.loss import CrossEntropySmooth


def create_eval_model(cfg, net, dataset_path, preprocessing=None, class_names=None, class_ids=None):
    """(Model reporting Loss, Top1-Acc and Top5-Acc, eval dataset of `dataset_path`) for `net`; `preprocessing`
    (src.preprocessing) defaults to the config's; class folders are labelled by their position in the model's
    classes (WordNet ids `class_ids` or names `class_names`) when given.

    With fewer than five classes, Top5-Acc counts the top num_classes (and is 1.0).
    """
    metrics = {"Loss": nn.Loss(), "Top1-Acc": nn.Top1CategoricalAccuracy(),
               "Top5-Acc": nn.TopKCategoricalAccuracy(min(5, cfg.num_classes))}
    model = Model(net, loss_fn=CrossEntropySmooth(cfg.num_classes), metrics=metrics)
    return model, create_dataset(cfg, dataset_path, False, preprocessing=preprocessing, class_names=class_names,
                                 class_ids=class_ids)
