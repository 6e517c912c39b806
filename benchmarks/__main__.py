"""``python -m benchmarks NAME [--quick] [options]``: run one registered benchmark.

``python -m benchmarks --list`` lists the benchmarks of the package and of this folder.
"""

from __future__ import annotations

import sys

from structunstruct.benchmarks import dispatch  # this package's __init__ registered its scripts

if __name__ == "__main__":
    raise SystemExit(dispatch(sys.argv[1:], prog="python -m benchmarks"))
