"""Cross-entropy with label smoothing (Szegedy et al., 2016, section 7), used for training and eval."""
import mindspore as ms
from mindspore import nn, ops


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
