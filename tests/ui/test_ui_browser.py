"""The web UI in a real browser: Playwright driving Debian's Chromium against a real
``stackyard ui`` process, on a store filled by running real pipelines (``ui_fill``).

Every view is opened and checked for what it must show, and saved into pytest's cache
(``.pytest_cache/d/screenshots``; ``make screenshots`` runs these tests and copies them to
``docs/screenshots/``, which the README shows, so a plain test run leaves tracked files
alone). A version is approved through its page and the
registry checked; a run is watched going from Executing to Succeeded with no reload; hostile
text (a parameter, a log line, a failure reason, metadata) must show as text.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ui_fill

from waiting import free_port, wait_until

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need the playwright package "
                                      "(pip install -e '.[dev]')")
expect = sync_api.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("the browser tests need Debian's chromium (apt-get install chromium); "
                ".ci/run installs it", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
STACKYARD = str(Path(sys.executable).with_name("stackyard"))
TOKEN = "ui-test-token-0123456789abcdef"


class UI:
    """``stackyard ui`` as its own process on a free loopback port."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = home.parent / f"ui-{self.url.rsplit(':', 1)[1]}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [STACKYARD, "ui", "--port", self.url.rsplit(":", 1)[1], *extra],
                env={**os.environ, "STACKYARD_HOME": str(home)}, stdout=out,
                stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "stackyard ui to listen")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log.read_text()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with real runs, a tuning job, two registered versions, monitoring checks
    and a live endpoint (deleted at the end)."""
    base = tmp_path_factory.mktemp("ui store å")
    home, work = base / "home", base / "work"
    work.mkdir()
    env = {**os.environ, "STACKYARD_HOME": str(home)}
    r = subprocess.run([sys.executable, ui_fill.__file__, str(work)], env=env, cwd=work,
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    yield home
    subprocess.run([STACKYARD, "endpoints", "delete", ui_fill.ENDPOINT], env=env,
                   capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def ui(filled: Path) -> Iterator[UI]:
    server = UI(filled)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def home(filled: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test reads the module's store in-process too (registry, runs)."""
    monkeypatch.setenv("STACKYARD_HOME", str(filled))
    return filled


@pytest.fixture(scope="session")
def shots(request: pytest.FixtureRequest) -> Path:
    """Where the screenshots go (``make screenshots`` copies them from there)."""
    return request.config.cache.mkdir("screenshots")


class Tab:
    """One page with its console errors and dialogs (an ``alert`` means injected script
    ran: none may open)."""

    def __init__(self, browser: Any, shots: Path, **context: Any) -> None:
        self.shots = shots
        self.context = browser.new_context(**{"viewport": {"width": 1280, "height": 800},
                                              **context})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response and
                                                                  response.status)
        return self.page

    def shot(self, name: str, full: bool = False) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full)

    def close(self) -> None:
        self.context.close()
        assert not self.dialogs, f"a page ran injected script: {self.dialogs}"
        assert not self.errors, f"browser console errors: {self.errors}"


@pytest.fixture
def tab(browser: Any, shots: Path) -> Iterator[Tab]:
    t = Tab(browser, shots)
    yield t
    t.close()


def run_of(pipeline: str) -> str:
    from stackyard import engine

    return engine.list_runs(pipeline, 1)[0]["run_id"]


# ---- every view -------------------------------------------------------------------------
def test_every_view_shows_its_data(tab: Tab, ui: UI, home: Path) -> None:
    from stackyard import engine
    from stackyard.monitor._run import list_monitoring_runs

    page = tab.open(f"{ui.url}/")
    assert page.url.endswith("/ui/runs")
    page.keyboard.press("Tab")                    # the first stop is "skip to content"
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.locator("table.runs tbody tr").count() == 2
    tab.shot("runs")

    train = engine.list_pipelines()[0]["name"]
    assert train == "churn-train-baseline"
    tab.open(f"{ui.url}/ui/pipelines")
    tab.shot("pipelines")
    page = tab.open(f"{ui.url}/ui/pipelines/{train}")
    steps = engine.describe_pipeline(train)["versions"][-1]["definition"]["Steps"]
    assert page.locator(".dag .node").count() == len(steps)
    labels = page.locator(".dag .edge-label").all_text_contents()
    assert "if true" in labels and "else" in labels       # the accuracy condition
    tab.shot("pipeline-dag")

    page = tab.open(f"{ui.url}/ui/runs/{run_of(train)}")
    assert page.locator(".dag .node.st-Succeeded").count() >= 6
    assert page.locator(".dag .node.st-Skipped").count() == 1    # the FailStep branch
    assert page.locator("svg.gantt rect.bar").count() >= 6
    page.get_by_role("link", name=f"registered {ui_fill.GROUP}/1").click()
    page.wait_for_url(f"**/ui/models/{ui_fill.GROUP}/1#lineage")
    page.go_back()
    page.locator("#logs .hdr").first.wait_for()
    page.fill("#log-search", "accuracy")
    page.locator("#logs mark").first.wait_for()
    page.fill("#log-search", "")
    tab.shot("run", full=True)

    page = tab.open(f"{ui.url}/ui/tuning/loss-search")
    assert page.locator("#trials-table tbody tr").count() == 8
    assert page.locator("svg.parallel .pc-best").count() == 1
    assert page.locator("svg.parallel .pc-line").count() >= 1
    assert "best loss so far" in page.locator("svg.chart").first.text_content()
    tab.shot("tuning")

    page = tab.open(f"{ui.url}/ui/models/{ui_fill.GROUP}")
    assert page.locator("table.versions tbody tr").count() == 2
    assert page.get_by_role("columnheader", name="accuracy").count() == 1
    page.get_by_role("button", name="Compare A and B").click()
    page.wait_for_url("**/compare?*")
    assert page.locator("table.compare th", has_text="auc").count() == 1
    assert XSS_TEXT in page.locator("table.compare").text_content()
    tab.shot("registry-compare")
    page = tab.open(f"{ui.url}/ui/models/{ui_fill.GROUP}/1")
    assert page.locator("#decide-form").count() == 1
    assert page.locator(".lineage").text_content().count("sha256") >= 3
    tab.shot("registry-version")

    page = tab.open(f"{ui.url}/ui/endpoints/{ui_fill.ENDPOINT}")
    expect(page.locator('tr[data-variant="A"] .posterior')).to_have_text(re.compile(r"^0\."))
    counts = [int(float(page.locator(f'tr[data-variant="{v}"] .requests').text_content()))
              for v in "AB"]
    assert sum(counts) == 40
    assert page.locator('tr[data-variant="A"] .p50').text_content() != "\u2013"
    # a canary update: its steps appear on the open page as the server records them
    update = subprocess.Popen([STACKYARD, "endpoints", "update", ui_fill.ENDPOINT, "--variant",
                               f"A={ui_fill.GROUP}/1:0.7", "--variant", f"B={ui_fill.GROUP}/1:0.3",
                               "--traffic", "canary:50%", "--bake-seconds", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps = page.locator("ol.update-steps li")
    expect(steps.first).to_have_attribute("data-step", "planned", timeout=30_000)
    assert update.wait(120) == 0
    expect(steps.last).to_have_attribute("data-step", "completed", timeout=30_000)
    assert "traffic shifted: 50% to the new fleet" in page.locator("#update-steps").text_content()
    tab.shot("endpoint")

    checks = [r for r in list_monitoring_runs() if r["job"] == "check"]
    page = tab.open(f"{ui.url}/ui/monitoring")
    assert page.locator("svg.chart .threshold").count() == 1      # the drift timeline
    tab.shot("monitoring")
    drifted = next(r for r in checks if r["violations"])
    page = tab.open(f"{ui.url}/ui/monitoring/{drifted['run_id']}")
    assert set(page.locator("#violations tbody td:first-child").all_text_contents()) == \
        {"monthly_charges", "support_calls"}
    assert page.locator("svg.chart .bar.bad").count() == 2
    tab.shot("monitoring-run")
    page.frame_locator("iframe.report").locator("h2", has_text="Features").wait_for()
    report = page.locator("iframe.report")
    report.scroll_into_view_if_needed()
    # the sandboxed report paints in a process of its own: poll until the shot shows it
    wait_until(lambda: len(report.screenshot(path=str(tab.shots / "monitoring-report.png")))
               > 20_000, 30, "the report to paint")

    page = tab.open(f"{ui.url}/ui/states")
    page.get_by_role("link", name=ui_fill.MACHINE).click()
    page.wait_for_url(f"**/ui/states/{ui_fill.MACHINE}")
    # the newest execution is the failed one: its path through the branches and the catch
    for state, st in (("BaseModels", "Failed"), ("ImageFailed", "Failed"),
                      ("TextModel", "Succeeded"), ("Alert", "Succeeded"),
                      ("StackedModel", "none"), ("ReuseImage", "none")):
        assert page.locator(f'.dag .node[data-step="{state}"]').get_attribute("class") == \
            f"node st-{st}", state
    assert "a base model failed" in page.locator("#execution-error").text_content()
    assert page.locator("table.history tr.bad").count() == 2
    assert XSS_TEXT in page.locator("table.history").text_content()   # the cause, as text
    tab.shot("states", full=True)
    page.get_by_role("link", name="reuse").click()
    page.wait_for_url("**execution=reuse")
    assert page.locator('.dag .node[data-step="ReuseImage"]').get_attribute("class") == \
        "node st-Succeeded"

    page = tab.open(f"{ui.url}/ui/schedules")
    assert page.locator("table.schedules tbody tr").count() == 1
    assert page.locator("table.rules tbody tr").count() == 1
    page.get_by_role("link", name="nightly-docs").click()
    page.locator("table.fires tbody tr").first.wait_for()
    tab.shot("schedules")


XSS_TEXT = ui_fill.XSS


def test_hostile_text_is_shown_as_text(tab: Tab, ui: UI, home: Path) -> None:
    """A parameter, a log line and a failure reason with HTML in them are text on the page:
    no script runs (no dialog, the title is unchanged), no element is made of them."""
    page = tab.open(f"{ui.url}/ui/runs/{run_of('hostile')}")
    expect(page.locator("#logs")).to_contain_text("pwned")
    assert XSS_TEXT in page.locator("#logs").text_content()
    assert XSS_TEXT in page.locator("table.kv").text_content()      # the parameter
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("main script").count() == 0
    assert "onerror" in page.locator("#run-failure").text_content() + page.locator(
        "#steps-table").text_content()
    assert page.title().startswith("Run ") and "pwned" not in page.title()
    tab.shot("run-failed")


def test_approve_through_the_page_is_recorded_with_the_name(tab: Tab, ui: UI,
                                                            home: Path) -> None:
    from stackyard.registry import ModelRegistry

    reg = ModelRegistry()
    ref = f"{ui_fill.GROUP}/1"
    page = tab.open(f"{ui.url}/ui/models/{ref}")
    # a forged form (no CSRF token) changes nothing
    forged = page.request.post(f"{ui.url}/ui/models/{ref}/decide",
                               form={"decision": "reject", "who": "mallory"})
    assert forged.status == 400 and "security token" in forged.text()
    assert reg.describe(ref)["approval_status"] == "PendingManualApproval"

    page.fill("#who", "Ada Lovelace")
    page.fill("#comment", "accuracy 0.87 on the holdout <b>ok</b>")
    page.get_by_role("button", name="Approve").click()
    page.locator('#approval [data-status="Approved"]').wait_for()
    record = reg.describe(ref)
    assert record["approval_status"] == "Approved"
    last = record["approval_history"][-1]
    assert (last["who"], last["comment"], last["to_status"]) == (
        "Ada Lovelace (via web UI)", "accuracy 0.87 on the holdout <b>ok</b>", "Approved")
    assert page.locator("#history-table b").count() == 0             # the comment is text
    page.goto(f"{ui.url}/ui/models/{ui_fill.GROUP}/2")
    assert page.input_value("#who") == "Ada Lovelace"                # remembered


LIVE = """
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep
pipeline = Pipeline("live", steps=[ProcessingStep(
    "Wait", processor=ScriptProcessor(command=["python3"]), code=CODE)])
"""
WAIT = """
import os, time
print("waiting for the flag", flush=True)
end = time.monotonic() + 120
while not os.path.exists(GO) and time.monotonic() < end:
    time.sleep(0.05)
print("flag seen", flush=True)
"""


def test_a_run_goes_from_executing_to_succeeded_without_reload(tab: Tab, ui: UI, home: Path,
                                                               tmp_path: Path) -> None:
    from stackyard import engine

    go = tmp_path / "go flag"
    (tmp_path / "wait.py").write_text(f"GO = {str(go)!r}\n{WAIT}")
    (tmp_path / "live.py").write_text(f"CODE = {str(tmp_path / 'wait.py')!r}\n{LIVE}")
    proc = subprocess.Popen([STACKYARD, "run", str(tmp_path / "live.py"), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = wait_until(lambda: next((r["run_id"] for r in engine.list_runs("live", 1)),
                                         None), 60, "the run to start")
        page = tab.open(f"{ui.url}/ui/runs/{run_id}")
        page.evaluate("window.sentinel = 42")
        expect(page.locator("#logs")).to_contain_text("waiting for the flag", timeout=60_000)
        assert page.locator("#run-status .badge").text_content() == "Executing"
        assert page.locator('.dag .node[data-step="Wait"]').get_attribute("class") == \
            "node st-Executing"
        go.write_text("go")
        page.locator('#run-status [data-status="Succeeded"]').wait_for(timeout=60_000)
        assert page.evaluate("window.sentinel") == 42                  # the same page
        assert page.locator('.dag .node[data-step="Wait"]').get_attribute("class") == \
            "node st-Succeeded"
        expect(page.locator("#logs")).to_contain_text("flag seen", timeout=30_000)
        assert page.locator('form[action$="/stop"]').is_hidden()
        assert page.locator('form[action$="/retry"]').is_hidden()
    finally:
        go.write_text("go")
        assert proc.wait(60) == 0


def test_phone_width_and_dark_mode(browser: Any, shots: Path, ui: UI, home: Path) -> None:
    t = Tab(browser, shots, color_scheme="dark", viewport={"width": 390, "height": 844})
    try:
        for name, url in (("phone-runs", "/ui/runs"),
                          ("phone-run", f"/ui/runs/{run_of('churn-train-baseline')}")):
            page = t.open(f"{ui.url}{url}")
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1"), \
                f"{url} scrolls sideways at phone width"
            bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert bg == "rgb(20, 24, 29)", bg                       # the dark palette
            t.shot(name)
    finally:
        t.close()


def test_a_server_with_a_token_signs_browsers_in(browser: Any, shots: Path, filled: Path,
                                                 tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = UI(filled, "--token-file", str(token_file))
    t = Tab(browser, shots)
    try:
        page = t.page
        page.goto(f"{server.url}/ui/runs")
        assert "/ui/login" in page.url
        page.fill("#token", "not-the-token-at-all-0000")
        page.get_by_role("button", name="Continue").click()
        assert "not this server's token" in page.locator(".error").text_content()
        t.errors.clear()   # the refused sign-in answered 400, which the console reports
        page.goto(f"{server.url}/ui/login?next=/ui/runs")
        page.fill("#token", TOKEN)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/ui/runs")
        assert page.locator("table.runs tbody tr").count() >= 2
        cookies = {c["name"]: c for c in t.context.cookies()}
        assert TOKEN not in str(cookies)
        assert cookies["stackyard_ui"]["httpOnly"] and \
            cookies["stackyard_ui"]["sameSite"] == "Strict"
        assert page.request.get(f"{server.url}/api/runs").status == 200   # reads: cookie
        stop = page.request.post(f"{server.url}/api/runs/20260101-000000-abcdef/stop",
                                 data="{}", headers={"Content-Type": "application/json"})
        assert stop.status == 401                                       # writes: token
        assert httpx.get(f"{server.url}/ui/runs", follow_redirects=False).status_code == 303
    finally:
        t.close()
        server.stop()


def test_runs_list_pages_and_filters_on_the_server(tab: Tab, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """120 runs inserted through the store API: 50 a page, filters kept across pages."""
    from stackyard.store import open_store

    home = tmp_path / "bulk home"
    monkeypatch.setenv("STACKYARD_HOME", str(home))
    store = open_store()
    version = store.upsert_pipeline("bulk", '{"Name": "bulk", "Steps": []}', "d1")
    for i in range(120):
        store.create_run(f"20260101-000000-{i:06x}", "bulk", version, "{}", {})
        store.finish_run(f"20260101-000000-{i:06x}", "Failed" if i % 3 == 0 else "Succeeded")
    server = UI(home)
    try:
        page = tab.open(f"{server.url}/ui/runs")
        assert page.locator("#count").text_content() == "120 runs · page 1 of 3"
        assert page.locator("table.runs tbody tr").count() == 50
        page.select_option("select[name=status]", "Failed")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**status=Failed*")
        assert page.locator("#count").text_content() == "40 runs"
        page = tab.open(f"{server.url}/ui/runs?page=3")
        assert page.locator("table.runs tbody tr").count() == 20
        page.get_by_role("link", name="← newer").click()
        page.wait_for_url("**page=2*")
        assert page.locator("table.runs tbody tr").count() == 50
    finally:
        server.stop()
