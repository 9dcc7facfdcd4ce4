"""The training record: metrics.csv (one row per epoch) and curves.png beside the checkpoints, rewritten
atomically after every epoch."""
import csv
import math
import os
import time

from mindspore.train import Callback

from src.callback import _loss_value
from src.fileio import atomic_output

METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
COLUMNS = ("epoch", "global_step", "train_loss", "learning_rate", "images_per_second", "epoch_seconds",
           "top1", "top5", "eval_loss")
"""train_loss: mean over the epoch's steps; learning_rate: that of the epoch's last step; images_per_second
and epoch_seconds: this process's training steps (evaluation excluded; the first epoch includes the graph
compile); top1, top5, eval_loss: evaluation after the epoch, empty when there was none."""


def read_rows(path):
    """The rows of a metrics.csv as dicts of str ([] when the file does not exist)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def write_rows(path, rows):
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def _floats(rows, column):
    """(epochs, values) of the rows where `column` has a value."""
    pairs = [(int(row["epoch"]), float(row[column])) for row in rows if row.get(column)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def draw_curves(path, rows, title):
    """Training (and held-out) loss and held-out top-1 accuracy against epoch, as a PNG at `path`."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel
    from matplotlib.ticker import MaxNLocator  # pylint: disable=import-outside-toplevel

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=100)
    loss_ax.plot(*_floats(rows, "train_loss"), "o-", label="training (label-smoothed, mean of the epoch)")
    epochs, eval_loss = _floats(rows, "eval_loss")
    if eval_loss:
        loss_ax.plot(epochs, eval_loss, "s--", label="held-out")
    losses = [value for line in loss_ax.get_lines() for value in line.get_ydata()]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 50:
        loss_ax.set_yscale("log")  # a diverged or early epoch would flatten the rest
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    loss_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    epochs, top1 = _floats(rows, "top1")
    if top1:
        acc_ax.plot(epochs, [100 * value for value in top1], "o-", color="tab:green")
        high = top1[-1] > 0.9  # label below the last point near the top, above it otherwise
        acc_ax.annotate(f"{100 * top1[-1]:.1f} %", (epochs[-1], 100 * top1[-1]), textcoords="offset points",
                        xytext=(-6, -8 if high else 6), ha="right", va="top" if high else "bottom")
    else:
        acc_ax.text(0.5, 0.5, "no evaluation\n(set eval_dataset_path)", ha="center", va="center",
                    transform=acc_ax.transAxes)
    acc_ax.set(xlabel="epoch", ylabel="held-out top-1 accuracy (%)", title="Held-out accuracy", ylim=(0, 101))
    last = max([int(row["epoch"]) for row in rows] + [1])
    for axis in (loss_ax, acc_ax):
        axis.set_xlim(0.5, last + 0.5)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


class TrainingRecord(Callback):
    """After every epoch, rewrites `<directory>/metrics.csv` and `<directory>/curves.png`.

    Args:
        directory: the run's checkpoint folder.
        steps_per_epoch, batch_size, learning_rates: the schedule (learning_rates: one per global step).
        start_step: global steps done before this run.
        previous: metrics.csv of the run being resumed (its rows before this run's first epoch are kept), or None
            to start a new record.
        evaluator: the EvalCallBack of the run, or None: its `history` of (epoch, {'Top1-Acc', 'Top5-Acc',
            'Loss'}) gives the evaluation columns. Place this callback after it.
    """

    def __init__(self, directory, steps_per_epoch, batch_size, learning_rates, start_step, previous=None,
                 evaluator=None, printer=print):
        super().__init__()
        self.directory = directory
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.learning_rates = learning_rates
        self.step = start_step
        self.evaluator = evaluator
        first_epoch = start_step // steps_per_epoch + 1
        self.rows = [row for row in read_rows(previous) if int(row["epoch"]) < first_epoch] if previous else []
        self.losses = []
        self.epoch_start = self.last_step_end = time.time()
        printer(f"record: {os.path.join(directory, METRICS_FILE)} and {CURVES_FILE} beside it, after every epoch",
                flush=True)

    def on_train_epoch_begin(self, run_context):
        self.losses = []
        self.epoch_start = time.time()

    def on_train_step_end(self, run_context):
        self.losses.append(_loss_value(run_context.original_args().net_outputs))
        self.last_step_end = time.time()

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        end_step = epoch * self.steps_per_epoch
        seconds = max(self.last_step_end - self.epoch_start, 1e-9)
        metrics = dict(self.evaluator.history).get(epoch, {}) if self.evaluator else {}
        row = {"epoch": epoch, "global_step": end_step,
               "train_loss": f"{math.fsum(self.losses) / max(len(self.losses), 1):.6g}",
               "learning_rate": f"{float(self.learning_rates[end_step - 1]):.6g}",
               "images_per_second": f"{(end_step - self.step) * self.batch_size / seconds:.4g}",
               "epoch_seconds": f"{seconds:.2f}",
               "top1": f"{metrics['Top1-Acc']:.6g}" if metrics else "",
               "top5": f"{metrics['Top5-Acc']:.6g}" if metrics else "",
               "eval_loss": f"{metrics['Loss']:.6g}" if metrics else ""}
        self.step = end_step
        self.rows = [old for old in self.rows if int(old["epoch"]) < epoch] + [row]
        os.makedirs(self.directory, exist_ok=True)
        write_rows(os.path.join(self.directory, METRICS_FILE), self.rows)
        draw_curves(os.path.join(self.directory, CURVES_FILE), self.rows,
                    f"Inception-v4 training, {os.path.abspath(self.directory)}")
