"""`python -m abcrnn …` is the same as the `abcrnn` command (the workflow rules use this form)."""

import sys

from abcrnn.commands.cli import main

sys.exit(main())
