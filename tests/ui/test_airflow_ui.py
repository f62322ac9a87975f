"""The Airflow UI as an operator uses it, in a real browser: Debian's headless Chromium driven by
Playwright against `airflow standalone` on loopback (tests/airflow_standalone.py).

One Airflow for the module, its ``root`` param defaulting (GENEREC_ROOT) to a small demo world, so
"trigger with the defaults" is what a person would do. The steps run in file order and share the
first run: trigger with the defaults -> the grid -> the mapped shards' labels -> the report's link
-> a dry run -> a refused unknown conf key -> a re-run of the same date.

Every step saves a screenshot under the module's temp dir (``.../ui-screens0/NN-step.png``); the
directory is printed at the end of the module (and named in every failure) so a person can look.

Selectors are roles, accessible names and visible text (what a person reads), never CSS classes:
Airflow's UI is Chakra/React and its class names are generated.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from airflow_standalone import DAG_ID, Api, _wait, run_standalone, wait_for_run
from playwright.sync_api import Locator, Page, expect, sync_playwright

from generec_core.demo.world import build_demo_world

pytestmark = [pytest.mark.ui, pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright never downloads one
# headless, no sandbox (root in CI), and nothing that phones home: on a closed network the
# background services make Chromium stall
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UI_TIMEOUT_MS = 60_000  # the UI shares two cores with Spark and the scheduler
RUN_TIMEOUT_S = 900
expect.set_options(timeout=UI_TIMEOUT_MS)  # expect() has its own default (5 s), apart from the page's


# --- fixtures: the demo world, Airflow, the browser, the screenshots -------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    return root, build_demo_world(str(root), users=30, items=8, days=2, progress=False)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, world):
    """(api, log, base URL); GENEREC_ROOT makes the demo world the `root` param's default."""
    root, _ = world
    with run_standalone(tmp_path_factory.mktemp("airflow-home"), {"GENEREC_ROOT": str(root)}) as (api, log, port):
        yield api, log, f"http://127.0.0.1:{port}"


class Screens:
    """Numbered PNGs of each step, kept under the module's temp dir as test artifacts."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0

    def shot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="module")
def screens(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("ui-screens")
    yield Screens(folder)
    message = f"UI screenshots: {folder}"
    print(message)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:  # shown even when pytest captures output
        reporter.write_line(message)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, screens, request):
    """A fresh tab per step; on failure one more screenshot of where it stood."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    failures = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures:  # the step's call report is logged before teardown
        screens.shot(tab, f"{request.node.name}-FAILED")
    context.close()


# --- browser helpers: the grid, the trigger form ---------------------------------------------------------

def grid_row_label(page: Page, task_id: str) -> Locator:
    """A task's name in the grid (left panel) links to the task's page across runs; the task
    instance table on the right links into the run instead, so the href tells them apart."""
    return page.locator(f'a[href="/dags/{DAG_ID}/tasks/{task_id}"]')


def run_state_badge(page: Page, run_id: str) -> Locator:
    """On a run's page the state ("Success", "Running"...) is a badge beside the heading naming the run."""
    return page.get_by_role("heading", name=run_id, exact=True).locator("xpath=..")


def open_trigger_form(page: Page, base: str) -> Locator:
    """The DAG's page -> its Trigger button -> the "Trigger Dag" dialog (returned)."""
    page.goto(f"{base}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog").filter(has=page.get_by_role("heading", name=f"Trigger Dag - {DAG_ID}"))
    expect(dialog.get_by_role("button", name="Run Parameters")).to_be_visible()
    return dialog


def set_logical_date(page: Page, dialog: Locator, date: str, hour: int = 0) -> None:
    """The Logical Date field is a popover (not a native input): a date box (YYYY/MM/DD, labelled
    "Logical Date") and a time box (HH:mm), both UTC. Escape closes the popover, not the form.

    ``hour``: Airflow 3.3.2 keeps one run per logical date (a second trigger is refused "409 Conflict:
    Unique constraint violation", whatever its run id); the pipeline's date is the logical date's day
    (``ds``), so another hour of the same day is how a person re-runs that date from the form."""
    dialog.get_by_test_id("datetime-input").click()
    popover = page.get_by_role("dialog").filter(has=page.get_by_role("textbox", name="HH:mm"))
    popover.get_by_role("textbox", name="Logical Date").fill(date.replace("-", "/"))
    popover.get_by_role("textbox", name="HH:mm").fill(f"{hour:02d}:00")
    page.keyboard.press("Escape")
    expect(popover).to_be_hidden()
    day = datetime.date.fromisoformat(date)
    shown = re.compile(rf"{day:%b} 0?{day.day}, {day.year} {hour:02d}:00")  # e.g. "Nov 24, 2026 00:00"
    expect(dialog.get_by_test_id("datetime-input")).to_have_text(shown)


def open_advanced_options(dialog: Locator) -> None:
    """Run ID and the configuration JSON sit under "Advanced Options" (an accordion: opening it folds
    "Run Parameters")."""
    button = dialog.get_by_role("button", name="Advanced Options")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(dialog.get_by_role("textbox", name="Run ID")).to_be_visible()


def set_run_id(dialog: Locator, run_id: str) -> None:
    open_advanced_options(dialog)
    dialog.get_by_role("textbox", name="Run ID").fill(run_id)


def set_conf_json(page: Page, dialog: Locator, conf: dict) -> None:
    """Replace the whole configuration JSON (a Monaco editor). insert_text, not typing: Monaco
    auto-closes brackets and quotes as they are typed."""
    open_advanced_options(dialog)
    editor = dialog.get_by_role("textbox", name="Editor content")
    editor.focus()  # Monaco draws its text lines over this edit box, so a click would land on them
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(json.dumps(conf))


def switch_on(dialog: Locator, param: str) -> None:
    """A boolean param renders as a switch: a checkbox named after the param, under "Run Parameters"."""
    button = dialog.get_by_role("button", name="Run Parameters")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    box = dialog.get_by_role("checkbox", name=param)
    if not box.is_checked():
        box.press("Space")  # as a keyboard user would: the input is visually hidden under Chakra's switch
    expect(box).to_be_checked()


def submit(dialog: Locator) -> None:
    """The Trigger button in the dialog's footer (the page header has another one)."""
    dialog.get_by_role("contentinfo").get_by_role("button", name="Trigger").click()


def submit_accepted(dialog: Locator, what: str) -> None:
    """Submit and expect the form to close; a refused form stays open with its reason, quoted here."""
    submit(dialog)
    try:
        expect(dialog).to_be_hidden()
    except AssertionError:
        raise AssertionError(f"the trigger form refused {what}:\n{dialog.inner_text()[:3000]}") from None


def refusal_naming(dialog: Locator, word: str) -> str | None:
    """A refused trigger keeps the form open with a red "400 Bad Request" box above the fields whose
    paragraph quotes the server's reason (the toast says only "Failed to Trigger Dag / Bad Request").
    The JSON editor's own text is no paragraph, so it does not count."""
    reason = dialog.get_by_role("paragraph").filter(has_text=word)
    return reason.first.inner_text() if reason.count() else None


# --- REST and file helpers: what the UI did ----------------------------------------------------

def run_ids(api: Api) -> set[str]:
    _, runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns?limit=100")
    return {r["dag_run_id"] for r in runs["dag_runs"]}


def new_run_id(api: Api, log: Path, before: set[str]) -> str:
    """The run the UI just created (its id is generated from the trigger time, so look it up)."""
    return _wait(lambda: next(iter(run_ids(api) - before), None), 60, "the triggered run to appear", log)


def task_log(api: Api, run_id: str, task_id: str) -> str:
    status, body = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1?full_content=true")
    return json.dumps(body) if status == 200 else ""


def report_is_there(href: str, base: str) -> bool:
    """The report an extra link points at: a file (file://) or a page served over HTTP."""
    if href.startswith("file://"):
        return Path(href.removeprefix("file://")).is_file()
    with urllib.request.urlopen(urllib.parse.urljoin(base + "/", href), timeout=30) as resp:
        return resp.status == 200 and b"<html" in resp.read().lower()


def current(root: Path) -> str:
    """The catalog's CURRENT pointer, verbatim: a dry run or a refused run must leave it byte for byte."""
    return (root / "catalog/CURRENT").read_text()


def manifest_rows(root: Path, date: str) -> list[dict]:
    rows = [row for path in sorted((root / f"catalog/manifests/dt={date}").rglob("*.parquet"))
            for row in pq.read_table(path).to_pylist()]
    return sorted(rows, key=lambda r: (r["user_id"], r["item_id"]))


def assert_succeeded(api: Api, log: Path, run_id: str, screens: Screens) -> None:
    final = wait_for_run(api, log, run_id, RUN_TIMEOUT_S)
    assert final["state"] == "success", f"{run_id}: {final['state']} (screens: {screens.folder})\n{log.read_text()[-6000:]}"


# --- the steps ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def first_run(airflow, world, browser, screens):
    """Step 1: the form with its defaults, only the logical date set to the world's last date."""
    api, log, base = airflow
    root, demo = world
    date = demo.dates[-1]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)
    dialog = open_trigger_form(page, base)
    screens.shot(page, "trigger-form")
    set_logical_date(page, dialog, date)
    before = run_ids(api)
    submit_accepted(dialog, "its own defaults")
    run_id = new_run_id(api, log, before)
    screens.shot(page, "triggered-with-defaults")
    page.close()
    final = wait_for_run(api, log, run_id, RUN_TIMEOUT_S)
    rows = manifest_rows(root, date) if final["state"] == "success" else []
    return {"run_id": run_id, "state": final["state"], "date": date, "rows": rows, "log": log}


def test_trigger_form_defaults_run_succeeds(first_run, world, screens):
    assert first_run["state"] == "success", f"(screens: {screens.folder})\n{first_run['log'].read_text()[-6000:]}"
    root, _ = world
    assert json.loads(current(root))["date"] == first_run["date"]
    assert first_run["rows"]


def test_grid_shows_the_run_and_its_tasks(first_run, airflow, page, screens):
    _, _, base = airflow
    run_id = first_run["run_id"]
    page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}")
    for task_id in ("ingest", "features", "plan_shards", "personalise", "generate", "gate", "publish", "report"):
        expect(grid_row_label(page, task_id)).to_be_visible()
    expect(grid_row_label(page, "personalise")).to_have_text("personalise [ ]")  # mapped tasks are marked
    expect(run_state_badge(page, run_id)).to_contain_text("Success")
    screens.shot(page, "grid")


def test_mapped_shards_are_labelled(first_run, airflow, page, screens):
    _, _, base = airflow
    page.goto(f"{base}/dags/{DAG_ID}/runs/{first_run['run_id']}/tasks/personalise/mapped")
    expect(page.get_by_role("link", name="shard 0", exact=True)).to_be_visible()
    screens.shot(page, "mapped-shards")


def test_report_task_links_to_the_report(first_run, airflow, page, screens):
    api, _, base = airflow
    run_id = first_run["run_id"]
    page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}/tasks/report/details")  # extra links are on the Details tab
    _, links = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/links")
    link = page.get_by_role("link", name="Run report", exact=True)
    # Airflow 3.3.2's UI renders an extra link only if its URL is same-origin or http(s)/mailto
    expect(link, f"no 'Run report' link shown; the REST API's links: {links}").to_be_visible()
    screens.shot(page, "report-link")
    href = link.get_attribute("href")
    assert href and report_is_there(href, base), href


def test_dry_run_leaves_the_catalog(first_run, airflow, world, page, screens):
    api, log, base = airflow
    root, _ = world
    before = current(root)
    run_id = f"ui-dry-run-{first_run['date']}"
    dialog = open_trigger_form(page, base)
    set_logical_date(page, dialog, first_run["date"], hour=1)
    switch_on(dialog, "dry_run")
    set_run_id(dialog, run_id)
    screens.shot(page, "dry-run-form")
    submit_accepted(dialog, "a dry run")
    assert_succeeded(api, log, run_id, screens)
    assert current(root) == before, "a dry run moved CURRENT"


def test_unknown_conf_key_is_refused(first_run, airflow, world, page, screens):
    """A typo (`dryrun`) must not run as a real publish: refused by the form, or by `preflight`."""
    api, log, base = airflow
    root, _ = world
    before = current(root)
    run_id = f"ui-typo-{first_run['date']}"
    dialog = open_trigger_form(page, base)
    set_logical_date(page, dialog, first_run["date"], hour=2)
    set_run_id(dialog, run_id)
    set_conf_json(page, dialog, {"dryrun": True})
    screens.shot(page, "typo-conf")
    submit(dialog)

    def refused_in_form_or_created():
        if run_id in run_ids(api):
            return "run"
        return "form" if dialog.is_visible() and refusal_naming(dialog, "dryrun") else None

    outcome = _wait(refused_in_form_or_created, 60, "the form to refuse `dryrun` or a run to start", log)
    screens.shot(page, f"typo-{outcome}")
    if outcome == "run":
        final = wait_for_run(api, log, run_id, RUN_TIMEOUT_S)
        page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}")
        screens.shot(page, "typo-run")
        _, preflight = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/preflight")
        assert final["state"] == "failed" and preflight.get("state") == "failed", (final["state"], preflight)
        assert "dryrun" in task_log(api, run_id, "preflight")
    assert current(root) == before, "a run with an unknown conf key published"


def test_rerun_of_the_same_date_is_idempotent(first_run, airflow, world, page, screens):
    api, log, base = airflow
    root, _ = world
    run_id = f"ui-rerun-{first_run['date']}"
    dialog = open_trigger_form(page, base)
    set_logical_date(page, dialog, first_run["date"], hour=3)
    set_run_id(dialog, run_id)
    screens.shot(page, "rerun-form")
    submit_accepted(dialog, "a re-run of the same date")
    assert_succeeded(api, log, run_id, screens)
    page.goto(f"{base}/dags/{DAG_ID}/runs/{run_id}")
    screens.shot(page, "rerun-grid")
    assert first_run["rows"], "the first run published nothing to compare with"
    assert manifest_rows(root, first_run["date"]) == first_run["rows"]
