"""``python -m sipctl`` is the same as the ``sipctl`` console script."""
import sys

from sipctl.cli import main

sys.exit(main())
