"""Everything is in pyproject.toml but one file, which needs code: the site hook
bin/00-eunomia-sigint.pth goes to the top of site-packages, beside the packages.

Python runs a .pth file's `import` lines while it starts, before any script, in file
name order. This one takes Ctrl-C over in ecli, ecc and eunomia-exporter only (it looks
at sys.argv[0]; any other program is left alone), so a Ctrl-C during the other site
hooks of an environment ends our command quietly with exit 130 instead of an
interpreter traceback. An editable install does not carry it: scripts/lib.sh copies it."""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

SITE_HOOK = "00-eunomia-sigint.pth"


class BuildPyWithSiteHook(build_py):
    def run(self):
        super().run()
        self.copy_file(os.path.join("bin", SITE_HOOK), os.path.join(self.build_lib, SITE_HOOK))

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, SITE_HOOK)]


setup(cmdclass={"build_py": BuildPyWithSiteHook})
