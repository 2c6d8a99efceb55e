"""``python -m web`` is the same as ``dm``."""

import sys

from web.cli import main

sys.exit(main())
