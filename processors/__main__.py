"""`python -m processors ...` is `ioc processors ...` (the same options, errors and exit codes)."""

import os

os.environ.setdefault("TYPER_USE_RICH", "0")  # as `ioc` itself: plain help, quick start

from processors.cli import app  # noqa: E402

app(prog_name="ioc processors")
