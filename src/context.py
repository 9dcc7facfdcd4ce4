"""Backend set-up shared by every entry point: CPU speed defaults, then the MindSpore context."""
import os
import platform

from src.errors import UserError

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


def _env_count(name, default="1"):
    value = os.environ.get(name, "").strip() or default
    if not value.isdigit():
        raise UserError(f"environment variable {name}={value!r} must be a whole number (a device or process "
                        f"count or index): fix or unset it.")
    return int(value)


def is_distributed():
    """True when launched as one of several workers (rank table: RANK_SIZE; msrun: MS_WORKER_NUM; mpirun)."""
    return any(_env_count(name) > 1 for name in LAUNCHER_SIZE_VARIABLES)


def launcher_device_id(default):
    """The device of this worker: None under msrun (MindSpore gives each worker its own), DEVICE_ID from a
    rank-table launcher, the local rank under mpirun; `default` when not distributed or none is given."""
    if not is_distributed():
        return default
    if os.environ.get("MS_ROLE"):
        return None
    for name in ("DEVICE_ID", "OMPI_COMM_WORLD_LOCAL_RANK"):
        if os.environ.get(name, "").strip():
            return _env_count(name)
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
