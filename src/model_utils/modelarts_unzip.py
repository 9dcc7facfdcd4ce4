"""ModelArts pre-process step of train.py and eval.py: extract `<data_path>/<modelarts_dataset_unzip_name>.zip`
into data_path, once per server, skipped when a previous run already extracted it."""
import os
import time
import zipfile
import zlib

from src.errors import UserError
from src.model_utils.moxing_adapter import server_sync

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


def modelarts_pre_process(cfg):
    """If cfg.need_modelarts_dataset_unzip: unzip the dataset (first device of each server; others wait)."""
    if not cfg.need_modelarts_dataset_unzip:
        return
    zip_path = os.path.join(cfg.data_path, cfg.modelarts_dataset_unzip_name + ".zip")
    server_sync(cfg).once("unzip", lambda: unzip(zip_path, cfg.data_path), f"extract {zip_path}",
                          done_marker=extracted_marker(zip_path))
