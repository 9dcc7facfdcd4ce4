"""Workaround for MindSpore 2.10's memory check before reading a .ckpt file.

mindspore.load_checkpoint refuses a checkpoint larger than the "available memory", which it takes from
sysconf(SC_AVPHYS_PAGES): the kernel's MemFree, which leaves out the page cache the kernel gives back on
demand. After a run has written a few checkpoints (Inception-v4's are ~500 MB with optimizer state) the page
cache holds most of the memory and MemFree sinks to a few hundred MB, so resuming or evaluating failed with
"the checkpoint protobuf content size 494323085 bytes exceeds current available memory 228048896 bytes" on a
machine with 20 GB available. MemAvailable (/proc/meminfo) is the kernel's estimate of what can be allocated.
"""
from mindspore.train import serialization


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
    """Make MindSpore's checkpoint size check compare with MemAvailable (its own value where that is unknown)."""
    original = getattr(serialization, "_get_available_memory", None)
    if original is None or getattr(original, "uses_mem_available", False):
        return

    def memory():
        return available_memory() or original()

    memory.uses_mem_available = True
    serialization._get_available_memory = memory  # pylint: disable=protected-access
