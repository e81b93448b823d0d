"""Claim files: two runs of one suite split its work instead of both computing every cell.

Before a run computes a group of cells it creates ``.<key>.claim`` in the records folder atomically
(``O_CREAT | O_EXCL``) for each artifact of the group (``benchmarks.driver``: the key names the group and the
artifact), holding its host and PID, and removes it when that artifact's records are stored. Another run
skips claimed cells and comes back to them once the claim is gone: when the records are there it has nothing
to do, otherwise (the claimant died) it runs them itself. Runs sharded by artifact (``--shard``) hold
different claims, so they run side by side. A run about to distil an artifact that is not cached yet also claims
its distillation, which groups on other architectures, losses or optimizers share: another run leaves those groups
until the claim is gone (the artifact is cached by then) rather than distilling it a second time beside it. A claim
whose process no longer exists on this host is stale and is taken over; a run ending removes the stale claims it
finds, since one whose records are stored (or whose artifact is cached) is never claimed again to be taken over.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path


def claim_path(directory: Path, key: str) -> Path:
    return directory / f".{key}.claim"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


_WRITING = object()  # a claim that exists but cannot be read or parsed yet


def _holder(path: Path) -> object:
    """The claim's content ({"host", "pid"}), None where the file is gone, _WRITING where it is not readable yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return _WRITING


def _here_pid(holder: dict) -> int | None:
    """The holder's PID where it claimed on this host, else None."""
    pid = holder.get("pid")
    return pid if holder.get("host") == socket.gethostname() and isinstance(pid, int) else None


def held_by_other(path: Path) -> bool:
    """Whether a live process other than this one holds the claim at ``path`` (unreadable claims count as
    live while they are being written; claims from another host are trusted)."""
    holder = _holder(path)
    if holder is _WRITING:
        return True
    if not isinstance(holder, dict):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    pid = _here_pid(holder)
    return pid is not None and pid != os.getpid() and _alive(pid)


def is_stale(path: Path) -> bool:
    """Whether the claim at ``path`` was made on this host by another process that no longer exists."""
    holder = _holder(path)
    pid = _here_pid(holder) if isinstance(holder, dict) else None
    return pid is not None and pid != os.getpid() and not _alive(pid)


def sweep_stale(directory: Path) -> list[Path]:
    """Remove the stale claims in ``directory`` (left by runs killed between storing and releasing); the paths
    removed. A folder the user made read-only keeps them, harmless: each is taken over when a run meets it."""
    gone = []
    for path in directory.glob(".*.claim"):
        if is_stale(path):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue
            gone.append(path)
    return gone


def try_claim(directory: Path, key: str) -> Path | None:
    """Claim ``key`` for this process: the claim's path, or None when a live process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = claim_path(directory, key)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if held_by_other(path):
                return None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
        return path
    return None


def release(path: Path) -> None:
    """Remove a claim this process made."""
    path.unlink(missing_ok=True)
