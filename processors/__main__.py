"""`python -m processors ...` is `ioc processors ...` (the same options, errors and exit codes)."""

from processors.cli import app

app(prog_name="ioc processors")
