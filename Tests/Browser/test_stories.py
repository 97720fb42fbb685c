"""The stories of issue 10, played by the demo users in one Chromium, one after the other."""

import datetime as dt

from selenium.webdriver.common.by import By

from story import (
    NAMES, OWNER_STEP, PRIVACY_STEP, SECURITY_STEP, STEWARD_STEP, date_input, decide, login, logout,
    notice, open_request_from_inbox, request_id, status_text, step, step_says, timeline, today,
)


def file_shared_data_request(b, dataset_title: str, *, personal: bool, purpose: str) -> str:
    """anna (logged in) goes catalogue → dataset → "Daten anfragen", fills the form, looks at the summary
    and submits. Returns the request's id."""
    b.follow("Datenkatalog")
    b.wait_for_path("/katalog")
    b.check("catalogue")
    b.follow(dataset_title)
    b.wait_for_path("/katalog/[a-z0-9_-]+")
    b.check("dataset")
    b.follow("Daten anfragen")
    b.wait_for_path(r"/antraege/neu\?.*")
    assert "kind=shared_data" in b.path()
    b.check("new-shared-data")
    b.fill("purpose", purpose)
    b.fill("recipient.name", "Amt für Stadtplanung, Abteilung Bauleitplanung")
    b.choose("recipient.type", "internal")
    legal = b.driver.find_elements(By.NAME, "legal_basis")
    assert bool(legal) == personal, "the legal basis is asked for exactly when personal data is involved"
    if personal:
        b.choose("legal_basis", "art6_1_e")
    date_input(b, "access_end", today() + dt.timedelta(days=180))
    b.press("Weiter zur Übersicht")
    assert "Ihre Angaben prüfen" in b.text()
    assert purpose in b.text(), "the summary shows what was entered"
    b.check("summary", english=False)  # the answer to a POST
    b.press("Verbindlich einreichen")
    rid = request_id(b)
    assert notice(b) == "Der Antrag ist eingereicht."
    b.check("request-submitted")
    return rid


def test_shared_data_with_personal_data_is_approved_by_everyone_in_turn(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Altlastenkataster", personal=True,
        purpose="Abgleich der Altlastenflächen mit dem Bebauungsplan Nord (B-Plan 12/2026)")
    # confidential, personal data, high protection need: all four steps apply
    assert "Liegt seit heute beim Schritt „Prüfung durch den Data Owner“ (Data Owner)." in status_text(b)
    step_says(b, OWNER_STEP, "Jetzt an der Reihe")
    for title in (STEWARD_STEP, PRIVACY_STEP, SECURITY_STEP):
        step_says(b, title, "Folgt noch")
    logout(b)

    approvers = [
        ("otto", OWNER_STEP, "Data Owner", STEWARD_STEP),
        ("stefan", STEWARD_STEP, "Data Steward", PRIVACY_STEP),
        ("dora", PRIVACY_STEP, "Datenschutzbeauftragte/r", SECURITY_STEP),
        ("ingo", SECURITY_STEP, "Informationssicherheitsbeauftragte/r", None),
    ]
    for user, title, role, following in approvers:
        login(b, user)
        open_request_from_inbox(b, rid, user)
        step_says(b, title, "Jetzt an der Reihe")
        assert f"Sie entscheiden als {role}." in b.text()
        decide(b, "approve", f"Aus Sicht {role} in Ordnung.")
        assert notice(b) == "Ihre Entscheidung ist gespeichert."
        b.check(f"decided-{user}")
        # the timeline names the decider by user name
        step_says(b, title, "Zugestimmt", f"{user} ({role})", f"Aus Sicht {role} in Ordnung.")
        if following:
            step_says(b, following, "Jetzt an der Reihe")
            follow_title = step(b, following).find_element(By.TAG_NAME, "h3").text
            assert f"„{follow_title}“" in status_text(b)
        logout(b)

    login(b, "anna")
    link = b.driver.find_elements(By.CSS_SELECTOR, f"main a[href='/antraege/{rid}']")
    assert link, "anna's start page lists her request"
    link[0].click()
    b.wait_for_path(f"/antraege/{rid}")
    b.check("request-granted")
    until = (today() + dt.timedelta(days=180))
    assert "Freigegeben; Nutzung erlaubt bis" in status_text(b), status_text(b)
    for title, _, in [(OWNER_STEP, 0), (STEWARD_STEP, 0), (PRIVACY_STEP, 0), (SECURITY_STEP, 0)]:
        step_says(b, title, "Zugestimmt")
    assert until.year and timeline(b)
