"""Guards of a workflow run in one working folder, used by the Snakefile before Snakemake prints
anything: is this a real run (not ``-n``, ``--lint``, ...), the run lock, and no link under
``results/`` that leads outside the working folder.

Each problem is a :class:`UserError` (one line); the Snakefile prints it and exits with code 2.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence

from dse.errors import UserError

#: Options of the snakemake command that only look (no job runs, nothing is written under
#: results/): the run lock is not taken for them.
LOOK_ONLY = frozenset(
    """--dry-run --dryrun --lint --list --list-rules --list-target-rules --dag --d3dag
    --rulegraph --filegraph --summary --detailed-summary --report --unlock --cleanup-metadata
    --cleanup-shadow --archive --containerize --export-cwl --generate-unit-tests
    --print-compilation --list-conda-envs --list-changes --list-input-changes
    --list-params-changes --list-code-changes --list-untracked --help --version""".split()
)
#: Short forms of the same (may be bundled: ``-np``).
LOOK_ONLY_SHORT = frozenset("nlSDh")

#: Short options that take a value (the letters after them in a bundle are that value).
_SHORT_WITH_VALUE = frozenset("cjsdT")

#: The open file of the run lock, per path, for the life of this process (the Snakefile may be
#: parsed more than once in one process; a second flock on a new descriptor would fail).
_HELD: dict[str, int] = {}


def is_real_run(argv: Sequence[str]) -> bool:
    """Whether a snakemake command line runs jobs (not a dry run, lint, listing or report)."""
    for token in argv:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        if name in LOOK_ONLY:
            return False
        if token.startswith("-") and not token.startswith("--"):
            for letter in token[1:]:
                if letter in LOOK_ONLY_SHORT:
                    return False
                if letter in _SHORT_WITH_VALUE:
                    break
    return True


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def take_run_lock(path: str | os.PathLike[str], *, cwd: str | None = None) -> int:
    """Hold an exclusive ``flock`` on ``path`` for the life of this process; return its fd.

    A link planted at ``path`` is replaced by a file (the lock never writes through it), and a
    ``.snakemake`` folder that is a link leading outside the working folder is refused.

    Raises:
        UserError: another process holds the lock (its pid is named), or the folder is a link.
    """
    p = os.path.abspath(path)
    if p in _HELD:
        return _HELD[p]
    cwd = os.path.abspath(cwd or os.getcwd())
    folder = os.path.dirname(p)
    real_folder = os.path.realpath(folder)
    if not _inside(real_folder, os.path.realpath(cwd)):
        raise UserError(
            f"{os.path.relpath(folder, cwd)} is a link to {real_folder}, outside the working "
            "folder; remove the link and run again",
            file=os.path.relpath(folder, cwd),
        )
    os.makedirs(folder, exist_ok=True)
    if os.path.islink(p):
        os.unlink(p)  # a planted link: the lock file is ours, replace it
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(p, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UserError(
            f"another snakemake run (pid {holder}) is working in {cwd}; wait for it to finish "
            "or stop it, then run again"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[p] = fd
    return fd


def outside_links(root: str | os.PathLike[str], *, cwd: str | None = None) -> list[tuple[str, str]]:
    """Links at or under ``root`` (not followed) that lead outside the working folder, as
    (link, resolved target) pairs, links first found first."""
    cwd_real = os.path.realpath(cwd or os.getcwd())
    found: list[tuple[str, str]] = []
    root = str(root)

    def check(path: str) -> None:
        target = os.path.realpath(path)
        if not _inside(target, cwd_real):
            found.append((path, target))

    if os.path.islink(root):
        check(root)
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                check(path)
    return found


def refuse_outside_links(root: str | os.PathLike[str], *, cwd: str | None = None) -> None:
    """Refuse a run whose outputs would be written (or deleted) through a link leading outside
    the working folder: Snakemake and dse would follow it.

    Raises:
        UserError: naming the first such link and where it leads.
    """
    links = outside_links(root, cwd=cwd)
    if links:
        link, target = links[0]
        more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
        raise UserError(
            f"is a link to {target}, outside the working folder{more}; outputs are never written "
            f"through it: remove the link (rm {link}) and run again",
            file=link,
        )


def remove_stale_temporaries(root: str | os.PathLike[str], extra: Sequence[str] = ()) -> tuple[
    list[str], list[str]
]:
    """Remove what killed runs left under ``root``: hidden ``.NAME.*.tmp`` files and folders
    (a link is removed itself, never what it leads to), and the paths in ``extra`` (e.g. a lock
    beside the journal).

    Returns:
        (removed, failed): paths removed, and ``path (reason)`` for those that could not be.
    """
    import shutil

    removed: list[str] = []
    failed: list[str] = []

    def remove(path: str) -> None:
        try:
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)
            else:
                shutil.rmtree(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            failed.append(f"{path} ({exc.strerror or exc})")
            return
        removed.append(path)

    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames):
            if name.startswith(".") and name.endswith(".tmp"):
                dirnames.remove(name)
                remove(os.path.join(dirpath, name))
        for name in filenames:
            if name.startswith(".") and name.endswith(".tmp"):
                remove(os.path.join(dirpath, name))
    for path in extra:
        if os.path.lexists(path):
            remove(path)
    return removed, failed


__all__ = [
    "is_real_run",
    "outside_links",
    "refuse_outside_links",
    "remove_stale_temporaries",
    "take_run_lock",
]
