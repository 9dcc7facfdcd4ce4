"""Backend set-up shared by every entry point: CPU speed defaults, then the MindSpore context."""
import os
import platform

ONEDNN_ISA_CAP = "AVX2"
"""On AVX-512 CPUs oneDNN picks a reference-speed kernel for MindSpore's plain NCHW convolutions;
capping the ISA at AVX2 makes them about 100x faster (README, "CPU performance")."""


def apply_cpu_defaults(device_target):
    """Cap oneDNN's ISA on x86 CPUs unless the user set ONEDNN_MAX_CPU_ISA. Must run before the first op."""
    if device_target == "CPU" and platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", ONEDNN_ISA_CAP)


def init_context(cfg, device_id=None):
    """Apply the CPU defaults, then select graph mode and the device from `cfg`."""
    apply_cpu_defaults(cfg.device_target)
    import mindspore as ms  # imported after the environment is final
    ms.set_context(mode=ms.GRAPH_MODE)
    if cfg.device_target == "CPU":
        ms.set_device("CPU")
    else:
        ms.set_device(cfg.device_target, cfg.device_id if device_id is None else device_id)


def is_distributed():
    """True when launched as one of several workers (rank table / mpirun: RANK_SIZE > 1; msrun: MS_WORKER_NUM > 1)."""
    return any(int(os.environ.get(name, "1") or "1") > 1 for name in ("RANK_SIZE", "MS_WORKER_NUM"))


def init_distributed():
    """Initialise communication and data parallelism with mean gradients; return (rank_id, group_size)."""
    if not is_distributed():
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init
    init()
    group_size = get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=group_size)
    return get_rank(), group_size
