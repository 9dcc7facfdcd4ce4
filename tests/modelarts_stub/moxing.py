"""Stand-in for ModelArts' `moxing` (OBS cannot be reached from tests): `file.copy_parallel` copies local
folders, after $MOXING_STUB_DELAY seconds, and appends one JSON line per copy to $MOXING_STUB_LOG."""
import json
import os
import shutil
import time


def log_event(event, **fields):
    """Append {event, device, time, **fields} as one JSON line to $MOXING_STUB_LOG."""
    record = dict(event=event, device=int(os.environ.get("DEVICE_ID", "0")), time=time.time(), **fields)
    with open(os.environ["MOXING_STUB_LOG"], "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


class file:  # pylint: disable=invalid-name,too-few-public-methods  # mirrors the `mox.file` namespace
    @staticmethod
    def copy_parallel(src_url, dst_url):
        start = time.time()
        time.sleep(float(os.environ.get("MOXING_STUB_DELAY", "0")))
        shutil.copytree(src_url, dst_url, dirs_exist_ok=True)
        log_event("copy", src=src_url, dst=dst_url, start=start)
