"""``python -m structunstruct``: the command line of :mod:`structunstruct.cli`."""

from .cli import main

raise SystemExit(main())
