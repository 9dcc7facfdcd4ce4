"""mindspore_hub_conf.py: the MindSpore Hub entry at the top level, loaded as the hub loads it (by path)."""
import importlib.util
import os

import mindspore as ms
import numpy as np
import pytest

from src.model_utils.config import PROJECT_ROOT


@pytest.fixture(scope="module")
def hub_conf():
    spec = importlib.util.spec_from_file_location("mindspore_hub_conf",
                                                  os.path.join(PROJECT_ROOT, "mindspore_hub_conf.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inceptionv4_is_this_network_with_the_given_arguments(hub_conf):
    from src.inceptionv4 import Inceptionv4
    net = hub_conf.create_network("inceptionv4", classes=10)
    assert isinstance(net, Inceptionv4)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net.set_train(False)
        out = net(ms.Tensor(np.zeros((1, 3, 75, 75), np.float32))).asnumpy()
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)
    assert out.shape == (1, 10)
    assert np.exp(out).sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", ["inceptionv3", "InceptionV4", ""])
def test_other_names_are_a_clear_error(hub_conf, name):
    with pytest.raises(ValueError, match=rf"unknown network '{name}': this repository provides 'inceptionv4'\."):
        hub_conf.create_network(name)
