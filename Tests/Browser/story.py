"""Steps the stories share: logging in and out as a demo user, filing a request, deciding, reading
the timeline. Every page reached goes through `Browser.check` (axe in German and English, screenshots).

Elements are found by field name, stable id or their visible German text, never by CSS class.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

# The demo directory (scripts/demo/directory.ldif): every user's password is "demo".
PASSWORD = "demo"
NAMES = {
    "anna": "Anna Albers",
    "otto": "Otto Oberle",
    "paul": "Paul Peters",
    "stefan": "Stefan Stein",
    "dora": "Dora Dietz",
    "ingo": "Ingo Imhof",
    "olga": "Olga Ostrowski",
    "sina": "Sina Sommer",
    "volker": "Volker Vogt",
    "adam": "Adam Arndt",
    "alex": "Alex Adler",
}

# Workflows/shared-data.yaml and open-data.yaml: the German step titles the timeline shows.
OWNER_STEP = "Prüfung durch den Data Owner"
STEWARD_STEP = "Freigabe durch das Data Stewardship der Domäne"
PRIVACY_STEP = "Datenschutzprüfung (DSB)"
SECURITY_STEP = "Prüfung der Informationssicherheit (ISB)"
PUBLICATION_STEP = "Veröffentlichung durch die Open-Data-Koordination"


def sql(query: str) -> str:
    """Runs `query` in the server's database as the admin role (`scripts/browser-tests` exports PGHOST,
    PGUSER, PGPASSWORD; the database is FREIGABE_DB_NAME); its rows, unaligned."""
    psql = Path(os.environ.get("FREIGABE_PG_BIN", "/usr/bin")) / "psql"
    return subprocess.run(
        [str(psql), "-X", "-A", "-t", "-d", os.environ["FREIGABE_DB_NAME"], "-c", query],
        check=True, capture_output=True, text=True, timeout=30).stdout


def login(b, user: str, *, check_form: bool = True) -> None:
    """Log in through the form at /anmelden; lands on the start page."""
    b.open("/anmelden", "login") if check_form else b.driver.get(b.url("/anmelden"))
    b.fill("username", user)
    b.fill("password", PASSWORD)
    b.press("Anmelden", within=b.find(By.CSS_SELECTOR, "main form"))
    b.wait_for_path("/")
    assert NAMES[user] in b.text(), f"the start page does not greet {NAMES[user]}"
    b.check(f"start-{user}")


def logout(b) -> None:
    b.press("Abmelden")
    b.wait_for_path(r"/anmelden\?abgemeldet=1")
    assert "Sie sind abgemeldet." in b.text()
    b.check("logged-out")


def request_id(b) -> str:
    path = b.wait_for_path(r"/antraege/[0-9A-Fa-f-]{36}(\?.*)?")
    return re.match(r"/antraege/([0-9A-Fa-f-]{36})", path).group(1)


def open_request_from_inbox(b, rid: str, user: str) -> None:
    """Start page → Eingang → the request's row → the request page."""
    b.follow("Eingang")
    b.wait_for_path("/eingang")
    b.check(f"inbox-{user}")
    links = b.driver.find_elements(By.CSS_SELECTOR, f"main a[href='/antraege/{rid}']")
    assert links, f"{user}'s inbox does not list the request {rid}:\n{b.text()}"
    links[0].click()
    b.wait_for_path(f"/antraege/{rid}")
    b.wait_ready()
    b.check(f"request-{user}")


def decide(b, decision: str, text: str = "", **extra: str) -> None:
    """Fill the decision form ("approve", "reject", "request_changes") and send it."""
    form = b.find(By.CSS_SELECTOR, "main form[action$='/entscheidung']")
    b.choose("decision", decision)
    if text:
        b.fill("text", text)
    for name, value in extra.items():
        if b.field(name).tag_name == "select":
            b.choose(name, value)
        else:
            b.fill(name, value)
    b.press("Entscheidung abgeben", within=form)


def status_text(b) -> str:
    """The text of the "Stand" section."""
    return b.driver.find_element(By.XPATH, "//section[h2[normalize-space()='Stand']]").text


def step(b, title: str):
    """The timeline entry (section "Verlauf") whose heading is `title`."""
    items = b.driver.find_elements(
        By.XPATH, f"//section[h2[normalize-space()='Verlauf']]//li[h3[normalize-space()='{title}']]")
    assert items, f"{b.path()}: the timeline has no step {title!r}:\n{timeline(b)}"
    return items[0]


def timeline(b) -> str:
    sections = b.driver.find_elements(By.XPATH, "//section[h2[normalize-space()='Verlauf']]")
    return sections[0].text if sections else "(no timeline)"


def step_says(b, title: str, *words: str) -> None:
    text = step(b, title).text
    for word in words:
        assert word in text, f"step {title!r} should say {word!r}, says:\n{text}"


def notice(b) -> str:
    found = b.driver.find_elements(By.CSS_SELECTOR, "main [role=status]")
    return found[0].text if found else ""


def date_input(b, name: str, day: dt.date) -> None:
    """Type a date into <input type=date> as a person does: the digits in the order the field shows
    them. That order follows the browser's UI locale, which headless Chromium keeps at en-US
    (mm/dd/yyyy) whatever --lang says; so the page's locale order is tried first, then the others."""
    element = b.field(name)
    first = b.js(
        "return new Intl.DateTimeFormat(navigator.language).formatToParts(new Date(2006, 0, 2))"
        ".filter(p => p.type !== 'literal').map(p => p.type)"
    )
    parts = {"day": f"{day.day:02d}", "month": f"{day.month:02d}", "year": f"{day.year:04d}"}
    orders = [first] + [o for o in (["month", "day", "year"], ["day", "month", "year"], ["year", "month", "day"])
                        if o != first]
    for order in orders:
        # a wrong attempt leaves a wrong date and the caret in the last part: empty it, leave it
        b.js("arguments[0].value = ''; arguments[0].blur()", element)
        element.send_keys("".join(parts[p] for p in order))
        if element.get_attribute("value") == day.isoformat():
            return
    raise AssertionError(f"{name}: could not type {day}; the field holds {element.get_attribute('value')!r}")


def today() -> dt.date:
    return dt.date.today()


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


# ---------------------------------------------------------------------- keyboard only

def tab_to(b, matches, what: str, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element satisfies `matches(element)`."""
    for _ in range(limit):
        key = Keys.SHIFT + Keys.TAB if backwards else Keys.TAB
        b.active().send_keys(key)
        element = b.active()
        if matches(element):
            return
    raise AssertionError(f"{b.path()}: Tab never reached {what}")


def named(name: str, value: str | None = None):
    def matches(e) -> bool:
        return e.get_attribute("name") == name and (value is None or e.get_attribute("value") == value)
    return matches


def labelled(text: str, tags=("a", "button")):
    def matches(e) -> bool:
        return e.tag_name in tags and (e.text or e.get_attribute("value") or "").strip() == text
    return matches


def linking_to(href: str):
    def matches(e) -> bool:
        return e.tag_name == "a" and (e.get_attribute("href") or "").endswith(href)
    return matches


def key_and_wait(b, key: str) -> None:
    """Press `key` on the focused element and wait for the next page."""
    html = b.driver.find_element(By.TAG_NAME, "html")
    b.active().send_keys(key)

    def gone(_) -> bool:
        try:
            html.tag_name
            return False
        except Exception:
            return True

    b.wait().until(gone, f"{key!r} loaded no page")
    b.wait_ready()
