"""``python -m benchmarks SUITE [options]``: run one benchmark suite."""

from __future__ import annotations

import importlib
import sys

from . import SUITES, list_suites


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m benchmarks SUITE [options]\nsuites: {', '.join(list_suites())}")
        return
    suite, rest = argv[0], argv[1:]
    if suite not in SUITES:
        raise SystemExit(f"unknown benchmark suite {suite!r}; known: {list_suites()}")
    importlib.import_module(SUITES[suite]).main(rest)


if __name__ == "__main__":
    main()
