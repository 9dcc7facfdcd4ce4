"""One device of a job run through `moxing_wrapper` (tests/test_modelarts.py starts several, each with its own
DEVICE_ID): logs its steps with the stub's log_event; config from the command line; sleeps $RUN_SECONDS."""
import os
import time

from moxing import log_event  # the stub; the wrapper imports it again on its own
from src.runtime.stops import report_user_errors
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import extract_dataset_zip
from src.model_utils.moxing_adapter import moxing_wrapper


def pre_process(cfg):
    log_event("pre")
    extract_dataset_zip(cfg)


@moxing_wrapper(pre_process=pre_process, post_process=lambda cfg: log_event("post"))
def run(cfg):
    listing = {path: sorted(os.listdir(path)) for path in (cfg.data_path, cfg.load_path) if os.path.isdir(path)}
    log_event("run", listing=listing, device_id=cfg.device_id)
    time.sleep(float(os.environ.get("RUN_SECONDS", "0")))
    with open(os.path.join(cfg.output_path, f"device{cfg.device_id}.txt"), "w", encoding="utf-8") as stream:
        stream.write("output")
    log_event("run_end")


if __name__ == "__main__":
    report_user_errors(lambda: run(get_config()))()
