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


def write_small_cifar(demo_data, folder, train_records, eval_records=0):
    """Make `folder` a CIFAR-10 folder holding the first records of the demo training file (and, when
    `eval_records` > 0, of the held-out file): real digits, few enough for quick training runs."""
    from src.data_files import CIFAR_EVAL_DIR, CIFAR_EVAL_FILE, CIFAR_RECORD_BYTES, CIFAR_TRAIN_DIR
    parts = [(CIFAR_TRAIN_DIR, "data_batch_1.bin", train_records), (CIFAR_EVAL_DIR, CIFAR_EVAL_FILE, eval_records)]
    for sub, name, records in parts:
        if records:
            (folder / sub).mkdir()
            with open(f"{demo_data}/cifar10/{sub}/{name}", "rb") as stream:
                (folder / sub / name).write_bytes(stream.read(records * CIFAR_RECORD_BYTES))
    return folder
