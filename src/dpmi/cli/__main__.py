"""`python -m dpmi.cli` is the `dpmi` command."""

import sys

from dpmi.cli import main

sys.exit(main())
