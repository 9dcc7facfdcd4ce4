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
