"""Once-per-server steps: the first device of each server does the work, the other devices wait for its
marker file (a ModelArts server runs up to 8 devices, one process each, sharing its local disk)."""
import os
import re
import tempfile
import time

from src.errors import UserError
from src.fileio import atomic_output
from src.model_utils.local_adapter import get_device_id, get_device_num

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
