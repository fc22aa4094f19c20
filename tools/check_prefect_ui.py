"""Look at the Prefect UI the way an operator does, in headless Chromium, and report what it shows.

Not part of `make test`: it needs Playwright (its own venv, `make ui-venv`) and Debian's chromium
(`/usr/bin/chromium`; Playwright's own browser download is never used). `make ui-check` runs it.

    .venv-ui/bin/python tools/check_prefect_ui.py --ui http://127.0.0.1:4300 --out ui-check \
        [--flow-run ID] [--expect-schedule all="0 4 * * *"]

What it does, on the default (V2) UI:
1. reads the API address the UI was started with (`/ui-settings`) and checks that it answers: a
   server started on another port without PREFECT_API_URL / PREFECT_UI_API_URL points its UI at
   port 4200 and every page stays empty;
2. the deployments page: every `backfill/...` deployment the API knows is listed; the page of each
   one with a schedule shows it (and `--expect-schedule` names the ones that must have one);
3. a flow run (`--flow-run`, else the newest run of `backfill/all`): its state and the state
   message (Details tab: for a failure, the outcome line and one line per failed service); the task
   run names and states (Task Runs tab, every page), each name one of the flow's (`describe
   project`, `build seeds`, `build <model>`, `build <model> (other parts)`, `test <model>`,
   `load <Table>`, `publish <Table>`, `check <Table>`, `check across tables`, with ` (retry N)`
   on a retry), none with a random
   suffix; the ERROR records (Logs tab filtered to "Error and above", and the API's count): an
   expected failure once, without traceback, no text twice; the artifacts with what each one's
   page shows: `backfill-summary` (its description the outcome line, its page the whole text of
   each failure, readable without scrolling sideways) and `progress-<table>` ("N of M rows of
   <Table> ...");
4. screenshots (PNG) of each page into `--out` (the run graph also full screen), and
   `report.json` there with everything read.
Exit status 0 when every check passed, 1 otherwise (the failures are printed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FLOW = "backfill"
STATES = "Completed|Failed|Running|Cancelled|Cancelling|Crashed|Pending|Scheduled|Late|Paused"
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# The flow's task run names (flows/bfstats/flow.py); a retry of the flow run adds " (retry N)".
TASK_RUN_NAME = re.compile(
    r"(describe project|build seeds|build \w+|build \w+ \(other parts\)|test \w+|load \w+"
    r"|publish \w+|check \w+|check across tables)( \(retry \d+\))?"
)
OUTCOME = re.compile(r"^\d+ of \d+ services completed")
PROGRESS_KEY = re.compile(r"^progress-[a-z0-9]+(-[a-z0-9]+)*$")
PROGRESS_DESCRIPTION = re.compile(r"^[\d,]+ of [\d,]+ rows of \w+")
ENGINE_EXIT = "Engine execution exited with unexpected exception"


class Report:
    def __init__(self, out: Path):
        self.out = out
        self.data: dict = {"failures": []}

    def fail(self, message: str) -> None:
        self.data["failures"].append(message)
        print(f"FAIL: {message}")

    def note(self, key: str, value) -> None:
        self.data[key] = value

    def shot(self, page: Page, name: str) -> None:
        taken = self.data.setdefault("screenshots", [])
        count = sum(1 for shot in taken if shot == f"{name}.png" or shot.startswith(f"{name}~"))
        path = self.out / (f"{name}~{count + 1}.png" if count else f"{name}.png")
        page.screenshot(path=str(path), full_page=True)
        taken.append(path.name)


def api(url: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{url.rstrip('/')}/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def check_api_address(ui: str, report: Report) -> str | None:
    """The API address the UI calls, if it answers."""
    try:
        api_url = api(ui, "ui-settings")["api_url"]
    except (OSError, ValueError, KeyError) as error:
        report.fail(f"cannot read {ui}/ui-settings: {error}")
        return None
    report.note("ui_api_url", api_url)
    try:
        api(api_url, "health")
    except (OSError, ValueError) as error:
        report.fail(
            f"the UI calls the API at {api_url}, which does not answer ({error}): start the "
            "server with PREFECT_API_URL (or PREFECT_UI_API_URL) set to its own address"
        )
        return None
    return api_url


def wait_for_text(page: Page, text: str, timeout: float = 20_000) -> bool:
    try:
        page.get_by_text(text, exact=True).first.wait_for(timeout=timeout)
        return True
    except Exception:
        return False


def check_deployments(
    page: Page, ui: str, api_url: str, expected: dict[str, str], report: Report
) -> None:
    deployments = api(api_url, "deployments/filter", {"flows": {"name": {"any_": [FLOW]}}})
    known = {d["name"]: d for d in deployments}
    if "all" not in known:
        report.fail(f"the API has no deployment {FLOW}/all: is `bfstats serve` running?")
    page.goto(f"{ui}/v2/deployments?limit=50&sort=NAME_ASC", wait_until="networkidle")
    wait_for_text(page, "all")
    report.shot(page, "deployments")
    rows = {}
    for name, deployment in sorted(known.items()):
        link = page.locator(f'a[href$="/deployments/deployment/{deployment["id"]}"]')
        if link.count() == 0:
            report.fail(f"the deployments page does not list {FLOW}/{name}")
            continue
        row = link.first.locator("xpath=ancestor::tr[1]")
        rows[name] = {
            "row": " | ".join(row.inner_text().split()) if row.count() else "",
            "paused": deployment["paused"],
            "status": deployment.get("status"),
            "schedules_api": [s["schedule"].get("cron") for s in deployment["schedules"]],
        }
    for name, cron in expected.items():
        if name not in known:
            report.fail(f"no deployment {FLOW}/{name} to carry the schedule {cron!r}")
        elif cron not in rows[name]["schedules_api"]:
            report.fail(f"{FLOW}/{name} has schedules {rows[name]['schedules_api']}, not {cron!r}")
    for name, row in rows.items():
        if not row["schedules_api"] and name != "all":
            continue
        page.goto(f"{ui}/v2/deployments/deployment/{known[name]['id']}", wait_until="networkidle")
        wait_for_text(page, name)
        page.wait_for_timeout(1000)
        text = page.locator("body").inner_text()
        row["page_schedule_lines"] = [
            line.strip()
            for line in text.splitlines()
            if re.search(r"\bUTC\b|\bcron\b|At \d|Every|\d+ \d+ [*\d]", line)
        ][:10]
        for cron in row["schedules_api"]:
            if cron not in text and not row["page_schedule_lines"]:
                report.fail(f"the page of {FLOW}/{name} does not show its schedule {cron!r}")
        report.shot(page, f"deployment-{name}")
    report.note("deployments", rows)


def newest_run_of_all(api_url: str) -> str | None:
    """The newest run of backfill/all that has started (not one only scheduled)."""
    runs = api(
        api_url,
        "flow_runs/filter",
        {
            "deployments": {"name": {"any_": ["all"]}},
            "flows": {"name": {"any_": [FLOW]}},
            "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED", "PENDING"]}}},
            "sort": "START_TIME_DESC",
            "limit": 1,
        },
    )
    return runs[0]["id"] if runs else None


def log_rows(page: Page) -> list[dict]:
    """Every row of the virtualised log list, scrolling it to the end."""
    rows: dict[int, dict] = {}
    for _ in range(200):
        items = page.locator("li[data-index]")
        before = len(rows)
        for k in range(items.count()):
            item = items.nth(k)
            index = int(item.get_attribute("data-index"))
            parts = [p.strip() for p in item.inner_text().split("\n") if p.strip()]
            # [date divider,] level, message lines..., time, logger
            at = next((i for i, part in enumerate(parts[:2]) if part in LEVELS), None)
            if at is not None:
                rows[index] = {
                    "level": parts[at],
                    "message": "\n".join(parts[at + 1 : -2]),
                    "raw": parts,
                }
        if items.count() == 0:
            break
        items.nth(items.count() - 1).scroll_into_view_if_needed()
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(300)
        if len(rows) == before:
            break
    return [rows[i] for i in sorted(rows)]


def api_flow_run(api_url: str, flow_run_id: str) -> dict:
    """What the API holds for the run: state, task runs, ERROR records, artifacts."""
    by_run = {"id": {"any_": [flow_run_id]}}
    errors = api(
        api_url,
        "logs/filter",
        {
            "logs": {"flow_run_id": {"any_": [flow_run_id]}, "level": {"ge_": 40}},
            "sort": "TIMESTAMP_ASC",
            "limit": 200,
        },
    )
    return {
        "run": api(api_url, f"flow_runs/{flow_run_id}"),
        "task_runs": api(api_url, "task_runs/filter", {"flow_runs": by_run, "limit": 200}),
        "errors": [record["message"] for record in errors],
        "artifacts": api(
            api_url,
            "artifacts/filter",
            {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "CREATED_DESC"},
        ),
    }


def check_state(page: Page, run_url: str, run: dict, summarised: bool, report: Report) -> None:
    """A failed run that got to its summary (`summarised`; one that could not start fails with
    just the reason): its state message is the outcome line, then one line per failed service;
    the Details tab shows it."""
    state = run["state"] or {}
    message = state.get("message") or ""
    report.data["flow_run"]["state"] = {"name": state.get("name"), "message": message}
    page.goto(f"{run_url}?tab=Details", wait_until="networkidle")
    page.wait_for_timeout(1500)
    report.shot(page, "flow-run-details")
    if state.get("type") != "FAILED" or not summarised:
        return
    lines = message.splitlines()
    if not lines or not OUTCOME.match(lines[0]):
        report.fail(f"the failed run's state message does not start with the outcome: {message!r}")
    elif not any(line.startswith("- ") for line in lines[1:]):
        report.fail(f"the failed run's state message names no failed service: {message!r}")
    shown = " ".join(page.locator("body").inner_text().split())
    if lines and lines[0] not in shown:
        report.fail("the Details tab does not show the state message")


def check_task_runs(page: Page, run_url: str, task_runs_api: list[dict], report: Report) -> None:
    """Every task run is listed (all pages) under one of the flow's names."""
    page.goto(f"{run_url}?tab=TaskRuns", wait_until="networkidle")
    page.wait_for_timeout(1500)
    per_page = page.get_by_role("combobox", name="Items per page")
    if per_page.count():  # 20 a page by default: show the most
        per_page.first.click()
        page.get_by_role("option").last.click()
        page.wait_for_timeout(1500)
    task_runs = []
    links = page.locator('a[href*="/runs/task-run/"]')
    for k in range(links.count()):
        name = links.nth(k).inner_text().strip()
        context = links.nth(k).evaluate(
            f"""e => {{ let n = e;
                for (let i = 0; i < 8 && n.parentElement; i++) {{
                    n = n.parentElement;
                    const m = n.innerText.match(/\\b({STATES})\\b/);
                    if (m) return m[1];
                }}
                return ''; }}"""
        )
        task_runs.append({"name": name, "state": context})
    report.data["flow_run"]["task_runs"] = task_runs
    report.shot(page, "flow-run-task-runs")
    if not task_runs:
        report.fail("the Task Runs tab lists no task run")
    names_api = sorted(t["name"] for t in task_runs_api)
    if sorted(t["name"] for t in task_runs) != names_api:
        report.fail(
            f"the Task Runs tab lists {len(task_runs)} task runs, the API has {len(names_api)}"
        )
    odd = sorted({name for name in names_api if not TASK_RUN_NAME.fullmatch(name)})
    if odd:
        report.fail(f"task run names that are not the flow's (a random suffix?): {odd}")


def check_errors(page: Page, run_url: str, errors_api: list[str], report: Report) -> None:
    """The ERROR records as the Logs tab shows them filtered to "Error and above", and as the API
    holds them: an expected failure once, without traceback; no record twice."""
    page.goto(f"{run_url}?tab=Logs", wait_until="networkidle")
    page.wait_for_timeout(1500)
    level = page.get_by_role("combobox", name="log level filter")
    if level.count():
        level.first.click()
        page.get_by_role("option", name=re.compile("^Error", re.I)).first.click()
        page.wait_for_timeout(1500)
    else:
        report.fail("the Logs tab has no level filter (the UI changed: update this tool)")
    report.shot(page, "flow-run-logs-error")
    shown = [row["message"] for row in log_rows(page) if row["level"] in ("ERROR", "CRITICAL")]
    report.data["flow_run"]["error_records_ui"] = shown
    report.data["flow_run"]["error_records_api"] = errors_api
    if len(shown) != len(errors_api):
        report.fail(f"the Logs tab shows {len(shown)} ERROR records, the API has {len(errors_api)}")
    first_lines = [record.split("\n", 1)[0] for record in errors_api]
    for line in sorted({line for line in first_lines if first_lines.count(line) > 1}):
        report.fail(f"{first_lines.count(line)} ERROR records say the same: {line[:150]!r}")
    for record in errors_api:
        if record.startswith(ENGINE_EXIT):
            last = record.rstrip().rsplit("\n", 1)[-1]
            report.fail(
                f"Prefect's engine logs a traceback at ERROR after the flow ended: {last[:200]!r}"
            )


def check_artifacts(
    page: Page, ui: str, run_url: str, artifacts_api: list[dict], run: dict, report: Report
) -> None:
    """backfill-summary: the outcome line as description, every failure's whole text on its page,
    readable without scrolling sideways; progress-<table>: "N of M rows of <Table> ..."."""
    page.goto(f"{run_url}?tab=Artifacts", wait_until="networkidle")
    page.wait_for_timeout(1500)
    report.shot(page, "flow-run-artifacts")
    cards = page.locator('a[href*="/artifacts/artifact/"]')
    artifacts = []
    for k in range(cards.count()):
        parts = [p.strip() for p in cards.nth(k).inner_text().split("\n") if p.strip()]
        artifacts.append({"href": cards.nth(k).get_attribute("href"), "card": parts})
    by_id = {a["id"]: a for a in artifacts_api}
    for artifact in artifacts:
        page.goto(f"{ui}{artifact['href']}", wait_until="networkidle")
        page.wait_for_timeout(1000)
        body = page.locator("body").inner_text()
        stored = by_id.get(artifact["href"].rstrip("/").rsplit("/", 1)[-1], {})
        key = stored.get("key") or artifact["href"].rsplit("/", 1)[-1]
        artifact.update(key=key, description=stored.get("description"))
        # What the artifact's page shows between its title block and the details panel.
        shown = body.split("Documentation", 1)[-1].split("Show Raw Data", 1)[0]
        artifact["page"] = [" ".join(line.split()) for line in shown.splitlines() if line.strip()]
        # Blocks wider than the page: their end is only seen by scrolling sideways.
        artifact["cut"] = page.evaluate(
            """() => [...document.querySelectorAll('main pre, main table')]
                .filter(e => e.scrollWidth > e.clientWidth + 1)
                .map(e => e.innerText.slice(0, 120))"""
        )
        report.shot(page, f"artifact-{re.sub(r'[^A-Za-z0-9_-]+', '-', key)}")
    report.data["flow_run"]["artifacts"] = artifacts
    if len(artifacts) != len(artifacts_api):
        report.fail(
            f"the Artifacts tab shows {len(artifacts)} artifacts, the API has {len(artifacts_api)}"
        )
    summaries = [a for a in artifacts if a["key"] == "backfill-summary"]
    if run["state"]["type"] == "COMPLETED" and not summaries:
        report.fail("no backfill-summary artifact")
    for artifact in artifacts:
        description = artifact["description"] or ""
        if artifact["key"] == "backfill-summary":
            if not OUTCOME.match(description):
                report.fail(f"backfill-summary's description is not the outcome: {description!r}")
            for text in artifact["cut"]:
                report.fail(f"backfill-summary: a block is cut at the right edge: {text!r}")
        elif PROGRESS_KEY.match(artifact["key"]):
            if not PROGRESS_DESCRIPTION.match(description):
                report.fail(f"{artifact['key']}: description is not 'N of M rows of <Table>'")
        else:
            report.fail(f"an artifact that is neither the summary nor progress: {artifact['key']}")
    message = (run["state"] or {}).get("message") or ""
    newest = next((a for a in artifacts_api if a["key"] == "backfill-summary"), None)
    if run["state"]["type"] == "FAILED" and newest:
        if newest["description"] != message.split("\n", 1)[0]:
            report.fail("the newest backfill-summary's outcome is not the run's state message")
        page_text = " ".join(str(newest.get("data") or "").split())
        for line in message.splitlines()[1:]:
            if not line.startswith("- "):  # a reason's own further lines
                continue
            reason = " ".join(line.partition(": ")[2].split())
            if reason and reason not in page_text:
                report.fail(f"backfill-summary lacks the whole failure text: {reason[:100]!r}")


def shoot_graph(page: Page, run_url: str, report: Report) -> None:
    """The run graph full screen: its node labels are readable only there (or zoomed)."""
    page.goto(run_url, wait_until="networkidle")
    page.wait_for_timeout(2500)
    controls = page.locator("canvas").first.locator("xpath=ancestor::div[2]")
    buttons = controls.locator("div.absolute button[data-slot=tooltip-trigger]")
    if buttons.count() >= 2:  # centre, full screen, settings; unlabelled
        buttons.nth(1).click()
        page.wait_for_timeout(2000)
        report.shot(page, "flow-run-graph")
        page.keyboard.press("Escape")


def check_flow_run(page: Page, ui: str, api_url: str, flow_run_id: str, report: Report) -> None:
    run_url = f"{ui}/v2/runs/flow-run/{flow_run_id}"
    stored = api_flow_run(api_url, flow_run_id)
    page.goto(f"{run_url}?tab=Logs", wait_until="networkidle")
    page.wait_for_timeout(2000)  # the run graph draws on a canvas
    header = page.locator("main").first if page.locator("main").count() else page.locator("body")
    head_text = header.inner_text().split("Details\n")[0]
    report.shot(page, "flow-run")
    logs = log_rows(page)
    report.note(
        "flow_run",
        {
            "id": flow_run_id,
            "header": [line for line in head_text.splitlines() if line.strip()][-10:],
            "log_rows": len(logs),
        },
    )
    report.shot(page, "flow-run-logs-end")
    shoot_graph(page, run_url, report)
    summarised = any(a["key"] == "backfill-summary" for a in stored["artifacts"])
    check_state(page, run_url, stored["run"], summarised, report)
    check_task_runs(page, run_url, stored["task_runs"], report)
    check_errors(page, run_url, stored["errors"], report)
    check_artifacts(page, ui, run_url, stored["artifacts"], stored["run"], report)


def print_summary(data: dict) -> None:
    print(f"UI calls the API at {data.get('ui_api_url')}")
    for name, row in data.get("deployments", {}).items():
        shown = "; ".join(row.get("page_schedule_lines", [])) or "-"
        print(
            f"  {FLOW}/{name}: {row['status']}, paused={row['paused']}, "
            f"schedules {row['schedules_api'] or 'none'}, deployment page shows: {shown}"
        )
    run = data.get("flow_run")
    if run:
        print(f"flow run {run['id']}: {' / '.join(run['header'][:6])}")
        state = run.get("state", {})
        print(f"  state {state.get('name')}: {state.get('message')!r}")
        for task_run in run.get("task_runs", []):
            print(f"  task run {task_run['name']!r}: {task_run['state']}")
        errors = run.get("error_records_api", [])
        print(f"  {run['log_rows']} log lines, {len(errors)} ERROR records:")
        for record in errors:
            line = " ".join(record.split())
            print(f"    {line[:200]}{' ...' if len(line) > 200 else ''}")
        for artifact in run.get("artifacts", []):
            shown = " | ".join(artifact["page"])[:300]
            print(f"  artifact {artifact['key']}: {artifact['description']!r}: {shown}")
    for failure in data["failures"]:
        print(f"FAILED: {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ui", required=True, help="the UI's address, e.g. http://127.0.0.1:4300")
    parser.add_argument("--out", required=True, type=Path, help="folder for screenshots, report")
    parser.add_argument("--flow-run", help="flow run id (default: the newest run of backfill/all)")
    parser.add_argument(
        "--expect-schedule",
        action="append",
        default=[],
        metavar="DEPLOYMENT=CRON",
        help="a deployment that must carry this cron schedule (repeatable)",
    )
    args = parser.parse_args(argv)
    ui = args.ui.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(args.out)
    expected = dict(option.split("=", 1) for option in args.expect_schedule)

    api_url = check_api_address(ui, report)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            if api_url:
                check_deployments(page, ui, api_url, expected, report)
                flow_run_id = args.flow_run or newest_run_of_all(api_url)
                if flow_run_id:
                    check_flow_run(page, ui, api_url, flow_run_id, report)
                else:
                    report.fail(f"no flow run of {FLOW}/all to look at; give --flow-run")
            else:
                page.goto(f"{ui}/v2/deployments", wait_until="networkidle")
                page.wait_for_timeout(3000)
                report.shot(page, "deployments-no-api")
        finally:
            browser.close()

    (args.out / "report.json").write_text(json.dumps(report.data, indent=2) + "\n")
    print_summary(report.data)
    print(f"screenshots and report.json (everything read) in {args.out}")
    return 1 if report.data["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
