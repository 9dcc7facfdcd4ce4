"""Shared test set-up: the CPU speed default applies to the test process as to every entry point."""
from src.context import apply_cpu_defaults

apply_cpu_defaults("CPU")
