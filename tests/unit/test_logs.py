"""eunomia.logs: the library's loggers import logging on their first message, and an
application's configuration handed to configure_on_first_use runs just before it."""

from __future__ import annotations

import subprocess
import sys

from tests.architecture.test_layers import ROOT


def _run(code: str) -> list[str]:
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, check=True, cwd=ROOT)
    return shown.stdout.split() + ["|"] + shown.stderr.splitlines()


def test_a_logger_imports_logging_on_its_first_message_only():
    out = _run("import sys\n"
               "from eunomia.logs import Logger, configure_on_first_use\n"
               "log = Logger('eunomia.test')\n"
               "print('logging' in sys.modules)\n"
               "def configure():\n"
               "    import logging\n"
               "    print('configured', 'logging' in sys.modules)\n"
               "    logging.basicConfig(format='%(name)s says %(message)s')\n"
               "configure_on_first_use(configure)\n"
               "print('logging' in sys.modules)\n"
               "log.warning('hello %s', 'there')\n"
               "log.warning('again')\n")
    # not imported by the logger nor by the configuration handed over; configured once,
    # just before the first message, which its format then shows
    assert out == ["False", "False", "configured", "True", "|", "eunomia.test says hello there",
                   "eunomia.test says again"]


def test_a_configuration_runs_at_once_when_logging_is_in_use():
    out = _run("import logging\n"
               "from eunomia.logs import configure_on_first_use\n"
               "configure_on_first_use(lambda: print('configured'))\n"
               "print('after')\n")
    assert out == ["configured", "after", "|"]


def test_a_library_logger_is_silent_until_the_application_logs():
    """A NullHandler: with nothing configured, a warning goes nowhere (not to logging's
    last-resort stderr handler)."""
    out = _run("from eunomia.logs import Logger\n"
               "Logger('eunomia.quiet').warning('not shown')\n")
    assert out == ["|"]


def test_threads_that_log_first_together_wait_for_the_set_up():
    """Four threads' first messages while the handed-over set-up runs (slowly, here):
    each waits for it, none is lost or raises."""
    out = _run("import threading, time\n"
               "from eunomia.logs import Logger, configure_on_first_use\n"
               "def configure():\n"
               "    import logging\n"
               "    time.sleep(0.2)     # a window for the others to arrive in\n"
               "    logging.basicConfig(format='configured %(message)s')\n"
               "configure_on_first_use(configure)\n"
               "log = Logger('eunomia.threads')\n"
               "threads = [threading.Thread(target=log.warning, args=(f'm{i}',))\n"
               "           for i in range(4)]\n"
               "for thread in threads:\n"
               "    thread.start()\n"
               "for thread in threads:\n"
               "    thread.join()\n")
    assert out[0] == "|" and sorted(out[1:]) == [f"configured m{i}" for i in range(4)]
