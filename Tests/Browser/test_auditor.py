"""The auditor's way: the decision log, filtered to one request, and that request's Verfahrensakte."""

import time

from selenium.webdriver.common.by import By

from story import file_shared_data_request, login, logout


def test_auditor_filters_the_log_and_opens_the_case_file(browser):
    b = browser
    login(b, "anna")
    purpose = "Pflegeplanung der Straßenbäume (für die Prüfung)"
    rid = file_shared_data_request(b, "Baumkataster", personal=False, purpose=purpose)
    logout(b)
    time.sleep(2)  # the sealer runs every second: the submission gets its place in the tree

    login(b, "alex")
    b.follow("Prüfung")
    b.wait_for_path("/pruefung")
    b.check("audit-log")
    b.fill("request", rid)
    b.press("Anzeigen")
    b.wait_for_path(r"/pruefung\?.*")
    b.check("audit-log-filtered")
    assert "Eingereicht" in b.text()
    b.follow("Verfahrensakte")
    b.wait_for_path(f"/pruefung/antraege/{rid}")
    b.check("case-file")
    text = b.text()
    assert purpose in text, "the request's facts are on the case file"
    assert "Was beantragt wurde, laut Protokoll" in text, "what was asked, from the sealed submission"
    assert "Eingereicht" in text, "the submission from the log"
    rows = b.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    assert rows, "the request's events are listed"
    assert "Achtung" not in text, f"an untouched request holds:\n{text}"
    # The demo has no signing key: nothing is claimed as proven by a checkpoint.
    assert "noch von keinem signierten Checkpoint erfasst" in text
