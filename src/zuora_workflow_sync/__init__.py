"""zuora-workflow-sync: a local, versioned copy of many customers' Zuora Workflow definitions.

One thing happens at import, before any module of the package imports httpx: httpx's
``__init__`` imports its command-line client (``httpx._main``: rich's console, progress and
syntax, pygments) whenever those are installed, as they are here (typer needs rich). That is
about 5.5 MB of every worker's memory and 40-50 ms of every process's start, for the ``httpx``
command, which this product never runs. A ``None`` in ``sys.modules`` makes that import raise
ImportError (the import system's documented behaviour), which httpx catches: it then defines a
``main()`` that asks for ``httpx[cli]``. ``tests/cli/test_import_weight.py`` pins both halves.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
