"""The folder a training run writes (`<ckpt_path>/ckpt_<rank>`): created and test-written before any data is
loaded, owned by one run and locked while it is alive, and cleaned of the temporary files a killed run left.

A run never overwrites or rotates another run's files: a folder already holding files of another run is
refused with one line naming that run's latest checkpoint. The owner is recorded in RUN_FILE (the run id that
the checkpoints' `training` metadata carries too); resuming that run (`--resume` with one of its checkpoints)
continues in its folder. A folder holding checkpoints but no RUN_FILE (written before run ids existed) belongs
to the run resumed from a checkpoint inside it. A folder holding nothing but RUN_FILE and temporary files (a
run stopped before its first checkpoint) is free.
"""
import datetime
import fcntl
import glob
import json
import os
import re
import secrets

from src.errors import UserError
from src.fileio import atomic_output, prepare_output_dir, stale_temporaries

RUN_FILE = "train_run.json"


def new_run_id():
    """A fresh run id: 12 random hexadecimal digits."""
    return secrets.token_hex(6)


def latest_checkpoint(directory, prefix):
    """Path of the checkpoint `<prefix>-<epoch>_<step>.ckpt` with the highest epoch and step in `directory`."""
    pattern = re.compile(re.escape(prefix) + r"-(\d+)_(\d+)\.ckpt$")
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
    import mindspore as ms  # pylint: disable=import-outside-toplevel
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
