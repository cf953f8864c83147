"""`python -m apercite_analytics` — the same as the `apercite-analytics` console script."""

import sys

from apercite_analytics.cli.main import main

sys.exit(main())
