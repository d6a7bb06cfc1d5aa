"""`python -m processors ...` is `ioc processors ...` (the same options, errors and exit codes)."""

import sys

from ioc.cli import main

main(["processors", *sys.argv[1:]])
