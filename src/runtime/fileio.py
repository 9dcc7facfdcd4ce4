"""Output and input paths: atomic file output (a file is complete or absent, never half-written), output
folders checked by a test write before any work, input files told apart from folders, and why an input
cannot be opened."""
import contextlib
import errno
import os
import re
import tempfile

from src.runtime.stops import UserError

TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
"""Names of atomic_output's temporary files (`.<stem>.<8 random characters>.tmp<ext>`), including the one
mindspore.save_checkpoint writes beside it (`.tmp.ckpt` becomes `.tmp.tmp`)."""


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    The temporary name keeps the extension of `path` (writers such as mindspore.export add or check
    extensions). On failure the temporary file is removed and `path` is left untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file owner-only; give it the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def stale_temporaries(directory):
    """Names of the temporary files of atomic_output in `directory`: left by a killed process when no process
    writes there any more."""
    return sorted(name for name in os.listdir(directory) if TEMPORARY_NAME.match(name))


def _file_in_the_way(path):
    """The nearest existing ancestor of `path` (or `path` itself) when it is not a folder, else None."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return None if os.path.isdir(path) else path


def prepare_output_dir(directory, what):
    """Create `directory` and test-write a file in it; UserError naming `what` (e.g. "checkpoint folder
    (ckpt_path)") and the reason. Call it before loading data or compiling, so that no work is lost."""
    shown = os.path.abspath(directory)
    blocker = _file_in_the_way(directory)
    if blocker:
        raise UserError(f"{what} '{shown}' cannot be created: '{blocker}' is a file, not a folder. Pass a path "
                        "under a folder.")
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise UserError(f"{what} '{shown}' is not writable ({err.strerror or err}): pass a folder you can write "
                        "to.") from None
    return directory


def prepare_output_file(path, what):
    """Check that the file `path` can be written (its folder is created and test-written); UserError if not."""
    if os.path.isdir(path):
        raise UserError(f"{what} '{os.path.abspath(path)}' is a folder: pass a file name.")
    prepare_output_dir(os.path.dirname(os.path.abspath(path)), f"the folder of {what}")
    return path


def check_not_input(output, source, what="--output"):
    """UserError when writing the file `output` would replace the input file `source`: the same path, a
    symbolic link to it or a hard link of it."""
    same = os.path.abspath(output) == os.path.abspath(source) or \
        (os.path.exists(output) and os.path.exists(source) and os.path.samefile(output, source))
    if same:
        raise UserError(f"{what} '{os.path.abspath(output)}' is the input file '{os.path.abspath(source)}' (the "
                        "same file, or a link to it): writing it would replace the input. Choose another file name.")


def check_input_file(path, what, hint):
    """Return `path` if it is an existing file; UserError naming `what` and adding `hint` otherwise."""
    shown = os.path.abspath(path)
    if os.path.isdir(path):
        raise UserError(f"{what} '{shown}' is a folder, not a file: {hint}")
    if not os.path.isfile(path):
        raise UserError(f"{what} '{shown}' does not exist: {hint}")
    return path


def _closed_folder(path):
    """The first folder on the way to `path` (symbolic links followed) that this process may not enter, or None."""
    folder = os.path.dirname(os.path.realpath(path))
    ancestors = []
    while folder not in ancestors:
        ancestors.append(folder)
        folder = os.path.dirname(folder)
    return next((folder for folder in reversed(ancestors) if not os.access(folder, os.X_OK)), None)


def unreachable(path, err):
    """Why the input `path` cannot be opened (from the OSError `err` of stat or open) and what to do, as a phrase
    that follows the path: "'x' {phrase}"."""
    if err.errno == errno.ELOOP:
        return "is a symbolic link loop (it leads back to itself): fix or remove the link"
    if err.errno == errno.ENOENT and os.path.islink(path):
        return f"is a broken symbolic link (its target '{os.readlink(path)}' does not exist): fix or remove the link"
    if err.errno == errno.ENOENT:
        return "does not exist"
    if err.errno in (errno.EACCES, errno.EPERM):
        closed = _closed_folder(path)
        if closed:
            return (f"cannot be reached: no permission to enter the folder '{closed}' (chmod a+x it, or copy the "
                    "files to a folder you can read)")
        return "cannot be read: no read permission (chmod a+r it, or copy it to a file you can read)"
    return f"cannot be read ({err.strerror or err})"
