"""Device, rank and job ids from the adapter that fits the run: `moxing_adapter` on ModelArts
(`enable_modelarts` true), `local_adapter` otherwise.

    adapter = get_adapter(cfg); adapter.get_rank_id()
    from src.model_utils.device_adapter import get_device_id   # original usage: reads the command-line
    get_device_id()                                            # config on the first call, not on import
"""
from src.model_utils import local_adapter, moxing_adapter


def get_adapter(cfg):
    """The adapter module for `cfg`."""
    return moxing_adapter if cfg.enable_modelarts else local_adapter


def _adapter(cfg):
    if cfg is None:
        from src.model_utils.config import config as cfg  # pylint: disable=import-outside-toplevel
    return get_adapter(cfg)


def get_device_id(cfg=None):
    return _adapter(cfg).get_device_id()


def get_device_num(cfg=None):
    return _adapter(cfg).get_device_num()


def get_rank_id(cfg=None):
    return _adapter(cfg).get_rank_id()


def get_job_id(cfg=None):
    return _adapter(cfg).get_job_id()
