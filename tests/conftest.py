"""Shared test set-up: the CPU speed default applies to the test process as to every entry point."""
import pytest

from src.context import apply_cpu_defaults

apply_cpu_defaults("CPU")


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """Folder (str) holding the demo dataset, built once per test session by src/tools/make_demo_data.py:
    <folder>/cifar10/cifar-10-{batches,verify}-bin/*.bin and <folder>/imagenet/{train,val}/<class>/*.JPEG."""
    from src.tools.make_demo_data import make_demo_data
    return make_demo_data(str(tmp_path_factory.mktemp("demo_data")))
