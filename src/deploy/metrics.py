"""Top-k accuracy counted with NumPy, for model outputs computed outside MindSpore (onnxruntime,
the C++ inference app).

    acc = TopKAccuracy((1, 5))
    for logits, labels in batches:       # logits (batch, classes), labels (batch,) class indices
        acc.update(logits, labels)
    acc.count, acc.correct[1], acc.accuracy()[5]

An image counts as correct for k when its label is among the k highest scores (ties broken by the
lower class index, as np.argsort(kind="stable") does). With fewer than k classes every image counts.
Any monotonic score works: logits, probabilities or log-probabilities. Scores that are NaN or infinite have no
ranking: they raise NonFiniteScores naming the rows, never count as an accuracy.
"""
import numpy as np


class NonFiniteScores(ValueError):
    """Some rows of scores hold NaN or infinity; `rows` are their indices in the batch."""

    def __init__(self, rows):
        super().__init__(f"{len(rows)} image(s) have NaN or infinite scores")
        self.rows = rows


def topk_correct(logits, labels, ks=(1, 5)):
    """{k: number of rows of `logits` (batch, classes) whose label in `labels` (batch,) is in the top k}."""
    logits = np.asarray(logits)
    labels = np.asarray(labels).reshape(-1)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"expected logits (batch, classes) and labels (batch,), got {logits.shape} "
                         f"and {labels.shape}")
    bad = np.flatnonzero(~np.isfinite(logits).all(axis=1))
    if bad.size:
        raise NonFiniteScores(bad.tolist())
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"label {labels.max() if labels.max() >= logits.shape[1] else labels.min()} is "
                         f"outside the model's {logits.shape[1]} classes")
    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == labels[:, None]
    return {k: int(hits[:, :k].any(axis=1).sum()) for k in ks}


class TopKAccuracy:
    """Running top-k counts over batches: `count` images, `correct[k]` of them correct."""

    def __init__(self, ks=(1, 5)):
        self.ks = tuple(ks)
        self.count = 0
        self.correct = dict.fromkeys(self.ks, 0)

    def update(self, logits, labels):
        """Add one batch of scores (batch, classes) and labels (batch,)."""
        for k, hits in topk_correct(logits, labels, self.ks).items():
            self.correct[k] += hits
        self.count += len(np.asarray(labels).reshape(-1))

    def accuracy(self):
        """{k: fraction of the images so far that are correct for k} (0.0 before any image)."""
        return {k: self.correct[k] / self.count if self.count else 0.0 for k in self.ks}
