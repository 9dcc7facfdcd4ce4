"""Resuming: the training position a checkpoint records (metadata `training`) converted to this run's steps
when the batch size or device count changed, the command a stopped run prints, and the best checkpoint a
resumed run keeps.

Every training checkpoint records epoch, step_in_epoch, global_step, batch_size, steps_per_epoch, group_size
and run_id. With the same batch size and devices the run continues at the recorded step. Otherwise it
continues at the same point of the data: a finished epoch continues with the next epoch; inside an epoch, the
images already trained on are skipped (rounded down to whole batches of the new size). The learning-rate
schedule is defined per epoch, so it continues at the same epoch position (rescaled to the new steps per
epoch); the optimizer state carries over.
"""
import dataclasses
import os
import shlex
import sys

TRAINING_KEY = "training"
"""Checkpoint metadata key of the training position."""


def training_metadata(global_step, steps_per_epoch, batch_size, group_size, run_id):
    """The `training` metadata of a checkpoint written after `global_step` steps."""
    epoch, step_in_epoch = divmod(global_step - 1, steps_per_epoch)
    return {"epoch": epoch + 1, "step_in_epoch": step_in_epoch + 1, "global_step": global_step,
            "batch_size": batch_size, "steps_per_epoch": steps_per_epoch, "group_size": group_size,
            "run_id": run_id}


@dataclasses.dataclass
class ResumePoint:
    done: int
    """Steps of this run's size already done: training continues after them."""
    note: str
    """What was assumed or converted, for the log ('' when the position was taken as recorded)."""


def resume_point(recorded, checkpoint_step, steps_per_epoch, batch_size, group_size, path):
    """Steps done, in this run's steps, for a checkpoint at optimizer step `checkpoint_step` whose metadata
    `training` is `recorded` ({} for checkpoints that have none)."""
    if not recorded:
        return ResumePoint(checkpoint_step, f"'{path}' does not record its batch size: resuming at step "
                                            f"{checkpoint_step} as if it was trained with this run's batch size "
                                            f"{batch_size} and {steps_per_epoch} steps per epoch")
    epoch, in_epoch = int(recorded["epoch"]), int(recorded["step_in_epoch"])
    old_spe, old_batch = int(recorded["steps_per_epoch"]), int(recorded["batch_size"])
    old_group = int(recorded.get("group_size", 1))
    if (old_spe, old_batch, old_group) == (steps_per_epoch, batch_size, group_size):
        return ResumePoint(int(recorded["global_step"]), "")
    seen = in_epoch * old_batch * old_group
    skip = 0 if in_epoch >= old_spe else seen // (batch_size * group_size)
    if skip >= steps_per_epoch:
        skip = 0
        in_epoch = old_spe
    done = (epoch if in_epoch >= old_spe else epoch - 1) * steps_per_epoch + skip
    where = f"the end of epoch {epoch}" if in_epoch >= old_spe else f"epoch {epoch} after {seen} images"
    return ResumePoint(done, f"'{path}' was trained with batch size {old_batch} on {old_group} device(s) "
                             f"({old_spe} steps per epoch), this run uses {batch_size} on {group_size} "
                             f"({steps_per_epoch} steps per epoch): continuing from {where}, with the "
                             "learning-rate schedule rescaled to the new steps per epoch")


def resume_command(path, argv=None):
    """The command that continues this run from checkpoint `path`: this process's command line with
    `--resume path` in place of any --resume it had."""
    argv = list(sys.argv if argv is None else argv)
    kept, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not arg.startswith("--resume="):
            kept.append(arg)
    return shlex.join([sys.executable, argv[0], *kept, "--resume", os.path.abspath(path)])


def previous_best(path, run_id):
    """(epoch, top-1) recorded in the best checkpoint at `path` when run `run_id` wrote it, else None: a resumed
    run keeps it unless it does better."""
    if not os.path.isfile(path):
        return None
    from src.checkpoint import checkpoint_metadata, read_checkpoint  # pylint: disable=import-outside-toplevel
    recorded = checkpoint_metadata(read_checkpoint(path)).get(TRAINING_KEY, {})
    if recorded.get("run_id") != run_id or "top1" not in recorded:
        return None
    return int(recorded["epoch"]), float(recorded["top1"])
