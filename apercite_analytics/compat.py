"""Every patch bonobo2 needs on Python >= 3.10, in one place; `apply()` runs before any graph does.

* mondrian 0.8.1's formatter sets `_Style._defaults`, which Python 3.10 made part of
  `logging.PercentStyle`'s contract; resetting it to None restores the old behaviour (without
  it, Bonobo's console logging breaks on a terminal).
* bonobo's `fs` dependency imports `pkg_resources` (hence the `setuptools<82` pin), which warns.
* bonobo installs its own console plugin and root log level when stdout is a terminal; we report
  progress and the summary ourselves, so it runs quiet (`QUIET` is read when a graph runs).
"""

import os
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(fs|pkg_resources)(\..*)?")
warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*")


def apply() -> None:
    import mondrian.formatters

    mondrian.formatters._Style._defaults = None
    os.environ.setdefault("QUIET", "1")
