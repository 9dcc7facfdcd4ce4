"""Device, rank and job ids of a local run, read from the environment (DEVICE_ID, RANK_SIZE, RANK_ID, JOB_ID)."""
import os

from src.errors import UserError


def read_int_env(name, default, minimum):
    """Integer value of environment variable `name` (`default` when unset or empty); UserError if invalid."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise UserError(f"environment variable {name}={text!r} must be an integer >= {minimum}: "
                        f"set it to a valid value or unset it (default {default}).")
    return value


def get_device_id():
    """Device index on this machine (DEVICE_ID, default 0)."""
    return read_int_env("DEVICE_ID", 0, 0)


def get_device_num():
    """Number of devices of the job (RANK_SIZE, default 1)."""
    return read_int_env("RANK_SIZE", 1, 1)


def get_rank_id():
    """Global rank of this process (RANK_ID, default 0); must be below RANK_SIZE."""
    rank_id = read_int_env("RANK_ID", 0, 0)
    device_num = get_device_num()
    if rank_id >= device_num:
        raise UserError(f"environment variable RANK_ID={rank_id} must be below RANK_SIZE={device_num}.")
    return rank_id


def get_job_id():
    """Job name (JOB_ID, default 'Local Job')."""
    return os.environ.get("JOB_ID", "").strip() or "Local Job"
