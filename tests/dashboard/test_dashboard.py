"""The dashboard in a real browser (headless Chromium through Selenium) against a real
`ecli server`, with real programs and real activity."""

from __future__ import annotations

import subprocess

from tests.kernel.conftest import (
    loaded_program_ids,
    needs_bpftool,
    needs_btf,
    needs_clang,
    needs_root,
    wait_until,
)
from tests.server.conftest import RunningServer

from .conftest import needs_browser, screenshot

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool, needs_browser]


def visible(driver, element_id: str) -> bool:
    return driver.find_element("id", element_id).is_displayed()


def wait_for(driver, condition, timeout: float = 20, what: str = "") -> object:
    return wait_until(lambda: condition(driver), timeout, 0.1, what=what)


def start_from_page(driver, package) -> int:
    """Starts `package` with the page's form; returns the task id the page opens."""
    wait_for(driver, lambda d: visible(d, "tasks-view"), what="the task list")
    driver.find_element("id", "start-file").send_keys(str(package))
    driver.find_element("id", "start-button").click()
    wait_for(driver, lambda d: d.current_url.rsplit("#/task/", 1)[-1].isdigit(),
             what="the page to open the new task")
    wait_for(driver, lambda d: visible(d, "task-view"), what="the task view")
    task_id = int(driver.current_url.rsplit("#/task/", 1)[1])
    # the view shows before the task's details (title, columns) arrive: one more request
    wait_for(driver, lambda d: d.find_element("id", "task-title").text.startswith(
        f"Task {task_id}:"), what="the task's details")
    return task_id


def stop_from_page(driver, program: str, before: set[int]) -> None:
    driver.find_element("id", "task-stop").click()
    wait_for(driver, lambda d: d.find_element("id", "task-meta").get_attribute(
        "data-status") == "stopped", what="the page to show the task stopped")
    wait_until(lambda: not loaded_program_ids([program]) - before, 15,
               what=f"no {program} program left")


def test_start_watch_and_stop_a_package_from_the_page(browser, example_package):
    server = RunningServer()
    try:
        before = loaded_program_ids(["handle_exit"])
        browser.get(server.url + "/")
        task_id = start_from_page(browser, example_package("exitsnoop"))
        assert "exitsnoop" in browser.find_element("id", "task-title").text
        # a column per field of the export type
        headers = [th.text for th in browser.find_elements("css selector",
                                                           "#event-table thead th")]
        assert headers[:5] == ["pid", "ppid", "exit_code", "duration_ns", "comm"]
        child = subprocess.Popen(["sh", "-c", "exit 9"])
        child.wait()
        row = wait_for(browser, lambda d: next(
            (r for r in d.find_elements("css selector", "#event-table tbody tr")
             if r.find_elements("tag name", "td")[0].text == str(child.pid)), None),
            what=f"pid {child.pid} in the live table")
        cells = [td.text for td in row.find_elements("tag name", "td")]
        assert cells[2] == "9" and cells[4] == "sh"
        # the filter box keeps matching rows only
        box = browser.find_element("id", "event-filter")
        box.send_keys(str(child.pid))
        shown = [r for r in browser.find_elements("css selector", "#event-table tbody tr")
                 if r.is_displayed()]
        assert shown and all(str(child.pid) in r.text for r in shown)
        box.clear()
        screenshot(browser, "task-events")
        # the list shows it running, with its counters
        browser.get(server.url + "/#/")
        wait_for(browser, lambda d: d.find_elements(
            "css selector", f"#task-table tr[data-task='{task_id}']"), what="the task row")
        screenshot(browser, "task-list")
        browser.get(server.url + f"/#/task/{task_id}")
        wait_for(browser, lambda d: visible(d, "task-view"), what="the task view again")
        stop_from_page(browser, "handle_exit", before)
    finally:
        server.stop()


def test_bad_output_flags_in_the_form_are_refused_on_the_page(browser, example_package):
    """--fields naming no field: the server's 400 shows under the form, and no task is
    made (the check runs before anything loads)."""
    server = RunningServer()
    try:
        browser.get(server.url + "/")
        wait_for(browser, lambda d: visible(d, "tasks-view"), what="the task list")
        browser.find_element("id", "start-file").send_keys(
            str(example_package("exitsnoop")))
        browser.find_element("id", "start-args").send_keys("--fields pid,nosuch")
        browser.find_element("id", "start-button").click()
        wait_for(browser, lambda d: "nosuch" in d.find_element("id", "start-error").text,
                 what="the error under the form")
        assert "--fields names no field 'nosuch'" in \
            browser.find_element("id", "start-error").text
        assert server.client().call("GET", "/task") == {"tasks": []}
    finally:
        server.stop()


def test_a_sampled_histogram_is_a_bar_chart(browser, example_package):
    server = RunningServer()
    try:
        before = loaded_program_ids(["sys_exit"])
        browser.get(server.url + "/")
        start_from_page(browser, example_package("syscall_latency"))
        # system calls happen all the time; this makes sure of some
        for _ in range(50):
            subprocess.run(["true"], check=True)
        bars = wait_for(browser, lambda d: [b for b in d.find_elements(
            "css selector", "#histograms svg rect.bar")
            if int(b.get_attribute("data-count")) > 0], what="a non-empty bar")
        assert float(bars[0].get_attribute("height")) > 0
        caption = browser.find_element("css selector", "#histograms figcaption").text
        assert caption.startswith("hists")
        wait_for(browser, lambda d: d.find_elements("css selector", "#maps table"),
                 what="the maps as tables")
        screenshot(browser, "histogram")
        stop_from_page(browser, "sys_exit", before)
    finally:
        server.stop()


def test_with_a_token_the_page_shows_no_data_until_given_it(browser, tmp_path,
                                                            example_package):
    token = tmp_path / "token"
    token.write_text("dashboard-secret-123\n")
    server = RunningServer("--token-file", token)
    try:
        server.client("dashboard-secret-123").call("POST", "/task", start_body(
            example_package("exitsnoop")))
        browser.get(server.url + "/")
        wait_for(browser, lambda d: visible(d, "login-view"), what="the token form")
        assert not visible(browser, "tasks-view")
        assert not browser.find_elements("css selector", "#task-table tbody tr")
        screenshot(browser, "token")
        field = browser.find_element("id", "token-input")
        field.send_keys("wrong")
        browser.find_element("id", "token-button").click()
        wait_for(browser, lambda d: "refused" in d.find_element("id", "login-error").text,
                 what="the refusal")
        field.send_keys("dashboard-secret-123")
        browser.find_element("id", "token-button").click()
        wait_for(browser, lambda d: visible(d, "tasks-view"), what="the task list")
        wait_for(browser, lambda d: "exitsnoop" in d.find_element("id", "task-table").text,
                 what="the task, once the token is given")
        # the token stays in the tab's sessionStorage, never in the address
        assert "dashboard-secret" not in browser.current_url
        assert browser.execute_script("return sessionStorage.getItem('eunomia-token')") == \
            "dashboard-secret-123"
    finally:
        server.stop()


def test_phone_width_has_no_sideways_page(browser, example_package):
    server = RunningServer()
    try:
        browser.set_window_size(390, 844)
        browser.get(server.url + "/")
        task_id = start_from_page(browser, example_package("exitsnoop"))
        wait_for(browser, lambda d: d.find_elements("css selector", "#event-table thead th"),
                 what="the event columns")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width       # wide tables scroll inside their box
        screenshot(browser, "phone")
        server.client().call("POST", "/stop", {"id": task_id})
    finally:
        server.stop()


def start_body(package, *args: str) -> dict:
    from tests.server.conftest import start_body as body
    return body(package.read_bytes(), *args)


def test_the_fleet_view_of_an_agent(browser, example_package, tmp_path):
    """With --fleet, the page has a fleet view: the nodes, what each runs, the status."""
    from tests.etcd import ETCD, Etcd
    from tests.fleet.conftest import Agent, fleet

    if ETCD is None:
        import pytest
        pytest.skip("etcd is not installed (./scripts/setup installs etcd-server)")
    (tmp_path / "etcd").mkdir()
    store = Etcd(tmp_path / "etcd")
    agent = Agent(store.urls, "web-1", "zone=a")
    try:
        wait_until(lambda: "web-1" in fleet(store.urls, "nodes").stdout, 30, 0.2,
                   what="the agent to register")
        applied = fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                        "--wait")
        assert applied.returncode == 0, applied.stderr
        browser.get(agent.url + "/")
        wait_for(browser, lambda d: d.find_element("id", "nav-fleet").is_displayed(),
                 what="the fleet link")
        browser.find_element("id", "nav-fleet").click()
        wait_for(browser, lambda d: "web-1" in d.find_element("id", "fleet-nodes").text,
                 what="the node in the fleet view")
        wait_for(browser, lambda d: "running" in d.find_element("id", "fleet-status").text,
                 what="its task running")
        assert "zone=a" in browser.find_element("id", "fleet-nodes").text
        assert "exits" in browser.find_element("id", "fleet-desired").text
        screenshot(browser, "fleet")
        assert fleet(store.urls, "rm", "exits", "--wait").returncode == 0
    finally:
        agent.stop()
        store.stop()


def test_the_page_works_in_firefox_too(firefox, example_package):
    """The same page in Firefox: start from a file, see a child's exit, stop."""
    server = RunningServer()
    try:
        before = loaded_program_ids(["handle_exit"])
        firefox.navigate(server.url + "/")
        wait_until(lambda: firefox.find_element("id", "tasks-view").is_displayed(), 30, 0.1,
                   what="the task list in Firefox")
        firefox.find_element("id", "start-file").send_keys(str(example_package("exitsnoop")))
        firefox.find_element("id", "start-button").click()
        wait_until(lambda: "#/task/" in firefox.get_url(), 20, 0.1, what="the task view")
        wait_until(lambda: firefox.find_elements("css selector", "#event-table thead th"), 20,
                   0.1, what="the event columns")
        child = subprocess.Popen(["sh", "-c", "exit 6"])
        child.wait()
        wait_until(lambda: any(
            row.find_elements("tag name", "td")[0].text == str(child.pid)
            for row in firefox.find_elements("css selector", "#event-table tbody tr")), 20,
            0.1, what=f"pid {child.pid} in Firefox's live table")
        firefox.find_element("id", "task-stop").click()
        wait_until(lambda: not loaded_program_ids(["handle_exit"]) - before, 20,
                   what="no exitsnoop program left")
    finally:
        server.stop()


def test_pause_resume_and_replace_from_the_page(browser, example_package):
    """The task view's Pause and Resume, and the start form's "Replacing task": the new
    task runs and the one it replaces stops (the hot update)."""
    from selenium.webdriver.support.ui import Select
    server = RunningServer()
    try:
        before = loaded_program_ids(["handle_exit"])
        browser.get(server.url + "/")
        first = start_from_page(browser, example_package("exitsnoop"))

        def status(d):
            return d.find_element("id", "task-meta").get_attribute("data-status")
        wait_for(browser, lambda d: status(d) == "running", what="running")
        browser.find_element("id", "task-pause").click()
        wait_for(browser, lambda d: status(d) == "paused", what="paused")
        browser.find_element("id", "task-resume").click()
        wait_for(browser, lambda d: status(d) == "running", what="running again")

        browser.get(server.url + "/#/")
        wait_for(browser, lambda d: len(Select(d.find_element("id", "start-replace"))
                                        .options) > 1, what="the task to replace")
        Select(browser.find_element("id", "start-replace")).select_by_value(str(first))
        second = start_from_page(browser, example_package("exitsnoop"))
        assert second != first
        tasks = {t["id"]: t["status"] for t in server.client().call("GET", "/task")["tasks"]}
        assert tasks[second] == "running"
        wait_until(lambda: {t["id"]: t["status"] for t in server.client().call(
            "GET", "/task")["tasks"]}[first] == "stopped", 15, what="the replaced task")
        stop_from_page(browser, "handle_exit", before)
    finally:
        server.stop()
