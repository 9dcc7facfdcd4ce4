"""Backend set-up shared by every entry point: CPU speed defaults, the MindSpore context, distributed
initialisation, the launcher's environment (DEVICE_ID, RANK_SIZE, RANK_ID, JOB_ID: one parser, `read_int_env`),
and the workaround for MindSpore 2.10's memory check before reading a .ckpt file.

That check (mindspore.load_checkpoint) refuses a checkpoint larger than the "available memory", which it takes
from sysconf(SC_AVPHYS_PAGES): the kernel's MemFree, which leaves out the page cache the kernel gives back on
demand. After a run has written a few checkpoints (Inception-v4's are ~500 MB with optimizer state) the page
cache holds most of the memory and MemFree sinks to a few hundred MB, so resuming or evaluating failed with
"the checkpoint protobuf content size 494323085 bytes exceeds current available memory 228048896 bytes" on a
machine with 20 GB available. MemAvailable (/proc/meminfo) is the kernel's estimate of what can be allocated.
"""
import os
import platform

from src.runtime.stops import UserError


ONEDNN_ISA_CAP = "AVX2"
"""On AVX-512 CPUs oneDNN picks a reference-speed kernel for MindSpore's plain NCHW convolutions;
capping the ISA at AVX2 makes them about 100x faster (docs/cpu_performance.md, "CPU performance")."""


def apply_cpu_defaults(device_target):
    """Cap oneDNN's ISA on x86 CPUs unless the user set ONEDNN_MAX_CPU_ISA. Must run before the first op."""
    if device_target == "CPU" and platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", ONEDNN_ISA_CAP)


def init_context(cfg, device_id=None):
    """Apply the CPU defaults, then select graph mode and the device: `device_id` if given, else the one a
    distributed launcher assigned (launcher_device_id), else cfg.device_id."""
    apply_cpu_defaults(cfg.device_target)
    import mindspore as ms  # imported after the environment is final
    ms.set_context(mode=ms.GRAPH_MODE)
    if cfg.device_target == "CPU":
        if ms.get_context("device_target") != "CPU":  # set_device fails once the runtime has started
            ms.set_device("CPU")
        return
    try:
        ms.set_device(cfg.device_target, launcher_device_id(cfg.device_id) if device_id is None else device_id)
    except RuntimeError as err:
        detail = " ".join(str(err).split()).split(". ")[0]
        raise UserError(f"device_target {cfg.device_target} is not usable in this MindSpore installation "
                        f"({detail}). Install the MindSpore package for {cfg.device_target}, or pass "
                        "--device_target CPU with default_config_cpu.yaml.") from None


LAUNCHER_SIZE_VARIABLES = ("RANK_SIZE", "MS_WORKER_NUM", "OMPI_COMM_WORLD_SIZE")
"""Process counts set by the launchers: rank-table scripts (RANK_SIZE), msrun (MS_WORKER_NUM), mpirun."""


def is_distributed():
    """True when launched as one of several workers (rank table: RANK_SIZE; msrun: MS_WORKER_NUM; mpirun)."""
    return any(read_int_env(name, 1, 1) > 1 for name in LAUNCHER_SIZE_VARIABLES)


def launcher_device_id(default):
    """The device of this worker: None under msrun (MindSpore gives each worker its own), DEVICE_ID from a
    rank-table launcher, the local rank under mpirun; `default` when not distributed or none is given."""
    if not is_distributed():
        return default
    if os.environ.get("MS_ROLE"):
        return None
    for name in ("DEVICE_ID", "OMPI_COMM_WORLD_LOCAL_RANK"):
        if os.environ.get(name, "").strip():
            return read_int_env(name, default, 0)
    return default


def init_distributed():
    """Initialise communication and data parallelism with mean gradients; return (rank_id, group_size).

    Does nothing and returns (0, 1) unless a launcher started several workers. A failing initialisation
    (e.g. RANK_SIZE exported by hand without a launcher) is reported as a UserError naming the launchers.
    """
    if not is_distributed():
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init
    try:
        init()
    except RuntimeError as err:
        detail = " ".join(str(err).split("\n\n")[0].split()).rstrip(".")  # without the C++ call stack
        sizes = ", ".join(f"{name}={os.environ[name]}" for name in LAUNCHER_SIZE_VARIABLES if name in os.environ)
        raise UserError(f"distributed initialisation failed ({sizes}): {detail}. Start several workers with "
                        "scripts/run_distribute_train_{ascend,gpu,msrun}.sh, or unset these variables to "
                        "train on one device.") from None
    group_size = get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=group_size)
    return get_rank(), group_size


def available_memory():
    """MemAvailable from /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def use_available_memory_for_checkpoints():
    """Make MindSpore's checkpoint size check compare with MemAvailable (its own value where that is unknown).
    Called by src.checkpoint.read_checkpoint before each load; a no-op once applied."""
    from mindspore.train import serialization  # pylint: disable=import-outside-toplevel
    original = getattr(serialization, "_get_available_memory", None)
    if original is None or getattr(original, "uses_mem_available", False):
        return

    def memory():
        return available_memory() or original()

    memory.uses_mem_available = True
    serialization._get_available_memory = memory  # pylint: disable=protected-access


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
