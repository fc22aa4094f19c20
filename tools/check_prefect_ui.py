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
3. a flow run (`--flow-run`, else the newest run of `backfill/all`): its state and message, the
   task run names and states (Task Runs tab), the ERROR log lines (Logs tab), the artifacts with
   what each one's page shows (the summary table, the progress of each table);
4. screenshots (PNG) of each page into `--out`, and `report.json` there with everything read.
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
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.data.setdefault("screenshots", []).append(path.name)


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
            if parts:
                rows[index] = {"level": parts[0], "message": " ".join(parts[1:-2]), "raw": parts}
        if items.count() == 0:
            break
        items.nth(items.count() - 1).scroll_into_view_if_needed()
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(300)
        if len(rows) == before:
            break
    return [rows[i] for i in sorted(rows)]


def check_flow_run(page: Page, ui: str, flow_run_id: str, report: Report) -> None:
    run_url = f"{ui}/v2/runs/flow-run/{flow_run_id}"
    page.goto(f"{run_url}?tab=Logs", wait_until="networkidle")
    page.wait_for_timeout(2000)  # the run graph draws on a canvas
    header = page.locator("main").first if page.locator("main").count() else page.locator("body")
    head_text = header.inner_text().split("Details\n")[0]
    report.shot(page, "flow-run")
    logs = log_rows(page)
    errors = [row["message"] for row in logs if row["level"] == "ERROR"]
    report.note(
        "flow_run",
        {
            "id": flow_run_id,
            "header": [line for line in head_text.splitlines() if line.strip()][-10:],
            "log_rows": len(logs),
            "error_lines": errors,
        },
    )
    report.shot(page, "flow-run-logs-end")

    page.goto(f"{run_url}?tab=TaskRuns", wait_until="networkidle")
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
    if not task_runs:
        report.fail("the Task Runs tab lists no task run")
    report.shot(page, "flow-run-task-runs")

    page.goto(f"{run_url}?tab=Artifacts", wait_until="networkidle")
    page.wait_for_timeout(1500)
    report.shot(page, "flow-run-artifacts")
    cards = page.locator('a[href*="/artifacts/artifact/"]')
    artifacts = []
    for k in range(cards.count()):
        parts = [p.strip() for p in cards.nth(k).inner_text().split("\n") if p.strip()]
        artifacts.append({"href": cards.nth(k).get_attribute("href"), "card": parts})
    for artifact in artifacts:
        page.goto(f"{ui}{artifact['href']}", wait_until="networkidle")
        page.wait_for_timeout(1000)
        body = page.locator("body").inner_text()
        key = artifact["card"][1] if len(artifact["card"]) > 1 else artifact["href"].rsplit("/")[-1]
        # What the artifact's page shows between its title block and the details panel.
        shown = body.split("Documentation", 1)[-1].split("Show Raw Data", 1)[0]
        artifact["page"] = [" ".join(line.split()) for line in shown.splitlines() if line.strip()]
        report.shot(page, f"artifact-{re.sub(r'[^A-Za-z0-9_-]+', '-', key)}")
    report.data["flow_run"]["artifacts"] = artifacts
    if not artifacts:
        report.fail("the Artifacts tab shows no artifact")


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
        for task_run in run.get("task_runs", []):
            print(f"  task run {task_run['name']!r}: {task_run['state']}")
        print(f"  {run['log_rows']} log lines, {len(run['error_lines'])} at ERROR:")
        for line in run["error_lines"]:
            print(f"    {line[:200]}{' ...' if len(line) > 200 else ''}")
        for artifact in run.get("artifacts", []):
            shown = " | ".join(artifact["page"])[:300]
            print(f"  artifact {' / '.join(artifact['card'][:2])}: {shown}")
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
                    check_flow_run(page, ui, flow_run_id, report)
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
