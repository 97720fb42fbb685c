"""The stories of issue 10, played by the demo users in one Chromium, one after the other."""

import datetime as dt

from selenium.webdriver.common.by import By

from story import (
    PASSWORD, OWNER_STEP, PRIVACY_STEP, SECURITY_STEP, STEWARD_STEP, date_input, decide, file_shared_data_request,
    login, logout, notice, open_request_from_inbox, request_id, sql, status_text, step, step_says, timeline,
    today,
)


def test_shared_data_with_personal_data_is_approved_by_everyone_in_turn(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Altlastenkataster", personal=True,
        purpose="Abgleich der Altlastenflächen mit dem Bebauungsplan Nord (B-Plan 12/2026)")
    # confidential, personal data, high protection need: all four steps apply
    # The status names the person from the directory, not only the role.
    assert "Liegt seit heute beim Schritt „Prüfung durch den Data Owner“ (Otto Oberle)." in status_text(b)
    assert "Data Owner: Otto Oberle" in status_text(b)
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


def open_own_request(b, rid: str, name: str) -> None:
    """From the start page ("Meine Anträge") to the request."""
    links = b.driver.find_elements(By.CSS_SELECTOR, f"main a[href='/antraege/{rid}']")
    assert links, f"the start page does not list the request {rid}:\n{b.text()}"
    links[0].click()
    b.wait_for_path(f"/antraege/{rid}")
    b.wait_ready()
    b.check(name)


def test_open_data_request_is_rejected_with_a_reason(browser):
    b = browser
    login(b, "anna")
    b.follow("Datenkatalog")
    b.wait_for_path("/katalog")
    b.check("catalogue")
    b.follow("Baumkataster")
    b.wait_for_path("/katalog/baumkataster")
    b.check("dataset")
    b.follow("Als Open Data freigeben")
    b.wait_for_path(r"/antraege/neu\?.*")
    assert "kind=open_data" in b.path()
    b.check("new-open-data")
    assert not b.driver.find_elements(By.NAME, "recipient.name"), "Open Data has no recipient"
    b.fill("purpose", "Veröffentlichung im Open-Data-Portal für die Baumpatenschaften")
    b.choose_label("licence", "Creative Commons Namensnennung 4.0 International (CC BY 4.0)")
    b.fill("format", "CSV")
    for question in ("personal_reference", "trade_secrets", "third_party_rights", "security", "confidentiality"):
        b.choose(f"open_data_check.{question}.applies", "false")
    b.press("Weiter zur Übersicht")
    assert "Ihre Angaben prüfen" in b.text()
    b.check("summary", english=False)
    b.press("Verbindlich einreichen")
    rid = request_id(b)
    assert notice(b) == "Der Antrag ist eingereicht."
    b.check("request-submitted")
    step_says(b, OWNER_STEP, "Jetzt an der Reihe")
    logout(b)

    login(b, "otto")
    open_request_from_inbox(b, rid, "otto")
    # a rejection without a reason is refused, next to the field and in the summary at the top
    decide(b, "reject")
    summary = b.find(By.ID, "form-errors")
    assert "Bitte prüfen Sie Ihre Angaben" in summary.text
    # the new page says so first: in its title, and with the focus on the summary
    assert b.driver.title.startswith("Fehler: "), b.driver.title
    assert b.driver.switch_to.active_element.get_attribute("id") == "form-errors", "the summary has the focus"
    error = b.find(By.ID, "f-text-error")
    assert error.text.strip(), "the error stands next to the text field"
    assert b.field("text").get_attribute("aria-invalid") == "true"
    assert b.driver.find_element(By.CSS_SELECTOR, "input[name=decision][value=reject]").is_selected(), (
        "the choice is kept")
    b.check("decision-without-reason", english=False, status_page=True)  # 422, the form again
    reason = "Die Standorte von Bäumen auf Privatgrundstücken dürfen nicht veröffentlicht werden."
    decide(b, "reject", reason)
    assert notice(b) == "Ihre Entscheidung ist gespeichert."
    b.check("rejected")
    assert "Abgeschlossen: Abgelehnt." in status_text(b)
    step_says(b, OWNER_STEP, "Abgelehnt", "otto (Data Owner)", reason)
    logout(b)

    login(b, "anna")
    assert "Abgeschlossen: Abgelehnt." in b.text()
    open_own_request(b, rid, "request-rejected")
    assert reason in timeline(b)
    assert not b.driver.find_elements(By.CSS_SELECTOR, "main form[action$='/entscheidung']"), (
        "nobody decides a closed request")


def test_request_goes_back_with_a_question_is_answered_and_resubmitted(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Baumkataster", personal=False, purpose="Planung der Ersatzpflanzungen im Stadtteil Süd")
    logout(b)

    question = "Brauchen Sie alle Baumarten oder nur die Straßenbäume?"
    login(b, "otto")
    open_request_from_inbox(b, rid, "otto")
    decide(b, "request_changes", question)
    assert notice(b) == "Ihre Entscheidung ist gespeichert."
    b.check("question-asked")
    assert "Es gibt eine Rückfrage an die antragstellende Person." in status_text(b)
    step_says(b, OWNER_STEP, "Rückfrage", question)
    logout(b)

    login(b, "anna")
    open_own_request(b, rid, "request-with-question")
    assert question in status_text(b)
    b.follow("Antwort geben und erneut einreichen")
    b.wait_for_path(f"/antraege/{rid}/ueberarbeiten")
    b.check("resubmit-form")
    assert question in b.text(), "the form shows the question"
    answer = "Nur die Straßenbäume, ohne Parkbäume."
    b.fill("comment", answer)
    b.fill("purpose", "Planung der Ersatzpflanzungen an Straßen im Stadtteil Süd")
    b.press("Erneut einreichen")
    b.wait_for_path(rf"/antraege/{rid}(\?.*)?")
    assert notice(b) == "Der Antrag ist erneut eingereicht."
    b.check("resubmitted")
    assert "Liegt seit heute beim Schritt „Prüfung durch den Data Owner“" in status_text(b)
    assert "Planung der Ersatzpflanzungen an Straßen im Stadtteil Süd" in b.text()
    logout(b)

    login(b, "otto")
    open_request_from_inbox(b, rid, "otto")
    assert answer in b.text(), f"otto cannot read anna's answer {answer!r} on the request page"
    decide(b, "approve")
    assert notice(b) == "Ihre Entscheidung ist gespeichert."
    b.check("approved-after-answer")
    step_says(b, OWNER_STEP, "Zugestimmt")
    step_says(b, STEWARD_STEP, "Jetzt an der Reihe")


def test_what_was_typed_comes_back_after_the_session_ended(browser):
    b = browser
    login(b, "anna")
    form = "/antraege/neu?dataset=luftmessstationen&kind=shared_data"
    b.open(form, "new-shared-data-kept")
    purpose = "Auswertung der Messreihen seit 2015, über eine halbe Stunde lang geschrieben"
    b.fill("purpose", purpose)
    b.fill("recipient.name", "Umweltamt")
    b.choose("recipient.type", "internal")
    # The session ends on the server while anna writes (its row expires; the browser keeps the cookie,
    # which lasts until the absolute end): the form changes nothing and leads to the login, and back.
    sql("DELETE FROM web_sessions")
    b.press("Als Entwurf speichern")
    b.wait_for_path(r"/anmelden\?.*")
    assert "Ihre Sitzung ist abgelaufen" in b.text()
    b.fill("username", "anna")
    b.fill("password", PASSWORD)
    b.press("Anmelden", within=b.find(By.CSS_SELECTOR, "main form"))
    b.wait_for_path(r"/antraege/neu\?.*")
    b.wait_ready()
    assert b.field("purpose").get_attribute("value") == purpose, "what she typed is back"
    assert b.field("recipient.name").get_attribute("value") == "Umweltamt"
    notice_element = b.find(By.CSS_SELECTOR, "[data-kept-notice]")
    assert notice_element.is_displayed() and "wiederhergestellt" in notice_element.text
    b.check("new-shared-data-restored", english=False)
    b.press("Als Entwurf speichern")
    request_id(b)
    assert notice(b) == "Der Entwurf ist gespeichert."
    # Arrived: a new form for the dataset starts empty again.
    b.driver.get(b.url(form))
    b.wait_ready()
    assert b.field("purpose").get_attribute("value") == ""
    assert not b.find(By.CSS_SELECTOR, "[data-kept-notice]").is_displayed()
    # Typed, then logged out (a shared computer): the next person finds none of it.
    b.fill("purpose", "Nur angefangen")
    logout(b)
    login(b, "anna")
    b.driver.get(b.url(form))
    b.wait_ready()
    assert b.field("purpose").get_attribute("value") == ""


def test_what_one_person_typed_never_comes_back_for_another(browser):
    b = browser
    login(b, "anna")
    form = "/antraege/neu?dataset=luftmessstationen&kind=shared_data"
    b.driver.get(b.url(form))
    b.wait_ready()
    b.fill("purpose", "Annas halb geschriebener Zweck")
    # anna's session ends while she writes (no logout, so nothing is cleared); paul logs in at her desk.
    b.driver.delete_cookie("freigabe-session")
    login(b, "paul")
    b.driver.get(b.url(form))
    b.wait_ready()
    assert b.field("purpose").get_attribute("value") == "", "paul gets nothing anna typed"
    assert not b.find(By.CSS_SELECTOR, "[data-kept-notice]").is_displayed()
    keep = b.find(By.CSS_SELECTOR, "form[data-keep]").get_attribute("data-keep")
    assert "paul" not in keep, "the kept form names its person without the uid in clear"
    logout(b)


def test_an_answer_typed_over_a_filled_form_comes_back_after_the_session_ended(browser):
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Baumkataster", personal=False, purpose="Planung der Ersatzpflanzungen im Stadtteil Nord")
    logout(b)
    login(b, "otto")
    open_request_from_inbox(b, rid, "otto")
    decide(b, "request_changes", "Welche Straßen genau?")
    assert notice(b) == "Ihre Entscheidung ist gespeichert."
    logout(b)

    login(b, "anna")
    form = f"/antraege/{rid}/ueberarbeiten"
    b.driver.get(b.url(form))
    b.wait_ready()
    answer = "Die Straßen zwischen Ring und Bahnlinie, lange überlegt"
    purpose = "Planung der Ersatzpflanzungen an Straßen im Stadtteil Nord"
    b.fill("comment", answer)
    b.fill("purpose", purpose)
    # The session ends while she writes: the form's POST changes nothing.
    b.driver.delete_cookie("freigabe-session")
    b.press("Erneut einreichen")
    assert "Das Formular ist abgelaufen" in b.text() or b.path().startswith("/anmelden")
    login(b, "anna")
    b.driver.get(b.url(form))
    b.wait_ready()
    assert b.field("comment").get_attribute("value") == answer, "the answer is back"
    assert b.field("purpose").get_attribute("value") == purpose, "the changed purpose over the stored one"
    assert b.field("recipient.name").get_attribute("value"), "the stored fields stay as stored"
    assert b.find(By.CSS_SELECTOR, "[data-kept-notice]").is_displayed()
    b.press("Erneut einreichen")
    b.wait_for_path(rf"/antraege/{rid}(\?.*)?")
    assert notice(b) == "Der Antrag ist erneut eingereicht."
    assert purpose in b.text()


def test_a_withdrawal_comment_comes_back_after_the_session_ended(browser):
    # Not only the decision form: a revocation's or a closing's reason and a withdrawal's comment come
    # back too, each from the form it was typed into.
    b = browser
    login(b, "anna")
    rid = file_shared_data_request(
        b, "Baumkataster", personal=False, purpose="Planung der Baumpflege im Stadtteil West")
    b.driver.get(b.url(f"/antraege/{rid}"))
    b.wait_ready()
    comment = "Die Planung übernimmt jetzt das Nachbaramt, lange abgestimmt"
    form = f'form[action="/antraege/{rid}/zurueckziehen"]'
    b.find(By.CSS_SELECTOR, form).find_element(By.NAME, "comment").send_keys(comment)
    sql("DELETE FROM web_sessions")
    b.press("Antrag zurückziehen", within=b.find(By.CSS_SELECTOR, form))
    b.wait_for_path(r"/anmelden\?.*")
    b.fill("username", "anna")
    b.fill("password", PASSWORD)
    b.press("Anmelden", within=b.find(By.CSS_SELECTOR, "main form"))
    b.wait_for_path(rf"/antraege/{rid}(\?.*)?")
    b.wait_ready()
    kept = b.find(By.CSS_SELECTOR, form).find_element(By.NAME, "comment").get_attribute("value")
    assert kept == comment, f"the comment is back: {kept!r}"


def test_draft_is_saved_and_submitted_later(browser):
    b = browser
    login(b, "anna")
    b.open("/antraege/neu?dataset=luftmessstationen&kind=shared_data", "new-shared-data")
    purpose = "Auswertung der Stickstoffdioxidwerte für den Luftreinhalteplan"
    b.fill("purpose", purpose)
    b.fill("recipient.name", "Umweltamt, Sachgebiet Luftreinhaltung")
    b.choose("recipient.type", "internal")
    # the end of use is still open: a draft may be incomplete
    b.press("Als Entwurf speichern")
    rid = request_id(b)
    assert notice(b) == "Der Entwurf ist gespeichert."
    b.check("draft-saved")
    assert "Entwurf – noch nicht eingereicht." in status_text(b)
    logout(b)

    login(b, "otto")
    b.follow("Eingang")
    b.wait_for_path("/eingang")
    b.check("inbox-otto")
    assert not b.driver.find_elements(By.CSS_SELECTOR, f"main a[href='/antraege/{rid}']"), (
        "a draft is in nobody's inbox")
    logout(b)

    login(b, "anna")
    assert "Entwurf – noch nicht eingereicht." in b.text()
    open_own_request(b, rid, "draft")
    assert purpose in b.text()
    b.follow("Entwurf bearbeiten")
    b.wait_for_path(f"/antraege/{rid}/bearbeiten")
    b.check("edit-draft")
    assert b.field("purpose").get_attribute("value") == purpose, "the draft's values are in the form"
    date_input(b, "access_end", today() + dt.timedelta(days=90))
    b.press("Speichern und einreichen")
    b.wait_for_path(rf"/antraege/{rid}(\?.*)?")
    assert notice(b) == "Der Antrag ist eingereicht."
    b.check("draft-submitted")
    # The status names the person from the directory, not only the role.
    assert "Liegt seit heute beim Schritt „Prüfung durch den Data Owner“ (Otto Oberle)." in status_text(b)


def test_open_data_draft_keeps_part_of_the_check(browser):
    b = browser
    login(b, "anna")
    b.open("/antraege/neu?dataset=baumkataster&kind=open_data", "new-open-data-partial", english=False)
    b.fill("purpose", "Baumstandorte im Open-Data-Portal")
    answered = ("personal_reference", "trade_secrets", "security")
    still_open = ("third_party_rights", "confidentiality")
    for question in answered:
        b.choose(f"open_data_check.{question}.applies", "false")
    # three of the five questions: a draft keeps them
    b.press("Als Entwurf speichern")
    rid = request_id(b)
    assert notice(b) == "Der Entwurf ist gespeichert."
    b.follow("Entwurf bearbeiten")
    b.wait_for_path(f"/antraege/{rid}/bearbeiten")

    def selected(question):
        return [e.get_attribute("value") for e in b.driver.find_elements(By.NAME, f"open_data_check.{question}.applies")
                if e.is_selected()]

    for question in answered:
        assert selected(question) == ["false"], question
    for question in still_open:
        assert selected(question) == [], question
    b.press("Speichern und einreichen")
    error = b.find(By.ID, "f-open-data-check-third-party-rights-applies-error")
    assert "Bitte beantworten Sie die Fragen der Open-Data-Prüfung." in error.text
    b.check("draft-check-incomplete", english=False, status_page=True)  # 422, the draft's form again
    for question in still_open:
        b.choose(f"open_data_check.{question}.applies", "false")
    b.press("Speichern und einreichen")
    b.wait_for_path(rf"/antraege/{rid}(\?.*)?")
    assert notice(b) == "Der Antrag ist eingereicht."


def test_deputy_decides_for_otto_and_the_page_says_so(browser):
    b = browser
    login(b, "otto")
    b.follow("Vertretungen")
    b.wait_for_path("/vertretungen")
    b.check("deputyships")
    # The deputy is picked from the directory: search by name, then choose among the people found.
    b.fill("suche", "Peters")
    b.press("Im Verzeichnis suchen")
    b.wait_for_path(r"/vertretungen\?suche=.*")
    assert "Person gefunden" in b.text() or "Personen gefunden" in b.text(), b.text()
    b.check("deputy-picker")
    b.choose("deputy", "paul")
    date_input(b, "valid_from", today())
    date_input(b, "valid_until", today() + dt.timedelta(days=7))
    b.press("Vertretung einrichten")
    b.wait_for_path(r"/vertretungen(\?.*)?")
    assert notice(b) == "Die Vertretung ist eingerichtet."
    b.check("deputyship-created")
    assert "paul vertritt Sie" in b.text()
    logout(b)

    login(b, "anna")
    rid = file_shared_data_request(
        b, "Lärmkartierung", personal=False, purpose="Lärmschutz an der Umgehungsstraße Ost")
    logout(b)

    login(b, "paul")
    open_request_from_inbox(b, rid, "paul")
    assert "Sie entscheiden als Data Owner in Vertretung für Otto Oberle." in b.text()
    decide(b, "approve", "In Vertretung geprüft.")
    assert notice(b) == "Ihre Entscheidung ist gespeichert."
    b.check("decided-as-deputy")
    step_says(b, OWNER_STEP, "Zugestimmt", "paul (Data Owner) – in Vertretung für Otto Oberle", "In Vertretung geprüft.")
    logout(b)

    login(b, "otto")
    # Back at his desk, otto's start page names what paul decided in his name (checked by axe and at
    # 320 px with the start page).
    assert "In Ihrer Vertretung entschieden" in b.text(), b.text()
    assert "Zugestimmt von Paul Peters am " in b.text(), b.text()
    b.follow("Vertretungen")
    b.wait_for_path("/vertretungen")
    b.check("deputyships")
    b.press("Beenden")
    b.wait_for_path(r"/vertretungen(\?.*)?")
    assert notice(b) == "Die Vertretung ist beendet."
    b.check("deputyship-ended")
