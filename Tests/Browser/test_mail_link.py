"""Deciding from the mail: otto opens the "Zustimmen" link of his task mail (the SMTP sink of
`make services` stores every message in FREIGABE_MAIL_DIR) without being logged in."""

import email
import email.policy
import os
import re
import time
from pathlib import Path

from selenium.webdriver.common.by import By

from conftest import BASE_URL
from story import PASSWORD, file_shared_data_request, login, logout

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


def test_owner_approves_from_the_link_in_his_mail(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Luftmessstationen", personal=False, purpose="Messreihen für die Schulwegplanung")
    number = b.driver.find_element(By.TAG_NAME, "h1").text.split()[0]
    logout(b)

    link = task_mail_link(number, "otto", "Zustimmen")
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
