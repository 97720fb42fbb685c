"""The whole file-and-approve story with the keyboard only, and the administrator's catalogue import."""

import datetime as dt

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from story import (
    OWNER_STEP, PASSWORD, STEWARD_STEP, date_input, key_and_wait, labelled, linking_to, login, named,
    notice, request_id, sql, status_text, step_says, tab_to, today,
)


def keyboard_login(b, user: str) -> None:
    b.open("/anmelden", "login")
    tab_to(b, named("username"), "the user name field")
    # The focus ring on the light page: a dark ring (16:1 on white) inside the yellow one (1.6:1 alone).
    ring = b.driver.execute_script(
        "const s = getComputedStyle(arguments[0]); return [s.outlineColor, s.outlineStyle, s.boxShadow];",
        b.active())
    assert ring[0] == "rgb(27, 31, 36)" and ring[1] == "solid" and "255, 191, 71" in ring[2], ring
    b.active().send_keys(user)
    tab_to(b, named("password"), "the password field")
    b.active().send_keys(PASSWORD)
    key_and_wait(b, Keys.ENTER)  # Enter in a field sends its form
    b.wait_for_path("/")
    b.check(f"start-{user}")


def keyboard_logout(b) -> None:
    tab_to(b, labelled("Abmelden"), "the logout button")
    key_and_wait(b, Keys.ENTER)
    b.wait_for_path(r"/anmelden\?abgemeldet=1")
    b.check("logged-out")


def keyboard_choose(b, name: str, value: str) -> None:
    """Tab into the radio group `name`, then the arrow keys to `value` (they tick as they move)."""
    tab_to(b, named(name), f"the choices {name}")
    for _ in range(10):
        if b.active().get_attribute("value") == value:
            break
        b.active().send_keys(Keys.ARROW_DOWN)
    assert b.active().get_attribute("value") == value, f"{name}: the arrow keys never reached {value}"
    if not b.active().is_selected():
        b.active().send_keys(Keys.SPACE)
    assert b.active().is_selected()


def test_file_and_approve_with_the_keyboard_only(browser):
    b = browser
    keyboard_login(b, "anna")
    tab_to(b, labelled("Datenkatalog"), "the catalogue link")
    key_and_wait(b, Keys.ENTER)
    b.wait_for_path("/katalog")
    b.check("catalogue")
    tab_to(b, labelled("Radverkehrsnetz"), "the dataset Radverkehrsnetz")
    key_and_wait(b, Keys.ENTER)
    b.wait_for_path("/katalog/radverkehrsnetz")
    b.check("dataset")
    tab_to(b, labelled("Daten anfragen"), "Daten anfragen")
    key_and_wait(b, Keys.ENTER)
    b.wait_for_path(r"/antraege/neu\?.*")
    b.check("new-shared-data")
    tab_to(b, named("purpose"), "the purpose")
    b.active().send_keys("Routenplanung für den Winterdienst auf Radwegen")
    tab_to(b, named("recipient.name"), "the recipient")
    b.active().send_keys("Amt für Straßenbau, Winterdienst")
    keyboard_choose(b, "recipient.type", "internal")
    tab_to(b, named("access_end"), "the end of use")
    date_input(b, "access_end", today() + dt.timedelta(days=30))  # typed into the focused field
    tab_to(b, labelled("Weiter zur Übersicht"), "Weiter zur Übersicht")
    key_and_wait(b, Keys.ENTER)
    assert "Ihre Angaben prüfen" in b.text()
    b.check("summary", english=False)
    tab_to(b, labelled("Verbindlich einreichen"), "Verbindlich einreichen")
    key_and_wait(b, Keys.ENTER)
    rid = request_id(b)
    assert notice(b) == "Der Antrag ist eingereicht."
    b.check("request-submitted")
    keyboard_logout(b)

    # Radverkehrsnetz: owner volker, stewards of "mobilitaet" (sina)
    for user, title, role in (("volker", OWNER_STEP, "Data Owner"), ("sina", STEWARD_STEP, "Data Steward")):
        keyboard_login(b, user)
        tab_to(b, labelled("Eingang"), "the inbox link")
        key_and_wait(b, Keys.ENTER)
        b.wait_for_path("/eingang")
        b.check(f"inbox-{user}")
        tab_to(b, linking_to(f"/antraege/{rid}"), "the request in the inbox")
        key_and_wait(b, Keys.ENTER)
        b.wait_for_path(f"/antraege/{rid}")
        b.check(f"request-{user}")
        keyboard_choose(b, "decision", "approve")
        tab_to(b, named("text"), "the comment")
        b.active().send_keys("Mit der Tastatur geprüft.")
        tab_to(b, labelled("Entscheidung abgeben"), "Entscheidung abgeben")
        key_and_wait(b, Keys.ENTER)
        assert notice(b) == "Ihre Entscheidung ist gespeichert."
        b.check(f"decided-{user}")
        step_says(b, title, "Zugestimmt", f"{user} ({role})", "Mit der Tastatur geprüft.")
        keyboard_logout(b)

    keyboard_login(b, "anna")
    tab_to(b, linking_to(f"/antraege/{rid}"), "anna's request on her start page")
    key_and_wait(b, Keys.ENTER)
    b.wait_for_path(f"/antraege/{rid}")
    b.check("request-granted")
    assert "Freigegeben; Nutzung erlaubt bis" in status_text(b), status_text(b)


BROKEN_CATALOGUE = """\
domains:
  - id: umwelt
    title: Umwelt
    steward_group: cn=stewards-umwelt,ou=groups,dc=stadt,dc=example
datasets:
  - id: strassenbaeume-probe
    title: Straßenbäume (Probe)
    domain: umwelt
    owner: otto
    classification: geheim
    personal_data: none
    protection_need: normal
"""


def test_administrator_imports_a_catalogue_with_an_error_and_sees_the_line(browser, tmp_path):
    b = browser
    login(b, "adam")
    b.follow("Verwaltung")
    b.wait_for_path("/verwaltung")
    b.check("administration")
    upload = tmp_path / "katalog-fehler.yaml"
    upload.write_text(BROKEN_CATALOGUE, encoding="utf-8")
    b.field("file").send_keys(str(upload))  # what the file chooser hands the page
    b.press("Einlesen")
    errors = b.find(By.ID, "import-errors")
    assert "Die Datei wurde nicht übernommen." in errors.text
    assert "katalog-fehler.yaml:10" in errors.text, f"the error names file and line 10:\n{errors.text}"
    assert "„geheim“ ist kein erlaubter Wert" in errors.text, f"the error is in German:\n{errors.text}"
    b.check("import-failed", english=False, status_page=True)
    b.open("/katalog?q=Probe", "catalogue-search")
    assert "Straßenbäume (Probe)" not in b.text(), "nothing of the broken file is stored"


def test_administrator_creates_a_domain_and_looks_at_the_outbox(browser):
    b = browser
    login(b, "adam")
    b.follow("Verwaltung")
    b.wait_for_path("/verwaltung")
    b.follow("Neue Datendomäne anlegen")
    b.wait_for_path("/verwaltung/domaene")
    b.check("admin-domain-new")
    # A missing group is said next to the field, the input is kept.
    b.fill("id", "kultur")
    b.fill("title", "Kultur & <Bildung>")
    b.press("Speichern")
    b.check("admin-domain-error", english=False, status_page=True)
    assert b.field("title").get_attribute("value") == "Kultur & <Bildung>"
    # A well-formed DN the directory holds no group under: said at the field, nothing stored.
    b.fill("steward_group", "cn=stewards-kultur,ou=groups,dc=stadt,dc=example")
    b.press("Speichern")
    assert "Im Verzeichnis gibt es keine Gruppe" in b.text()
    assert b.field("title").get_attribute("value") == "Kultur & <Bildung>"
    b.check("admin-domain-unknown-group", english=False, status_page=True)  # 422, the form again
    b.fill("steward_group", "cn=amt-stadtentwicklung,ou=groups,dc=stadt,dc=example")
    b.press("Speichern")
    b.wait_for_path(r"/verwaltung(\?.*)?")
    assert "Die Datendomäne ist gespeichert." in b.text()
    assert "Kultur & <Bildung>" in b.text(), "the title is shown as typed, escaped"
    b.check("admin-domain-saved", english=False)
    # A failed mail, so that the page shows a row with its "Erneut senden" button (axe checks its contrast).
    sql("INSERT INTO outbox (kind, topic, payload, created_at, available_at, last_error, failed_at, sent_at) "
        "VALUES ('mail', 'submitted', '{}', now(), now(), 'keine Empfänger', now(), now())")
    b.follow("Postausgang (fehlgeschlagene und wartende Nachrichten)")
    b.wait_for_path("/verwaltung/ausgang")
    assert "keine Empfänger" in b.text(), b.text()
    b.check("admin-outbox")
