"""The web app in a real headless Chromium against the local stack (design §15).

One stack and one browser serve the module; the tests run in file order as one user's
session: register, sign in (by keyboard, and with a wrong password), submit a genome and
watch it complete, read its phenotype report, a name that is markup, cancel and delete,
the admin page, phone width, and a batch's heat map. Each page is photographed into
`build/screenshots/`.
"""
from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.keys import Keys

from tests.browser.browser import PHONE, Browser
from tests.browser.conftest import needs_chromium
from tests.e2e.localstack import ADMIN_PASSWORD, GENOME, JOB_SECONDS, Stack, needs_db

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_chromium]

USER, EMAIL, PASSWORD = "carol", "carol@example.org", "carol-password-1"
XSS_NAME = "<img src=x onerror=alert(1)>"


def sign_in(browser: Browser, username: str, password: str) -> None:
    browser.open("#/login")
    browser.wait_heading("Sign in")
    browser.fill("#f-username", username)
    browser.fill("#f-password", password)
    browser.click("#login-form button[type=submit]")
    browser.wait_heading("Jobs")


def sign_out(browser: Browser) -> None:
    browser.click("#sign-out")
    browser.wait_heading("Sign in")
    assert browser.token() is None


def test_page_loads_only_its_own_assets_under_a_policy(browser: Browser, stack: Stack) -> None:
    assert f"web app          {stack.api}/" in stack.banner()  # `make run` says where to open it
    browser.open()
    browser.wait_heading("Sign in")
    urls = browser.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(stack.api + "/") for u in urls), urls  # nothing from the internet
    assert {"app.js", "app.css", "api.js", "dom.js"} <= {u.rsplit("/", 1)[-1] for u in urls}
    browser.screenshot("sign-in")


def test_register_lands_on_submit_and_a_reload_keeps_the_session(browser: Browser, stack: Stack) -> None:
    browser.open("#/register")
    browser.wait_heading("Create an account")
    browser.fill("#f-username", USER)
    browser.fill("#f-email", EMAIL)
    browser.fill("#f-password", "short")
    browser.click("#register-form button[type=submit]")
    browser.expected_statuses.add(400)
    error = browser.wait_text("#register-form .error", "password")  # the API's 400, in words
    assert "10" in error
    browser.screenshot("register-error")
    browser.fill("#f-password", PASSWORD)
    browser.click("#register-form button[type=submit]")
    browser.wait_heading("Submit genomes")
    assert f"Welcome, {USER}" in browser.text("#flash")
    token = browser.token()
    assert token and token not in browser.driver.current_url
    browser.driver.refresh()
    browser.wait_heading("Submit genomes")
    assert USER in browser.text("#nav") and browser.token() == token
    browser.screenshot("submit-empty")


def test_a_wrong_password_is_said_in_words_and_signs_nobody_in(browser: Browser) -> None:
    sign_out(browser)
    browser.fill("#f-username", USER)
    browser.fill("#f-password", "not-the-password")
    browser.click("#login-form button[type=submit]")
    browser.expected_statuses.add(401)
    browser.wait_text("#login-form .error", "Invalid username or password")
    assert browser.token() is None and browser.heading() == "Sign in"
    browser.screenshot("sign-in-wrong-password")


def test_sign_in_by_keyboard_alone(browser: Browser) -> None:
    browser.open("#/login")
    browser.wait_heading("Sign in")
    focused = browser.driver.switch_to.active_element
    assert focused.get_attribute("id") == "f-username"  # the first field has focus
    focused.send_keys(USER, Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    browser.wait_heading("Jobs")
    assert browser.token()


def test_a_401_drops_the_token_and_asks_to_sign_in_again(browser: Browser) -> None:
    browser.driver.execute_script("localStorage.setItem('amr.token', 'expired.token.value')")
    browser.open("#/jobs")
    browser.expected_statuses.add(401)
    browser.wait_heading("Sign in")
    assert browser.token() is None
    sign_in(browser, USER, PASSWORD)


def test_dropped_reads_pair_up_by_mate_names(browser: Browser, tmp_path: Any) -> None:
    """X_R1/X_R2 and X_1/X_2 FASTQ files form one sample each; other files are refused
    with the reason, before anything is sent."""
    names = ["s1_R1.fastq.gz", "s1_R2.fastq.gz", "s2_1.fq", "s2_2.fq", "lonely_R1.fastq", "notes.txt", "g.fna"]
    for name in names:
        (tmp_path / name).write_bytes(b"@r\nACGT\n+\nIIII\n")
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys("\n".join(str(tmp_path / n) for n in names))
    browser.until("five samples", lambda: browser.count("tr[data-sample]") == 5)
    rows = dict(zip(browser.attributes("tr[data-sample]", "data-sample"), browser.texts("tr[data-sample]")))
    assert set(rows) == {"s1", "s2", "lonely_R1", "notes.txt", "g"}
    assert "s1_R1.fastq.gz" in rows["s1"] and "s1_R2.fastq.gz" in rows["s1"]
    assert "s2_1.fq" in rows["s2"] and "s2_2.fq" in rows["s2"]
    assert "not a FASTA" in rows["notes.txt"]
    browser.driver.refresh()  # leave nothing planned for the next test
    browser.wait_heading("Submit genomes")


@needs_db
def test_submit_a_genome_watch_it_complete_and_read_its_phenotypes(browser: Browser, stack: Stack) -> None:
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys(str(GENOME))  # what a drop or the file dialog hands the page
    row = browser.find('tr[data-sample="test_isolate_01"]')
    assert "test_isolate_01.fa.gz" in row.text
    browser.choose("#species", "escherichia_coli")
    browser.click("#submit-files")
    browser.wait_text('tr[data-sample="test_isolate_01"] .upload-cell', "uploaded", 60)  # straight to S3 (CORS)
    bar = browser.find('tr[data-sample="test_isolate_01"] .upload-cell progress')
    assert bar.get_attribute("value") == "100"
    browser.screenshot("submit-uploaded")

    browser.click_link("Follow them in the job list")
    browser.wait_heading("Jobs")
    status = "tr[data-job-id] .badge"
    browser.wait_text(status, "Completed", JOB_SECONDS)  # live: the list polls while jobs run
    assert "100%" in browser.text("tr[data-job-id] .pct")
    browser.screenshot("jobs")

    browser.click_link("test_isolate_01")
    browser.wait_heading("test_isolate_01")
    browser.find("#phenotype-table")
    browser.screenshot("job-report-top", full=False)
    first = browser.texts("#phenotype-table tbody tr td:nth-child(3)")
    assert first and set(first) == {"Resistant"}, "the resistant antibiotics come first, the rest on demand"
    browser.click("#show-all-phenotypes")
    predictions = browser.texts("#phenotype-table tbody tr td:nth-child(3)")
    assert len(predictions) > len(first) and set(predictions) == {"Resistant", "No resistance"}
    first_susceptible = predictions.index("No resistance") if "No resistance" in predictions else len(predictions)
    assert all(p == "Resistant" for p in predictions[:first_susceptible])  # resistant antibiotics first
    assert "Resistant" not in predictions[first_susceptible:]
    verdict = browser.text("#verdict")
    assert verdict.startswith("Predicted resistant to")
    bars = browser.attributes("#class-chart svg text", "class")
    labels = browser.driver.execute_script(
        "return [...document.querySelectorAll('#class-chart svg text')].map(e => e.textContent)")
    assert "beta-lactam" in labels, "the class chart shows the resistant class"
    assert browser.count("#class-chart rect.bar-r") == len(bars) // 2
    assert browser.count("#results table.genes tbody tr")
    downloads = set(browser.texts("ul.downloads a"))
    assert {"predictions.json", "predictions.tsv", "phenotypes.tsv"} <= downloads
    assert "Completed" in browser.text("#logs")
    browser.screenshot("job-report")
    browser.driver.set_window_size(*PHONE)
    assert browser.page_width() <= PHONE[0], f"the job page is too wide: {browser.too_wide(PHONE[0])}"
    browser.screenshot("job-report-phone", PHONE)


def test_a_name_made_of_markup_is_shown_as_text(browser: Browser, stack: Stack) -> None:
    token = browser.token()
    created = stack.http("POST", "/jobs", {"job_name": XSS_NAME, "filename": "x.fa"}, token=token)
    assert created.status == 201, created
    job_id = created.body["job"]["job_id"]
    browser.go("#/jobs")
    browser.wait_heading("Jobs")
    cell = f'tr[data-job-id="{job_id}"] td.name a'
    browser.until("the job in the list", lambda: browser.text(cell) == XSS_NAME)
    assert not browser.driver.execute_script("return document.querySelectorAll('main img').length")
    browser.click(cell)
    browser.wait_heading(XSS_NAME)
    assert not browser.driver.execute_script("return document.querySelectorAll('img').length")
    assert not browser.alert_present()
    browser.screenshot("job-markup-name")
    stack.shared["xss_job"] = job_id


def test_cancel_then_delete_a_job(browser: Browser, stack: Stack) -> None:
    job_id = stack.shared["xss_job"]
    browser.click("#cancel-job")
    browser.click("#cancel-job-yes")
    browser.wait_text("#job-status", "Cancelled")
    assert not browser.all("#cancel-job")  # a terminal job cannot be cancelled again
    browser.click("#delete-job")
    browser.click("#delete-job-no")  # second thoughts: nothing happens
    browser.click("#delete-job")
    browser.click("#delete-job-yes")
    browser.wait_heading("Jobs")
    assert "deleted" in browser.text("#flash")
    assert not browser.all(f'tr[data-job-id="{job_id}"]')
    assert stack.http("GET", f"/jobs/{job_id}", token=browser.token()).status == 404


def test_reset_password_page_answers_in_words(browser: Browser) -> None:
    sign_out(browser)
    browser.go("#/reset")
    browser.wait_heading("Reset your password")
    browser.fill("#f-email", EMAIL)
    browser.click("#reset-request-form button[type=submit]")
    browser.wait_text("#reset-request-form .ok", "reset token")
    browser.fill("#f-token", "not-a-real-token")
    browser.fill("#f-new_password", "a-new-password-1")
    browser.click("#reset-confirm-form button[type=submit]")
    browser.expected_statuses.add(400)
    browser.until("the refusal", lambda: browser.text("#reset-confirm-form .error"))
    browser.screenshot("reset-password")


def test_admin_manages_accounts_reads_statistics_and_runs_maintenance(browser: Browser, stack: Stack) -> None:
    sign_in(browser, "admin", ADMIN_PASSWORD)
    browser.go("#/admin")
    browser.wait_heading("Administration")
    row = f'#users tr[data-username="{USER}"]'
    browser.find(row)
    browser.click(f"{row} button")  # Deactivate
    browser.wait_text("#users .ok", f"{USER}: deactivated")
    admin_token = browser.token()
    users = stack.http("GET", "/admin/users", token=admin_token).body["users"]
    assert next(u for u in users if u["username"] == USER)["is_active"] is False
    browser.until("the Activate button", lambda: browser.text(f"{row} button") == "Activate")
    browser.click(f"{row} button")
    browser.wait_text("#users .ok", f"{USER}: active")
    users = stack.http("GET", "/admin/users", token=admin_token).body["users"]
    assert next(u for u in users if u["username"] == USER)["is_active"] is True
    browser.choose(f"{row} select.role", "admin")
    browser.wait_text("#users .ok", f"{USER}: active, admin")
    users = stack.http("GET", "/admin/users", token=admin_token).body["users"]
    assert next(u for u in users if u["username"] == USER)["role"] == "admin"
    browser.choose(f"{row} select.role", "user")
    browser.wait_text("#users .ok", f"{USER}: active, user")
    total = browser.until("statistics", lambda: browser.text("#stats-total"))
    assert int(total) >= 1
    browser.click("#run-maintenance")  # dry run by default
    report = browser.wait_text("#maintenance-report", "dry run", 60)
    assert "Purged" in report and "Archived" in report
    browser.screenshot("admin")


def test_pages_fit_a_phone_screen(browser: Browser) -> None:
    browser.driver.set_window_size(*PHONE)
    try:
        for route, heading, content in (
            ("#/submit", "Submit genomes", "#dropzone"),
            ("#/batches", "Batches", "#batches > *"),
            ("#/admin", "Administration", "#users table"),
            ("#/account", "Your account", "#notifications-form"),
            ("#/jobs", "Jobs", "#jobs > *"),
        ):
            browser.go(route)
            browser.wait_heading(heading)
            browser.find(content)  # drawn once its data has arrived
            assert browser.page_width() <= PHONE[0], f"{route} is too wide: {browser.too_wide(PHONE[0])}"
        browser.screenshot("jobs-phone", PHONE)
    finally:
        browser.driver.set_window_size(1280, 900)


def batches_available(stack: Stack, token: str) -> bool:
    return stack.http("GET", "/batches", token=token).status == 200


@needs_db
def test_batch_heat_map_and_its_tsv(browser: Browser, stack: Stack, tmp_path: Any) -> None:
    if not batches_available(stack, browser.token() or ""):
        pytest.skip("the batch API (design §13, POST/GET /batches) is not on this branch yet")
    copies = []
    for name in ("isolate_a.fa.gz", "isolate_b.fa.gz"):
        copy = tmp_path / name
        copy.write_bytes(GENOME.read_bytes())
        copies.append(str(copy))
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys("\n".join(copies))
    browser.find('tr[data-sample="isolate_b"]')
    browser.click("#as-batch")
    browser.fill("#batch-name", "run 42")
    browser.click("#submit-files")
    browser.wait_text("#submit-result", "submitted", 60)
    browser.click_link("Open the batch")
    browser.wait_heading("run 42")
    browser.wait_text("#batch-status", "Finished", JOB_SECONDS)
    browser.until("both samples in the heat map", lambda: browser.count("#heat-map tbody tr") == 2, 30)
    # the final matrix: calls for every sample (before that, cells are blank or absent)
    browser.until(
        "every sample's calls",
        lambda: browser.count("#heat-map td.c-R") and not browser.count("#heat-map td.c-none"),
        30,
    )
    resistant = browser.texts("#heat-map td.c-R")
    assert set(resistant) == {"R"}
    columns = browser.count("#heat-map th.ab")
    assert len(resistant) == 2 * columns  # twin genomes: only the antibiotics they resist, both R
    browser.click("#every-antibiotic")
    browser.until("every antibiotic as a column", lambda: browser.count("#heat-map th.ab") > columns)
    assert set(browser.texts("#heat-map td.c-S")) == {"S"}
    browser.click("#every-antibiotic")
    browser.until("resistant columns only", lambda: browser.count("#heat-map th.ab") == columns)
    assert set(browser.attributes("#heat-map tbody tr", "data-sample")) == {"isolate_a", "isolate_b"}
    browser.screenshot("batch-heat-map")
    browser.click("#download-tsv")
    tsv = browser.wait_download(".tsv").read_text()
    assert "isolate_a" in tsv and "isolate_b" in tsv and "\t" in tsv
    browser.go("#/batches")
    browser.wait_heading("Batches")
    browser.wait_text("#batches", "run 42")
    assert "Finished" in browser.text("#batches")
    browser.screenshot("batches")
    browser.click_link("run 42")
    browser.wait_heading("run 42")
    batch_id = browser.driver.current_url.rsplit("/", 1)[-1]
    browser.click("#delete-batch")
    browser.click("#delete-batch-yes")
    browser.wait_heading("Batches")
    assert "deleted" in browser.text("#flash")
    assert stack.http("GET", f"/batches/{batch_id}", token=browser.token()).status == 404


def test_account_page_sets_notifications_shows_the_secret_once_and_lists_deliveries(
    browser: Browser, stack: Stack
) -> None:
    from local.client import post_form
    from local.receiver import Receiver, verify_signature

    browser.click("#account-link")
    browser.wait_heading("Your account")
    browser.until("the settings", lambda: browser.text("#current-webhook") == "off")
    browser.fill("#webhook-url", "https://10.1.2.3/hook")
    browser.expected_statuses.add(400)  # the refusal below
    browser.click("#save-notifications")
    assert "10.1.2.3" in browser.wait_text("#notifications .error", "private")
    with Receiver() as receiver:
        browser.fill("#webhook-url", receiver.url)
        browser.click("#event-batch\\.finished")  # untick one event
        browser.click("#notify-email")
        browser.click("#save-notifications")
        secret = browser.wait_text("#new-secret code.secret", "whsec_")
        assert browser.text("#current-webhook") == receiver.url and browser.text("#current-email").startswith("on")
        assert browser.text("#secret-hint") == f"…{secret[-4:]}"
        browser.screenshot("account")
        token = browser.token()
        created = stack.http("POST", "/jobs", {"job_name": "hooked", "filename": "isolate.fa.gz"}, token=token)
        upload = created.body["upload"]
        assert post_form(upload["url"], upload["fields"], "isolate.fa.gz", GENOME.read_bytes()) in (200, 201, 204)
        browser.until("one delivery", lambda: receiver.received, JOB_SECONDS)
    (hit,) = receiver.received
    assert verify_signature(secret, hit.headers["AMR-Signature"], hit.body)
    event_id = hit.headers["AMR-Event-Id"]

    def delivered() -> bool:
        browser.click("#refresh-deliveries")
        return browser.count(f'#deliveries tr[data-event="{event_id}"] td.delivery-delivered') == 1

    browser.until("the delivery listed as delivered", delivered, 30)
    browser.screenshot("account-deliveries")
    browser.open("#/account")  # a reload never shows the secret again
    browser.wait_heading("Your account")
    browser.until("the settings", lambda: browser.text("#current-webhook") == receiver.url)
    assert secret not in browser.driver.page_source and not browser.all("#new-secret")
