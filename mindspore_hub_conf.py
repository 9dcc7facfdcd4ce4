"""MindSpore Hub entry, as in the original model zoo: create_network("inceptionv4", classes=1000, ...)."""
from src.inceptionv4 import Inceptionv4

NETWORKS = {"inceptionv4": Inceptionv4}


def create_network(name, *args, **kwargs):
    """A new, untrained network `name` built with `args` and `kwargs` (Inceptionv4's: classes,
    dropout_keep_prob, ...). Only "inceptionv4" exists here; other names raise ValueError."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network '{name}': this repository provides {', '.join(map(repr, NETWORKS))}.")
    return NETWORKS[name](*args, **kwargs)
