"""Atomic output: a file is complete or absent, and an old file survives a failed rewrite."""
import os
import stat

import pytest

from src.runtime.fileio import atomic_output


def test_success_renames_into_place_with_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    with atomic_output(str(target)) as tmp:
        assert tmp.endswith(".onnx") and os.path.dirname(tmp) == str(target.parent)
        with open(tmp, "wb") as stream:
            stream.write(b"complete")
    assert target.read_bytes() == b"complete"
    assert os.listdir(target.parent) == ["model.onnx"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.ckpt"
    target.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(str(target)) as tmp:
            with open(tmp, "wb") as stream:
                stream.write(b"half")
            raise KeyboardInterrupt  # e.g. Ctrl-C while saving
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["model.ckpt"]


def test_failure_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(str(tmp_path / "new.mindir")):
            raise RuntimeError("export failed")
    assert os.listdir(tmp_path) == []
