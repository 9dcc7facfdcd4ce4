"""Launchers: path overrides mean what they mean in the user's shell; sourcing setup_env.sh leaves the user's
shell as it was; every README section the code refers to exists."""
import json
import os
import re
import subprocess
import sys

import pytest

from src.model_utils.config import PROJECT_ROOT, read_yaml

SCRIPTS = os.path.join(PROJECT_ROOT, "scripts")
NON_PATH_TEXT_KEYS = {"data_url", "train_url", "checkpoint_url", "device_target", "ds_type", "amp_level",
                      "file_format", "modelarts_dataset_unzip_name", "interpolation"}
"""Text-valued config keys that are not local paths (OBS URLs, names, choices): launchers pass them unchanged."""
LAUNCHERS = {
    "run_standalone_train_cpu.sh": ["data"],
    "run_standalone_train_ascend.sh": ["0", "data"],
    "run_eval_cpu.sh": ["data", "model.ckpt"],
    "run_eval_gpu.sh": ["data", "model.ckpt"],
    "run_eval_ascend.sh": ["0", "data", "model.ckpt"],
    "run_onnx_eval.sh": ["data", "imagenet", "CPU", "ONNX", "model.onnx"],
}
"""Launchers that run one Python entry point in a run folder of their own, with relative positional paths."""
DISTRIBUTED = {
    "run_distribute_train_ascend.sh": ["hccl.json", "data"],
    "run_distribute_train_gpu.sh": ["data", "1"],
    "run_distribute_train_msrun.sh": ["data", "1", "CPU"],
}


def run(cmd, cwd, **env):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable, **env})


def script_and_folder(where, project_copy, tmp_path):
    """(how the user names the scripts folder, the folder the user is in) for the two places users run from."""
    if where == "project root":
        return "scripts", project_copy
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return SCRIPTS, elsewhere


def test_every_path_key_given_to_a_launcher_is_made_absolute(tmp_path):
    defaults, _, _ = read_yaml(os.path.join(PROJECT_ROOT, "default_config.yaml"))
    text_keys = sorted(["config_path"] + [key for key, value in defaults.items() if isinstance(value, str)])
    args = [word for key in text_keys for word in (f"--{key}", "rel/x")]
    args += ["--batch_size", "16", "--resume=", "--ckpt_file=a/b.ckpt", "--label_file=/abs/l.txt",
             "--data_path", "s3://bucket/data"]
    code = 'source "$1"; absolute_path_args "${@:2}"; printf "%s\\n" "${EXTRA[@]}"'
    result = run(["bash", "-c", code, "bash", os.path.join(SCRIPTS, "launch_common.sh"), *args], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    words = result.stdout.splitlines()
    values = dict(zip(words[:2 * len(text_keys):2], words[1:2 * len(text_keys):2]))
    unclassified = [key for key in text_keys if values[f"--{key}"] == "rel/x" and key not in NON_PATH_TEXT_KEYS]
    assert not unclassified, (f"config keys {unclassified} hold text: if they are paths, make is_path_key in "
                              "scripts/launch_common.sh match them, else add them to NON_PATH_TEXT_KEYS")
    for key in text_keys:
        expected = "rel/x" if key in NON_PATH_TEXT_KEYS else str(tmp_path / "rel" / "x")
        assert values[f"--{key}"] == expected, key
    assert words[2 * len(text_keys):] == ["--batch_size", "16", "--resume=", f"--ckpt_file={tmp_path}/a/b.ckpt",
                                          "--label_file=/abs/l.txt", "--data_path", "s3://bucket/data"]


@pytest.mark.parametrize("where", ["project root", "another folder"])
def test_launchers_look_for_relative_paths_where_the_user_is(where, project_copy, tmp_path):
    """Every launcher changes into its run folder; a relative --config_path still names the file beside the
    user, and the error names the absolute path it tried."""
    scripts, cwd = script_and_folder(where, project_copy, tmp_path)
    jobs = {name: subprocess.Popen(["bash", os.path.join(scripts, name), *args, "--config_path", "mine/absent.yaml"],
                                   cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "PYTHON": sys.executable})
            for name, args in LAUNCHERS.items()}
    for name, job in jobs.items():
        output, _ = job.communicate(timeout=300)
        assert job.returncode == 2, (name, output)
        assert f"error: config file '{cwd}/mine/absent.yaml' does not exist" in output, (name, output)
        assert "run directory: " + str(cwd) in output, name  # the run folder is made where the user is


@pytest.mark.parametrize("where", ["project root", "another folder"])
def test_distributed_launchers_pass_absolute_paths(where, project_copy, tmp_path):
    scripts, cwd = script_and_folder(where, project_copy, tmp_path)
    (cwd / "data").mkdir()
    table = {"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "192.0.2.1", "host_nic_ip": "reserve",
         "device": [{"device_id": "0", "device_ip": "192.168.100.101", "rank_id": "0"}]}]}
    (cwd / "hccl.json").write_text(json.dumps(table))
    for name, args in DISTRIBUTED.items():
        result = run(["bash", os.path.join(scripts, name), "--dry-run", *args, "--eval_dataset_path", "val",
                      "--ckpt_path=out/ckpt", "--resume", ""], cwd=cwd, SERVER_ID="192.0.2.1")
        assert result.returncode == 0, (name, result.stderr)
        line = [line for line in result.stdout.splitlines() if not line.startswith("#")][-1]
        assert f"--dataset_path {cwd}/data " in line, (name, line)
        assert f"--eval_dataset_path {cwd}/val --ckpt_path={cwd}/out/ckpt --resume ''" in line, (name, line)


def test_sourcing_setup_env_leaves_the_users_shell_as_it_was(tmp_path):
    """With set -e (and -u, pipefail) on, a failing install is reported and `source` returns 1: the shell goes
    on with its options and folder unchanged. A working set-up activates the venv, also without side effects."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    assert os.path.isfile(os.path.join(venv, "pyvenv.cfg")), "run the tests in the project's venv"
    bad = tmp_path / "requirements.txt"
    bad.write_text("this is not a requirement!\n")
    code = """
unset VIRTUAL_ENV
set -euo pipefail
shopt -s nullglob
state() { echo "$-|$(set -o)|$(shopt -p)|$PWD"; }
before=$(state)
status=0
source "$1" || status=$?
[ "$before" = "$(state)" ] && echo "shell unchanged"
echo "status $status, VIRTUAL_ENV=${VIRTUAL_ENV:-none}"
"""
    setup = os.path.join(SCRIPTS, "setup_env.sh")
    failed = run(["bash", "-c", code, "bash", setup], cwd=tmp_path, VENV=venv, REQUIREMENTS=str(bad))
    assert failed.returncode == 0, failed.stderr
    assert failed.stdout.splitlines()[-2:] == ["shell unchanged", "status 1, VIRTUAL_ENV=none"]
    assert f"setup: error: installing '{bad}' into {venv} failed" in failed.stderr
    assert "Invalid requirement" in failed.stderr  # pip's own message is shown
    working = run(["bash", "-c", code, "bash", setup], cwd=tmp_path, VENV=venv)
    assert working.returncode == 0, working.stderr
    assert working.stdout.splitlines()[-2:] == ["shell unchanged", f"status 0, VIRTUAL_ENV={venv}"]


def _headings(text):
    """The headings of markdown `text`, outside fenced code blocks."""
    headings, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            headings.append(line.lstrip("#").strip())
    return headings


def _project_files():
    """The project's code, scripts and configs (not tests, data, venv or build output)."""
    def wanted(name):
        return name.endswith((".py", ".sh", ".yaml", ".cc", ".h", ".txt")) or name == "run"

    for entry in os.listdir(PROJECT_ROOT):
        path = os.path.join(PROJECT_ROOT, entry)
        if os.path.isfile(path) and wanted(entry):
            yield path
        elif entry in ("src", "scripts", "ascend310_infer", "benchmarks", ".ci"):
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = [name for name in subfolders if name not in ("build", "out", "__pycache__")]
                yield from (os.path.join(folder, name) for name in files if wanted(name))


def test_every_readme_section_referred_to_exists():
    """Sections named as README, "<title>" in code, scripts and configs, and the README's own #anchor links."""
    with open(os.path.join(PROJECT_ROOT, "README.md"), encoding="utf-8") as stream:
        readme = stream.read()
    headings = _headings(readme)
    anchors = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
    missing = [anchor for anchor in re.findall(r"\]\(#([^)]+)\)", readme) if anchor not in anchors]
    checked = 0
    for path in _project_files():
        with open(path, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
        for reference in re.findall(r"README[^\n]*", text):
            titles = re.findall(r'"([^"]+)"', reference.split(")")[0])
            missing += [f"{path}: {title}" for title in titles if title not in headings]
            checked += len(titles)
        for doc, title in re.findall(r'(docs/[\w.]+\.md), "([^"]+)"', text.replace("\n# ", " ").replace("\n", " ")):
            with open(os.path.join(PROJECT_ROOT, doc), encoding="utf-8") as stream:
                missing += [] if title in _headings(stream.read()) else [f"{path}: {doc} {title}"]
            checked += 1
    assert checked >= 3  # the search finds the references there are
    assert not missing, f"README/docs sections referred to but missing: {missing}"
