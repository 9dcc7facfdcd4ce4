"""Every Callback of the project: progress and loss log (with the non-finite loss guard), atomic
checkpoints with rotation, evaluation on the validation split that keeps the best checkpoint, the stop on
SIGINT/SIGTERM, the training record (metrics.csv, one row per epoch, and curves.png beside the checkpoints,
rewritten atomically after every epoch), the profiler over a few steps (`enable_profiling`) and the count of
images eval.py scores.
"""
import array
import csv
import glob
import math
import os
import time

import numpy as np
from mindspore.train import Callback

from src.checkpoint import TRAINING_KEY, save_checkpoint
from src.runtime import stops
from src.runtime.fileio import atomic_output
from src.runtime.stops import UserError
from src.training.runs import checkpoint_name, checkpoint_pattern, epoch_position


class TrainingDiverged(UserError):
    """The loss stopped being a finite number."""


def _loss_value(outputs):
    """The loss from a train step's outputs (a tensor, or (loss, overflow, scale) with loss scaling)."""
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    return float(outputs.asnumpy().mean())


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressMonitor(Callback):
    """Logs the original's per-epoch lines plus periodic progress (images/s, ETA) within an epoch,
    and stops the run with a clear message when the loss is NaN or infinite.

    Args:
        steps_per_epoch, batch_size: shape of an epoch.
        start_step: global steps already done before this run (resume or start_epoch).
        learning_rates: the per-step schedule, to report the rate of a failing step.
        loss_scale: reported with a failing step.
        log_seconds: least time between two progress lines.
    """

    def __init__(self, steps_per_epoch, batch_size, start_step, learning_rates, loss_scale,
                 log_seconds=30.0, printer=print):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.step = start_step
        self.learning_rates = learning_rates
        self.loss_scale = loss_scale
        self.log_seconds = log_seconds
        self.print = printer
        self.epoch_start = self.last_log = self.rate_start = time.time()
        self.epoch_steps = 0
        self.loss = float("nan")

    def on_train_epoch_begin(self, run_context):
        self.epoch_start = self.last_log = time.time()
        self.epoch_steps = 0

    def on_train_step_end(self, run_context):
        self.step += 1
        self.epoch_steps += 1
        self.loss = _loss_value(run_context.original_args().net_outputs)
        epoch, in_epoch = epoch_position(self.step, self.steps_per_epoch)
        if not math.isfinite(self.loss):
            raise TrainingDiverged(
                f"the loss is {self.loss} at epoch {epoch} step {in_epoch} (global step {self.step}, learning "
                f"rate {self.learning_rates[self.step - 1]:.6g}, loss scale {self.loss_scale}): training "
                "stopped. Lower lr_max or loss_scale, check the data, or resume from an earlier checkpoint.")
        now = time.time()
        if self.epoch_steps == 1:  # the first step may include graph compilation: time the rest
            self.rate_start = self.last_log = now
            return
        if now - self.last_log >= self.log_seconds and in_epoch < self.steps_per_epoch:
            self.last_log = now
            per_step = (now - self.rate_start) / (self.epoch_steps - 1)
            eta = per_step * (self.steps_per_epoch - in_epoch)
            self.print(f"epoch {epoch} step {in_epoch}/{self.steps_per_epoch}, loss {self.loss:.4f}, "
                       f"{self.batch_size / per_step:.1f} img/s, epoch ETA {_clock(eta)}", flush=True)

    def on_train_epoch_end(self, run_context):
        elapsed = (time.time() - self.epoch_start) * 1000.0
        epoch, in_epoch = epoch_position(self.step, self.steps_per_epoch)
        self.print(f"epoch: {epoch} step: {in_epoch}, loss is {self.loss}", flush=True)
        self.print(f"Epoch time: {elapsed:.3f}, per step time: {elapsed / max(self.epoch_steps, 1):.3f}",
                   flush=True)


class CheckpointSaver(Callback):
    """Saves the train network (weights, optimizer state, global step) atomically as
    `<directory>/<prefix>-<epoch>_<step in epoch>.ckpt` every `save_epochs` epochs, every `save_steps`
    steps (0: never) and after the last step, keeping at most `keep_max` files of this prefix. `metadata(step)`
    gives the checkpoint metadata (src.checkpoint) of a checkpoint after global step `step`. A signal never
    interrupts a save (src.runtime.stops.critical). `last` is (global step, path) of the newest checkpoint."""

    def __init__(self, directory, prefix, steps_per_epoch, total_steps, start_step, save_epochs,
                 save_steps=0, keep_max=10, printer=print, metadata=None):
        super().__init__()
        self.directory = directory
        self.prefix = prefix
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.step = start_step
        self.save_epochs = save_epochs
        self.save_steps = save_steps
        self.keep_max = keep_max
        self.print = printer
        self.metadata = metadata
        self.last = None

    def on_train_step_end(self, run_context):
        self.step += 1
        epoch, in_epoch = epoch_position(self.step, self.steps_per_epoch)
        epoch_end = in_epoch == self.steps_per_epoch and epoch % self.save_epochs == 0
        by_steps = self.save_steps > 0 and self.step % self.save_steps == 0
        if epoch_end or by_steps or self.step == self.total_steps:
            self.save(run_context)

    def save(self, run_context):
        """Save the checkpoint of the current step (once)."""
        if self.last and self.last[0] == self.step:
            return
        epoch, in_epoch = epoch_position(self.step, self.steps_per_epoch)
        path = os.path.join(self.directory, checkpoint_name(self.prefix, epoch, in_epoch))
        with stops.critical():
            save_checkpoint(run_context.original_args().train_network, path,
                            {"epoch_num": epoch, "step_num": self.step},
                            self.metadata(self.step) if self.metadata else None)
            self.last = (self.step, path)
            self.print(f"checkpoint: saved {path}", flush=True)
            self.rotate()

    def rotate(self):
        pattern = checkpoint_pattern(self.prefix)
        files = [path for path in glob.glob(os.path.join(self.directory, f"{self.prefix}-*.ckpt"))
                 if pattern.match(os.path.basename(path))]
        files.sort(key=lambda path: os.stat(path).st_mtime_ns)
        for old in files[:max(len(files) - self.keep_max, 0)]:
            os.remove(old)


class EvalCallBack(Callback):
    """Every `interval` epochs (and after the last), evaluates with `evaluate()` -> {'Top1-Acc', 'Top5-Acc',
    ...}, logs the result and saves `network`'s weights to `best_path` when top-1 improves on `best` ((epoch,
    top-1) of the run's best so far, e.g. before it was resumed). The file's metadata is the `metadata` dict
    with the epoch and top-1 added to its `training` entry."""

    def __init__(self, evaluate, interval, network, best_path, epoch_size, printer=print, metadata=None,
                 best=None):
        super().__init__()
        self.evaluate = evaluate
        self.interval = interval
        self.network = network
        self.best_path = best_path
        self.epoch_size = epoch_size
        self.print = printer
        self.metadata = metadata or {}
        self.best = best
        self.history = []

    def on_train_epoch_end(self, run_context):
        cb_params = run_context.original_args()
        epoch = cb_params.cur_epoch_num
        if epoch % self.interval and epoch != self.epoch_size:
            return
        start = time.time()
        metrics = self.evaluate()
        cb_params.train_network.set_train(True)
        top1 = metrics["Top1-Acc"]
        self.history.append((epoch, metrics))
        if self.best is None or top1 > self.best[1]:
            self.best = (epoch, top1)
            training = {**self.metadata.get(TRAINING_KEY, {}), "epoch": epoch, "top1": top1}
            with stops.critical():
                save_checkpoint(self.network, self.best_path, {"epoch_num": epoch},
                                {**self.metadata, TRAINING_KEY: training})
        self.print(f"eval: epoch {epoch} Top1-Acc {top1:.4f} Top5-Acc {metrics['Top5-Acc']:.4f} "
                   f"({time.time() - start:.1f} s); best Top1-Acc {self.best[1]:.4f} at epoch {self.best[0]}, "
                   f"saved in {self.best_path}", flush=True)


class ImageCounter(Callback):
    """Counts the images Model.eval scores (the labels of each batch)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def on_eval_step_end(self, run_context):
        self.count += run_context.original_args().eval_dataset_element[-1].shape[0]


class StopOnSignal(Callback):
    """Stops training or evaluation at the end of a step once SIGINT or SIGTERM was received (src.runtime.stops),
    after `before_stop(run_context)` (e.g. CheckpointSaver.save, so that no finished step is lost)."""

    def __init__(self, before_stop=None):
        super().__init__()
        self.before_stop = before_stop

    def on_train_step_end(self, run_context):
        if stops.pending() is not None and self.before_stop:
            self.before_stop(run_context)
        stops.check()

    def on_eval_step_end(self, run_context):
        stops.check()


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


STEP_WINDOW = 10
"""curves.png draws the training loss of each step as the mean of the last STEP_WINDOW steps."""


def draw_curves(path, rows, title, steps=None):
    """Training (and held-out) loss and held-out top-1 accuracy against epoch, as a PNG at `path`; `steps`:
    (epoch positions, losses) of single training steps, drawn as a running mean of STEP_WINDOW steps, or None."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel
    from matplotlib.ticker import MaxNLocator  # pylint: disable=import-outside-toplevel

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=100)
    drawn_steps = steps is not None and len(steps[1]) >= STEP_WINDOW
    if drawn_steps:
        window = np.ones(STEP_WINDOW) / STEP_WINDOW
        loss_ax.plot(steps[0][STEP_WINDOW - 1:], np.convolve(steps[1], window, "valid"), "-", color="tab:blue",
                     alpha=0.35, linewidth=1, label=f"training, steps (mean of {STEP_WINDOW})")
    loss_ax.plot(*_floats(rows, "train_loss"), "o-", color="tab:blue", label="training (mean of the epoch)")
    epochs, eval_loss = _floats(rows, "eval_loss")
    if eval_loss:
        loss_ax.plot(epochs, eval_loss, "s--", color="tab:orange", label="held-out")
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
        axis.set_xlim(0 if drawn_steps else 0.5, last + 0.5)
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
    """After every epoch, rewrites `<directory>/metrics.csv` and `<directory>/curves.png` (which also draws the loss
    of every step this process trained).

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
        self.first_step = start_step
        self.step_losses = array.array("d")  # every step of this process: the epoch means and the curves
        self.epoch_first = 0  # index in step_losses of the epoch's first step
        self.epoch_start = self.last_step_end = time.time()
        printer(f"record: {os.path.join(directory, METRICS_FILE)} and {CURVES_FILE} beside it, after every epoch",
                flush=True)

    def on_train_epoch_begin(self, run_context):
        self.epoch_first = len(self.step_losses)
        self.epoch_start = time.time()

    def on_train_step_end(self, run_context):
        self.step_losses.append(_loss_value(run_context.original_args().net_outputs))
        self.last_step_end = time.time()

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        end_step = epoch * self.steps_per_epoch
        seconds = max(self.last_step_end - self.epoch_start, 1e-9)
        metrics = dict(self.evaluator.history).get(epoch, {}) if self.evaluator else {}
        losses = self.step_losses[self.epoch_first:]
        row = {"epoch": epoch, "global_step": end_step,
               "train_loss": f"{math.fsum(losses) / max(len(losses), 1):.6g}",
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
                    f"Inception-v4 training, {os.path.abspath(self.directory)}", self.step_trace())

    def step_trace(self):
        """(positions in epochs, losses) of the steps this process trained."""
        steps = self.first_step + 1 + np.arange(len(self.step_losses))
        return steps / self.steps_per_epoch, np.asarray(self.step_losses)


PROFILER_DIR = "profiler"
SKIPPED_STEPS = 1
"""The first step is not recorded: it holds the graph compile."""
WARMUP_STEPS = 1
"""Then one step runs with the profiler on but is not recorded (the profiler's own start-up)."""


class ProfilingCallback(Callback):
    """Records `steps` training steps of this process after SKIPPED_STEPS + WARMUP_STEPS steps with
    mindspore.profiler.profile and writes the analysed data (ASCEND_PROFILER_OUTPUT/trace_view.json, the
    per-operator FRAMEWORK/ tables, ...) to `<directory>/<host>_<pid>_<time>_ascend_ms/`; then stops profiling.
    A run that ends earlier is analysed up to its last step."""

    def __init__(self, directory, steps, device_target, printer=print):
        super().__init__()
        self.directory = directory
        self.steps = steps
        self.device_target = device_target
        self.print = printer
        self.profiler = None
        self.finished = False

    def _activities(self):
        from mindspore.profiler import ProfilerActivity
        device = {"Ascend": [ProfilerActivity.NPU], "GPU": [ProfilerActivity.GPU]}.get(self.device_target, [])
        return [ProfilerActivity.CPU] + device

    def on_train_begin(self, run_context):
        if self.profiler is not None or self.finished:
            return  # a resumed run calls Model.train twice: profile only the first call
        from mindspore.profiler import profile, schedule, tensorboard_trace_handler
        os.makedirs(self.directory, exist_ok=True)
        self.profiler = profile(activities=self._activities(),
                                schedule=schedule(wait=SKIPPED_STEPS, warmup=WARMUP_STEPS, active=self.steps,
                                                  repeat=1),
                                on_trace_ready=tensorboard_trace_handler(self.directory))
        first = SKIPPED_STEPS + WARMUP_STEPS + 1
        self.print(f"profiler: recording steps {first}-{first + self.steps - 1} of this run into {self.directory}",
                   flush=True)

    def on_train_step_end(self, run_context):
        if self.profiler is not None:
            self.profiler.step()

    def on_train_end(self, run_context):
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None
            self.finished = True
