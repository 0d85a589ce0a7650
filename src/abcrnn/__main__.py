"""`python -m abcrnn …` is the same as the `abcrnn` command (the workflow rules use this form)."""

import sys

from .cli import main

sys.exit(main())
