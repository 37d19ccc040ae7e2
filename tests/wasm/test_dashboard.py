"""A Wasm module started from the dashboard's page (headless Chromium), its output lines
shown as the task's events, stopped from the page."""

from __future__ import annotations

import subprocess

from tests.dashboard.conftest import browser, needs_browser  # noqa: F401 (fixture)
from tests.dashboard.test_dashboard import start_from_page, stop_from_page, wait_for
from tests.kernel.conftest import loaded_program_ids, needs_root
from tests.server.conftest import RunningServer

pytestmark = [needs_root, needs_browser]


def test_start_and_stop_a_module_from_the_page(browser, exits_guest):  # noqa: F811
    server = RunningServer()
    try:
        before = loaded_program_ids(["handle_exit"])
        browser.get(server.url + "/")
        browser.find_element("id", "start-args").send_keys("0")
        task_id = start_from_page(browser, exits_guest)
        assert "exits.wasm" in browser.find_element("id", "task-title").text
        wait_for(browser, lambda d: any(td.text == "attached" for td in d.find_elements(
            "css selector", "#event-table tbody td")), what="the guest's first line")
        child = subprocess.Popen(["sh", "-c", "exit 9"])
        child.wait()
        wait_for(browser, lambda d: any(td.text == f"{child.pid} 9 sh" for td in
                                        d.find_elements("css selector",
                                                        "#event-table tbody td")),
                 what="the guest's line for the exit")
        assert task_id >= 1
        stop_from_page(browser, "handle_exit", before)
    finally:
        server.stop()
