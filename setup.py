"""Build hook: copy the repository's `metrics/` and `grafana/` folders into the wheel, as
`apercite_analytics/shipped/{metrics,grafana}`, so a plain `pip install` has the dictionary and the
dashboards (`apercite-analytics init`). They stay at the root, where they are edited. Everything
else is configured in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("metrics", "grafana")


class BuildWithShippedFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads them at the root
            return
        for name in SHIPPED:
            source = Path(__file__).parent / name
            target = Path(self.build_lib) / "apercite_analytics" / "shipped" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithShippedFiles})
