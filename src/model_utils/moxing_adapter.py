"""ModelArts: ids from the job's environment, and `moxing_wrapper`, which copies the dataset and checkpoint in
from OBS before an entry point runs and its outputs back to OBS afterwards.

    @moxing_wrapper(pre_process=modelarts_pre_process)
    def run_train(cfg): ...

`moxing` (present only on ModelArts images) is imported only when `cfg.enable_modelarts` is true.
"""
import functools
import os
import time

from src.errors import UserError
from src.model_utils.local_adapter import get_device_id, get_device_num, get_rank_id  # same variables
from src.model_utils.server_sync import ServerSync, is_first_device_of_server

__all__ = ["get_device_id", "get_device_num", "get_rank_id", "get_job_id", "moxing_wrapper", "server_sync"]

NOT_ON_MODELARTS = ("enable_modelarts is True but the 'moxing' module cannot be imported: moxing exists only on "
                    "Huawei Cloud ModelArts images. Set --enable_modelarts False to run locally (do not "
                    "'pip install moxing': that package is unrelated).")


def get_job_id():
    """ModelArts job id (JOB_ID, default 'default')."""
    return os.environ.get("JOB_ID", "").strip() or "default"


def server_sync(cfg):
    """Once-per-server coordination of this job, giving up after `cfg.modelarts_sync_timeout` seconds."""
    return ServerSync(get_job_id(), cfg.modelarts_sync_timeout)


def import_moxing():
    """ModelArts' moxing module; UserError when it is absent or is the unrelated package of the same name."""
    try:
        import moxing as mox  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise UserError(NOT_ON_MODELARTS) from None
    if not callable(getattr(getattr(mox, "file", None), "copy_parallel", None)):
        raise UserError(f"the 'moxing' module at {getattr(mox, '__file__', '?')} has no file.copy_parallel: it "
                        f"is not ModelArts' moxing. {NOT_ON_MODELARTS}")
    return mox


def _copy(mox, src, dst, key):
    """Copy with moxing; a failure is a UserError naming the config key `key` that holds the OBS path."""
    print(f"moxing: copying {src} -> {dst}", flush=True)
    start = time.time()
    try:
        mox.file.copy_parallel(src, dst)
    except Exception as err:  # moxing raises its own and OBS client errors
        raise UserError(f"moxing could not copy {src} to {dst} ({type(err).__name__}: {err}): check the "
                        f"config key '{key}'.") from None
    print(f"moxing: copied {src} -> {dst} in {time.time() - start:.1f} s", flush=True)


def _run_on_modelarts(cfg, run_func, pre_process, post_process, args, kwargs):
    mox = import_moxing()
    sync = server_sync(cfg)
    first = is_first_device_of_server()
    if first:
        sync.clear()
    downloads = [("data_url", cfg.data_url, cfg.data_path), ("checkpoint_url", cfg.checkpoint_url, cfg.load_path)]
    for key, src, dst in downloads:
        if src:
            sync.once(key, functools.partial(_copy, mox, src, dst, key), f"copy {src} to {dst}")
    os.makedirs(cfg.output_path, exist_ok=True)
    cfg.device_id = get_device_id()  # ModelArts assigns the device through DEVICE_ID
    try:
        if pre_process:
            pre_process(cfg)
        result = run_func(cfg, *args, **kwargs)
        if post_process:
            post_process(cfg)
    finally:
        sync.arrive("finished")
    if cfg.train_url and first:
        missing = sync.wait_for_peers("finished")
        if missing:
            print(f"moxing: warning: devices {missing} of this server did not finish within "
                  f"{cfg.modelarts_sync_timeout:g} s; uploading what {cfg.output_path} holds now", flush=True)
        _copy(mox, cfg.output_path, cfg.train_url, "train_url")
    return result


def moxing_wrapper(pre_process=None, post_process=None):
    """Decorate `run_func(cfg, ...)`. Off ModelArts (`cfg.enable_modelarts` false) it just calls it.

    On ModelArts: copy data_url -> data_path and checkpoint_url -> load_path (the first device of each
    server copies, the others wait), set cfg.device_id from DEVICE_ID, run pre_process(cfg), run_func and
    post_process(cfg); then the first device of each server waits for its peers and copies
    output_path -> train_url. Empty urls are skipped.
    """
    def decorate(run_func):
        @functools.wraps(run_func)
        def wrapped(cfg, *args, **kwargs):
            if not cfg.enable_modelarts:
                return run_func(cfg, *args, **kwargs)
            return _run_on_modelarts(cfg, run_func, pre_process, post_process, args, kwargs)
        return wrapped
    return decorate
