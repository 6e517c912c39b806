"""Where a benchmark ran: machine, library versions, commit, load (shared by the suites)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path


def git_commit() -> str:
    """Short commit of the checkout, marked when ``structunstruct/`` has uncommitted changes.

    ``"unknown"`` when the package does not run from a checkout (an installed wheel).
    """
    root = Path(__file__).resolve().parents[2]  # structunstruct/benchmarks/machine.py
    if not (root / "pyproject.toml").is_file():
        return "unknown"
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=root)
        dirty = _package_differs_from_head(root)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes under structunstruct/)" if dirty else "")


def _package_differs_from_head(root: Path) -> bool:
    """Whether a committed file under ``structunstruct/`` differs from HEAD (read-only)."""
    tree = subprocess.run(["git", "ls-tree", "-r", "HEAD", "structunstruct"], capture_output=True,
                          text=True, check=True, cwd=root).stdout.splitlines()
    committed = {line.split("\t", 1)[1]: line.split()[2] for line in tree}
    paths = [path for path in committed if (root / path).is_file()]
    hashes = subprocess.run(["git", "hash-object", "--", *paths], capture_output=True, text=True,
                            check=True, cwd=root).stdout.split()
    return len(paths) < len(committed) or any(committed[p] != h for p, h in zip(paths, hashes))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _blas() -> str:
    from threadpoolctl import threadpool_info

    libraries = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                 for i in threadpool_info() if i["user_api"] == "blas"]
    return ", ".join(libraries) or "unknown"


def machine_info(packages: Sequence[str]) -> dict[str, str]:
    """Where and with what a benchmark ran: date, CPU, cores, RAM, BLAS, versions, commit."""
    info = {
        "date (start)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "ram": _ram_gib(),
        "os": platform.platform(),
        "blas": _blas(),
        "python": platform.python_version(),
    }
    info.update({name: version(name) for name in packages})
    info["structunstruct commit"] = git_commit()
    return info


def load_average() -> str:
    """The 1-minute load average (other processes competing for the CPU)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"
