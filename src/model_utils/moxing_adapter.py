"""ModelArts: ids from the job's environment, once-per-server steps (the first device of each server does the
work, the other devices wait for its marker file: a server runs up to 8 devices, one process each, sharing its
local disk), the dataset zip extracted before train.py and eval.py run (`extract_dataset_zip`), and
`moxing_wrapper`, which copies the dataset and checkpoint in from OBS before an entry point runs and its
outputs back to OBS afterwards.

    @moxing_wrapper(pre_process=extract_dataset_zip)
    def run_train(cfg): ...

`moxing` (present only on ModelArts images) is imported only when `cfg.enable_modelarts` is true.
"""
import functools
import os
import re
import tempfile
import time
import zipfile
import zlib

from src.runtime.context import get_device_id, get_device_num, get_rank_id
from src.runtime.fileio import atomic_output
from src.runtime.stops import UserError


DEVICES_PER_SERVER = 8
POLL_SECONDS = 0.1


def server_devices():
    """(id of the first device of this server, number of devices of the job on this server)."""
    per_server = min(get_device_num(), DEVICES_PER_SERVER)
    device_id = get_device_id()
    return device_id - device_id % per_server, per_server


def is_first_device_of_server():
    return get_device_id() == server_devices()[0]


def _write_marker(path, text=""):
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as stream:
            stream.write(text)


class ServerSync:
    """Marker files of one job in `<tempdir>/inceptionv4-sync-<job_id>`; waits give up after `timeout` s."""

    def __init__(self, job_id, timeout):
        if not timeout > 0:
            raise UserError(f"config key 'modelarts_sync_timeout' must be a positive number of seconds, "
                            f"got {timeout!r}.")
        self.timeout = timeout
        self.directory = os.path.join(tempfile.gettempdir(), "inceptionv4-sync-" + re.sub(r"[^\w.-]", "_", job_id))
        os.makedirs(self.directory, exist_ok=True)

    def _path(self, name):
        return os.path.join(self.directory, name)

    def clear(self):
        """Remove markers left by an earlier run of the same job id (call on the first device, at start)."""
        for name in os.listdir(self.directory):
            os.remove(self._path(name))

    def once(self, tag, action, description, done_marker=None):
        """First device: run `action()` unless `done_marker` exists, then create it. Others: wait for it.

        `done_marker` defaults to a marker of this job; pass a lasting path to skip work already done.
        A failure of the first device is reported to the waiting devices instead of letting them time out.
        """
        done = done_marker or self._path(tag + ".done")
        failed = self._path(tag + ".failed")
        first, _ = server_devices()
        if get_device_id() == first:
            if os.path.exists(done):
                print(f"sync: {description}: already done ({done})", flush=True)
                return
            try:
                action()
            except BaseException as err:
                _write_marker(failed, str(err) or type(err).__name__)
                raise
            _write_marker(done, description)
            return
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(done):
            if os.path.exists(failed):
                with open(failed, encoding="utf-8") as stream:
                    reason = stream.read()
                raise UserError(f"device {first} of this server failed to {description}: {reason}")
            if time.monotonic() >= deadline:
                raise UserError(f"device {get_device_id()} waited {self.timeout:g} s for device {first} of this "
                                f"server to {description}, but its marker '{done}' never appeared: see that "
                                "device's log, or raise modelarts_sync_timeout if the step is just slow.")
            time.sleep(POLL_SECONDS)
        print(f"sync: device {get_device_id()}: device {first} finished: {description}", flush=True)

    def arrive(self, tag):
        """Record that this device has reached `tag`."""
        _write_marker(self._path(f"{tag}.device{get_device_id()}"))

    def wait_for_peers(self, tag):
        """Wait until every device of this server reached `tag`; return the ids still missing at the timeout."""
        first, count = server_devices()
        pending = {device: self._path(f"{tag}.device{device}") for device in range(first, first + count)}
        deadline = time.monotonic() + self.timeout
        while True:
            pending = {device: path for device, path in pending.items() if not os.path.exists(path)}
            if not pending or time.monotonic() >= deadline:
                return sorted(pending)
            time.sleep(POLL_SECONDS)


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
    cfg = cfg.replace(device_id=get_device_id())  # ModelArts assigns the device through DEVICE_ID
    try:
        if pre_process:
            cfg = pre_process(cfg) or cfg  # a step may return a changed Config (Config.replace)
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
    server copies, the others wait), set device_id from DEVICE_ID, run pre_process(cfg) (which may return a
    changed Config to run with), run_func and
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


PROGRESS_STEP = 10
"""Print progress every this many percent of the uncompressed bytes."""


def extracted_marker(zip_path):
    """File written beside the zip once it is fully extracted."""
    return zip_path + ".extracted"


def unzip(zip_path, target):
    """Extract `zip_path` into `target`, printing progress; UserError if it is missing or corrupt."""
    if not os.path.isfile(zip_path):
        raise UserError(f"dataset zip '{zip_path}' does not exist: upload "
                        f"{os.path.basename(zip_path)} to data_url, fix modelarts_dataset_unzip_name, or set "
                        "need_modelarts_dataset_unzip False.")
    start = time.time()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            print(f"unzip: extracting {len(members)} entries ({total / 2**20:.1f} MiB) of {zip_path} into "
                  f"{target}", flush=True)
            done, next_report = 0, PROGRESS_STEP
            for count, member in enumerate(members, 1):
                archive.extract(member, target)
                done += member.file_size
                percent = 100 * done // total if total else 100
                if percent >= next_report or count == len(members):
                    print(f"unzip: {percent}% ({count}/{len(members)} entries)", flush=True)
                    next_report = percent + PROGRESS_STEP
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise UserError(f"dataset zip '{zip_path}' is corrupt ({err}): create it again and upload it to "
                        "data_url.") from None
    print(f"unzip: done in {time.time() - start:.1f} s", flush=True)


def extract_dataset_zip(cfg):
    """If cfg.need_modelarts_dataset_unzip: unzip the dataset (first device of each server; others wait)."""
    if not cfg.need_modelarts_dataset_unzip:
        return
    zip_path = os.path.join(cfg.data_path, cfg.modelarts_dataset_unzip_name + ".zip")
    server_sync(cfg).once("unzip", lambda: unzip(zip_path, cfg.data_path), f"extract {zip_path}",
                          done_marker=extracted_marker(zip_path))
