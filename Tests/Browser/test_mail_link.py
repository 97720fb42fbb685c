"""Deciding from the mail: otto opens the "Zustimmen" link of his task mail (the SMTP sink of
`make services` stores every message in FREIGABE_MAIL_DIR) without being logged in. Before that, a
headless browser opens every link of the mail as a mail scanner would (page scripts run: axe), and no
row of any table changes."""

import email
import email.policy
import os
import re
import time
from pathlib import Path

from selenium.webdriver.common.by import By

from conftest import BASE_URL
from story import PASSWORD, file_shared_data_request, login, logout, sql

MAIL_DIR = Path(os.environ.get("FREIGABE_MAIL_DIR", ".local/mail"))


def task_mail_link(number: str, to: str, action: str, timeout: float = 30) -> str:
    """The link `action` ("Zustimmen") of the mail to `to` about request `number`, once it arrived."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"{re.escape(action)}: ({re.escape(BASE_URL)}/e/\S+)")
    while time.monotonic() < deadline:
        for path in sorted(MAIL_DIR.glob("*.eml"), reverse=True)[:200]:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to not in str(message["To"]) or number not in str(message["Subject"]):
                continue
            body = message.get_body(preferencelist=("plain",))
            found = pattern.search(body.get_content() if body else "")
            if found:
                return found.group(1)
        time.sleep(0.5)  # the outbox sends after the commit; there is no event to wait on from here
    raise AssertionError(f"no mail to {to} about {number} with a {action!r} link within {timeout} s in {MAIL_DIR}")


def row_counts() -> dict[str, int]:
    """Rows of every table of the server's database, counted as the admin role (`scripts/browser-tests`
    exports PGHOST, PGUSER, PGPASSWORD; the database is FREIGABE_DB_NAME)."""
    query = """
        SELECT table_name || '=' || (xpath('/row/c/text()', query_to_xml(
            format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
        FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"""
    output = sql(query)
    counts = dict(line.split("=", 1) for line in output.split())
    assert "decisions" in counts and "audit_events" in counts, counts
    return {table: int(count) for table, count in counts.items()}


def settled_row_counts(timeout: float = 20) -> dict[str, int]:
    """The counts once two readings a second apart agree (the outbox dispatcher and the sealer work in
    the background after a commit)."""
    deadline = time.monotonic() + timeout
    before = row_counts()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = row_counts()
        if now == before:
            return now
        before = now
    raise AssertionError(f"the database did not settle within {timeout} s: {before}")


def test_owner_approves_from_the_link_in_his_mail(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Luftmessstationen", personal=False, purpose="Messreihen für die Schulwegplanung")
    number = b.driver.find_element(By.TAG_NAME, "h1").text.split()[0]
    logout(b)

    link = task_mail_link(number, "otto", "Zustimmen")
    others = [task_mail_link(number, "otto", action) for action in ("Ablehnen", "Rückfrage stellen")]
    # A mail scanner opens every link and runs the page, without cookies: nothing may change.
    b.driver.delete_all_cookies()
    before = settled_row_counts()
    for index, visited in enumerate([*others, link]):
        b.driver.get(visited)
        b.wait_ready()
        b.check(f"mail-link-visit-{index}", english=False)
        assert number in b.text()
    assert row_counts() == before, "opening the decision links changed rows"

    b.driver.get(link)
    b.wait_ready()
    b.check("mail-link-confirm")
    assert "Entscheidung aus der E-Mail" in b.text() and number in b.text()
    b.fill("password", PASSWORD)
    b.press("Zustimmung bestätigen")
    b.check("mail-link-done", english=False)
    outcome = b.find(By.CSS_SELECTOR, "main [role=status]").text
    assert "otto (Data Owner)" in outcome and "Zugestimmt" in outcome, outcome
    # the link is single-use: opening it again shows what happened, no form
    b.driver.get(link)
    b.wait_ready()
    assert not b.driver.find_elements(By.NAME, "password"), "a used link offers no second decision"
    assert rid
