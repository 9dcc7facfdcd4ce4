"""The folder a training run writes (`<ckpt_path>/ckpt_<rank>`): created and test-written before any data is
loaded, owned by one run and locked while it is alive, and cleaned of the temporary files a killed run left.

A run never overwrites or rotates another run's files: a folder already holding files of another run is
refused with one line naming that run's latest checkpoint. The owner is recorded in RUN_FILE (the run id that
the checkpoints' `training` metadata carries too); resuming that run (`--resume` with one of its checkpoints)
continues in its folder. A folder holding checkpoints but no RUN_FILE (written before run ids existed) belongs
to the run resumed from a checkpoint inside it. A folder holding nothing but RUN_FILE and temporary files (a
run stopped before its first checkpoint) is free.

Resuming: the training position a checkpoint records (metadata `training`) converted to this run's steps
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
import datetime
import fcntl
import glob
import json
import os
import re
import secrets
import shlex
import sys

import mindspore as ms

from src.checkpoint import (CLASS_IDS_KEY, CLASS_NAMES_KEY, TRAINING_KEY, assign_params, checkpoint_metadata,
                            read_checkpoint)
from src.inputs.files import dataset_class_names, folder_classes
from src.runtime.fileio import atomic_output, check_input_file, prepare_output_dir, stale_temporaries
from src.runtime.stops import UserError


RUN_FILE = "train_run.json"
CKPT_PREFIX = "inceptionv4-train"
"""File name prefix of the training checkpoints (checkpoint_name)."""


def new_run_id():
    """A fresh run id: 12 random hexadecimal digits."""
    return secrets.token_hex(6)


def checkpoint_name(prefix, epoch, step):
    """`<prefix>-<epoch>_<step in epoch>.ckpt` (both 1-based): the name of every training checkpoint."""
    return f"{prefix}-{epoch}_{step}.ckpt"


def epoch_position(global_step, steps_per_epoch):
    """(epoch, step in epoch), both 1-based, of the 1-based `global_step`: the position that checkpoint names,
    the progress log and the checkpoints' `training` metadata give."""
    epoch, step = divmod(global_step - 1, steps_per_epoch)
    return epoch + 1, step + 1


def checkpoint_pattern(prefix):
    """The regular expression of checkpoint_name's names of `prefix`, with epoch and step as its groups."""
    return re.compile(re.escape(prefix) + r"-(\d+)_(\d+)\.ckpt$")


def latest_checkpoint(directory, prefix):
    """Path of the checkpoint `<prefix>-<epoch>_<step>.ckpt` with the highest epoch and step in `directory`."""
    pattern = checkpoint_pattern(prefix)
    found = [(tuple(map(int, match.groups())), path) for path in glob.glob(os.path.join(directory, "*.ckpt"))
             for match in [pattern.match(os.path.basename(path))] if match]
    return max(found)[1] if found else None


class RunFolder:
    """A claimed run folder. The lock lasts as long as the process (its file descriptor stays open)."""

    def __init__(self, directory, run_id, lock_fd, removed):
        self.directory = directory
        self.run_id = run_id
        self.lock_fd = lock_fd
        self.removed = removed
        """Temporary files of a killed run, removed when the folder was claimed."""


def _owner(directory):
    """The run id recorded in the folder's RUN_FILE, or None without one."""
    path = os.path.join(directory, RUN_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            return str(json.load(stream)["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"run file '{path}' is damaged: if no run uses '{directory}' any more, delete the file "
                        "(or pass another --ckpt_path).") from None


def claim_run_folder(directory, prefix, run_id, resume_path=""):
    """Create, lock and claim `directory` for run `run_id` (the resumed run's id when resuming); return a
    RunFolder. UserError when the folder cannot be written, is in use, or holds files of another run."""
    prepare_output_dir(directory, "checkpoint folder (ckpt_path)")
    lock_fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        raise UserError(f"checkpoint folder '{os.path.abspath(directory)}' is in use by another training run "
                        "right now: wait for it to finish, or pass another --ckpt_path.") from None
    try:
        temporaries = stale_temporaries(directory)
        files = [name for name in os.listdir(directory) if name != RUN_FILE and name not in temporaries]
        owner = _owner(directory) if files else None
        inside = bool(resume_path) and os.path.samefile(os.path.dirname(os.path.abspath(resume_path)), directory)
        if files and owner != run_id and (owner is not None or not inside):
            latest = latest_checkpoint(directory, prefix)
            whose = f"run {owner}" if owner else "an earlier run"
            what = f"; its latest checkpoint is '{os.path.abspath(latest)}'" if latest else ""
            raise UserError(f"checkpoint folder '{os.path.abspath(directory)}' holds the files of {whose}{what}. "
                            "A new run never overwrites or rotates them: pass another --ckpt_path, or continue "
                            "that run with --resume <one of its checkpoints>.")
        for name in temporaries:
            os.remove(os.path.join(directory, name))
        if owner != run_id:
            with atomic_output(os.path.join(directory, RUN_FILE)) as tmp:
                with open(tmp, "w", encoding="utf-8") as stream:
                    json.dump({"run_id": run_id, "started": datetime.datetime.now().isoformat(timespec="seconds")},
                              stream)
    except BaseException:
        os.close(lock_fd)
        raise
    return RunFolder(directory, run_id, lock_fd, temporaries)


def agree_run_id(run_id, group_size):
    """Rank 0's run id on every rank of a distributed run (one AllReduce), so that all ranks' folders and
    checkpoints name the same run; `run_id` unchanged on one device."""
    if group_size == 1:
        return run_id
    import numpy as np  # pylint: disable=import-outside-toplevel
    from mindspore import nn, ops  # pylint: disable=import-outside-toplevel
    from mindspore.communication import get_rank  # pylint: disable=import-outside-toplevel

    class _Sum(nn.Cell):
        def __init__(self):
            super().__init__()
            self.all_reduce = ops.AllReduce()

        def construct(self, x):
            return self.all_reduce(x)

    digits = 4  # hexadecimal digits per float32 element: exact below 2**24
    parts = [int(run_id[i:i + digits], 16) for i in range(0, len(run_id), digits)]
    mine = np.array(parts if get_rank() == 0 else [0] * len(parts), np.float32)
    total = _Sum()(ms.Tensor(mine)).asnumpy()
    return "".join(f"{int(value):0{digits}x}" for value in total)


def training_metadata(global_step, steps_per_epoch, batch_size, group_size, run_id):
    """The `training` metadata of a checkpoint written after `global_step` steps."""
    epoch, step_in_epoch = epoch_position(global_step, steps_per_epoch)
    return {"epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step,
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
    recorded = checkpoint_metadata(read_checkpoint(path), path).get(TRAINING_KEY, {})
    if recorded.get("run_id") != run_id or "top1" not in recorded:
        return None
    return int(recorded["epoch"]), float(recorded["top1"])


def check_train_config(cfg):
    """Reject settings that would fail only after a long graph compile."""
    if cfg.device_target == "CPU" and cfg.amp_level != "O0":
        raise UserError(f"amp_level '{cfg.amp_level}' needs float16 kernels, which the CPU backend lacks: "
                        "use --amp_level O0 on the CPU.")
    if not 1 <= cfg.start_epoch <= cfg.epoch_size:
        raise UserError(f"start_epoch {cfg.start_epoch} must lie in [1, epoch_size={cfg.epoch_size}].")
    if cfg.pretrained and cfg.resume:
        raise UserError("set either 'pretrained' (start a new run from its weights) or 'resume' (continue the run "
                        "that wrote it), not both.")
    if cfg.pretrained:
        check_input_file(cfg.pretrained, "pretrained checkpoint", "pass a .ckpt file (convert timm/mindcv weights "
                         "with python -m src.tools.convert_checkpoint).")
    if cfg.resume:
        check_input_file(cfg.resume, "resume checkpoint", "pass a .ckpt file of the run to continue, or leave "
                         "resume empty to start afresh.")


def training_class_names(cfg, recorded):
    """The training data's classes in label order (recorded in every checkpoint): (names, WordNet ids), see
    src.inputs.files.folder_classes; (None, None) for CIFAR-10 without names. UserError when an ImageNet-style
    folder has fewer class folders than num_classes (unless allow_fewer_classes) or when the resumed
    checkpoint's metadata `recorded` names other classes."""
    names = dataset_class_names(cfg.dataset_path, cfg.ds_type, True)
    if cfg.ds_type == "imagenet" and len(names) < cfg.num_classes and not cfg.allow_fewer_classes:
        raise UserError(f"the training data '{cfg.dataset_path}' has {len(names)} class folders but num_classes is "
                        f"{cfg.num_classes}: set --num_classes {len(names)}, add the missing class folders, or "
                        f"pass --allow_fewer_classes True to train {cfg.num_classes} outputs on {len(names)} classes.")
    before = recorded.get(CLASS_IDS_KEY) or recorded.get(CLASS_NAMES_KEY)
    if before and names and list(before) != names:
        changed = sorted(set(before) ^ set(names)) or ["(the same names in another order)"]
        raise UserError(f"'{cfg.resume}' was trained on other classes than those of '{cfg.dataset_path}' (differing: "
                        f"{', '.join(changed[:5])}): resume on the data it was trained on.")
    return folder_classes(names) if cfg.ds_type == "imagenet" else (names, None)


def restore(cfg, params, net, optimizer, steps_per_epoch, group_size):
    """Load `params`, the checkpoint dict of `cfg.resume`, into the network and optimizer; return the global steps
    it had done (its recorded training position, counted in this run's steps), or None for a checkpoint that holds
    weights only."""
    assign_params(net, params, cfg.resume)
    if "global_step" not in params:
        print(f"resume: '{cfg.resume}' holds weights only; optimizer state starts afresh at epoch "
              f"{cfg.start_epoch}", flush=True)
        return None
    state = {param.name: params[param.name] for param in optimizer.get_parameters()
             if param.name in params and param.name != "learning_rate"}
    ms.load_param_into_net(optimizer, state)
    point = resume_point(checkpoint_metadata(params, cfg.resume).get(TRAINING_KEY, {}),
                         int(params["global_step"].asnumpy().reshape(-1)[0]), steps_per_epoch, cfg.batch_size,
                         group_size, cfg.resume)
    if point.note:
        print(f"resume: {point.note}", flush=True)
    return point.done


def starting_step(cfg, resumed, net, optimizer, steps_per_epoch, group_size):
    """The global steps done before this run, set in the optimizer: those of the resumed checkpoint dict
    `resumed` (loaded into `net` and `optimizer` by restore), else those before cfg.start_epoch; UserError when no
    step is left to train."""
    done = restore(cfg, resumed, net, optimizer, steps_per_epoch, group_size) if resumed else None
    if done is None:
        done = (cfg.start_epoch - 1) * steps_per_epoch
    if done >= cfg.epoch_size * steps_per_epoch:
        raise UserError(f"'{cfg.resume}' already completed {done} steps = {cfg.epoch_size} epochs: raise "
                        "epoch_size to train further.")
    optimizer.global_step.set_data(ms.Tensor([done], ms.int32))
    return done


def stop_detail(saver, cfg):
    """Where a stopped run can continue from: its newest checkpoint and the command."""
    path = saver.last[1] if saver and saver.last else cfg.resume
    if not path:
        return "No checkpoint was written yet: start the run again with the same command"
    return f"Last complete checkpoint: '{os.path.abspath(path)}'. Continue with: {resume_command(path)}"
