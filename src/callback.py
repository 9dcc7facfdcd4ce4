"""Training callbacks: progress and loss log (with the non-finite loss guard), atomic checkpoints with
rotation, evaluation on the validation split that keeps the best checkpoint, and the stop on SIGINT/SIGTERM."""
import glob
import math
import os
import re
import time

from mindspore.train import Callback

from src import interrupt
from src.checkpoint import save_checkpoint
from src.errors import UserError
from src.resume import TRAINING_KEY


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
        epoch, in_epoch = self.position(self.step)
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
        epoch, in_epoch = self.position(self.step)
        self.print(f"epoch: {epoch} step: {in_epoch}, loss is {self.loss}", flush=True)
        self.print(f"Epoch time: {elapsed:.3f}, per step time: {elapsed / max(self.epoch_steps, 1):.3f}",
                   flush=True)

    def position(self, step):
        """(epoch, step within epoch), both 1-based, of global step `step`."""
        epoch = (step - 1) // self.steps_per_epoch + 1
        return epoch, step - (epoch - 1) * self.steps_per_epoch


class CheckpointSaver(Callback):
    """Saves the train network (weights, optimizer state, global step) atomically as
    `<directory>/<prefix>-<epoch>_<step in epoch>.ckpt` every `save_epochs` epochs, every `save_steps`
    steps (0: never) and after the last step, keeping at most `keep_max` files of this prefix. `metadata(step)`
    gives the checkpoint metadata (src.checkpoint) of a checkpoint after global step `step`. A signal never
    interrupts a save (src.interrupt.critical). `last` is (global step, path) of the newest checkpoint."""

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
        epoch, in_epoch = divmod(self.step - 1, self.steps_per_epoch)
        epoch_end = in_epoch + 1 == self.steps_per_epoch and (epoch + 1) % self.save_epochs == 0
        by_steps = self.save_steps > 0 and self.step % self.save_steps == 0
        if epoch_end or by_steps or self.step == self.total_steps:
            self.save(run_context)

    def save(self, run_context):
        """Save the checkpoint of the current step (once)."""
        if self.last and self.last[0] == self.step:
            return
        epoch, in_epoch = divmod(self.step - 1, self.steps_per_epoch)
        path = os.path.join(self.directory, f"{self.prefix}-{epoch + 1}_{in_epoch + 1}.ckpt")
        with interrupt.critical():
            save_checkpoint(run_context.original_args().train_network, path,
                            {"epoch_num": epoch + 1, "step_num": self.step},
                            self.metadata(self.step) if self.metadata else None)
            self.last = (self.step, path)
            self.print(f"checkpoint: saved {path}", flush=True)
            self.rotate()

    def rotate(self):
        pattern = re.compile(re.escape(self.prefix) + r"-\d+_\d+\.ckpt$")
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
            with interrupt.critical():
                save_checkpoint(self.network, self.best_path, {"epoch_num": epoch},
                                {**self.metadata, TRAINING_KEY: training})
        self.print(f"eval: epoch {epoch} Top1-Acc {top1:.4f} Top5-Acc {metrics['Top5-Acc']:.4f} "
                   f"({time.time() - start:.1f} s); best Top1-Acc {self.best[1]:.4f} at epoch {self.best[0]}, "
                   f"saved in {self.best_path}", flush=True)


class StopOnSignal(Callback):
    """Stops training or evaluation at the end of a step once SIGINT or SIGTERM was received (src.interrupt),
    after `before_stop(run_context)` (e.g. CheckpointSaver.save, so that no finished step is lost)."""

    def __init__(self, before_stop=None):
        super().__init__()
        self.before_stop = before_stop

    def on_train_step_end(self, run_context):
        if interrupt.pending() is not None and self.before_stop:
            self.before_stop(run_context)
        interrupt.check()

    def on_eval_step_end(self, run_context):
        interrupt.check()
