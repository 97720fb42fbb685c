"""Pages that need no login: the start page, an error page, the style sheet, the skip link."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def response_status(browser) -> int:
    return browser.js("return performance.getEntriesByType('navigation')[0].responseStatus")


def test_start_page_in_german(browser):
    browser.open("/", "start")
    assert response_status(browser) == 200
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    h1 = browser.driver.find_element(By.TAG_NAME, "h1").text
    assert h1, "the start page has a heading"
    assert "Freigabe" in browser.driver.title
    text = browser.text()
    assert "Open Data" in text and "Shared Data" in text
    # German words, not English ones
    assert "Datenschutz" in text


def test_start_page_in_english_from_the_browser_language(english_browser):
    """Chromium started with --lang=en / intl.accept_languages=en sends Accept-Language: en."""
    english_browser.open("/", "start")
    assert english_browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    sent = english_browser.js("return navigator.language")
    assert sent.startswith("en")
    text = english_browser.text()
    assert "Datenschutzbeauftragte" not in text


def test_unknown_page_is_a_friendly_404(browser):
    browser.open("/gibt-es-nicht", "404", status_page=True)
    assert response_status(browser) == 404
    assert "404" in browser.text()
    assert "/gibt-es-nicht" in browser.text(), "the page names the path that was not found"
    home = browser.driver.find_elements(By.CSS_SELECTOR, "main a[href='/']")
    assert home, "the error page links back to the start page"
    home[0].click()
    browser.wait_for_path("/")
    browser.check("start-from-404")


def test_style_sheet_is_served_and_applied(browser):
    browser.open("/", "start")
    sheets = browser.js(
        "return Array.from(document.styleSheets).map(s => [s.href, s.cssRules.length])"
    )
    css = [s for s in sheets if s[0] and s[0].endswith("/static/freigabe.css")]
    assert css and css[0][1] > 0, f"freigabe.css not applied: {sheets}"
    status, content_type, length = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/static/freigabe.css').then(r => r.text().then(t => "
        "done([r.status, r.headers.get('content-type'), t.length])), e => done([0, String(e), 0]));"
    )
    assert status == 200 and content_type.startswith("text/css") and length > 0, (status, content_type)


def test_tab_reaches_the_skip_link_first_and_it_moves_focus_to_main(browser):
    browser.open("/", "start")
    body = browser.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    first = browser.active()
    assert first.tag_name == "a" and first.get_attribute("href").endswith("#main"), (
        f"the first Tab stop is {first.get_attribute('outerHTML')[:120]}, not the skip link"
    )
    assert first.is_displayed(), "the skip link is visible when it has focus"
    assert first.text.strip(), "the skip link has a text"
    # A probe at the end of <main> gives the next Tab a target there even on a page whose <main> has
    # no link of its own (otherwise Tab would wrap around to the skip link and prove nothing).
    browser.js(
        "const p = document.createElement('span'); p.id = 'focus-probe'; p.tabIndex = 0;"
        "p.textContent = 'probe'; document.getElementById('main').append(p);"
    )
    first.send_keys(Keys.ENTER)
    browser.wait().until(lambda d: d.execute_script("return location.hash") == "#main")
    # Focus is at <main>: either <main> itself has focus (tabindex=-1), or Chromium moved the
    # sequential focus navigation starting point there, so the next Tab lands inside <main> and not
    # on the header's links that the skip link is for.
    if not browser.js("return document.activeElement === document.getElementById('main')"):
        browser.active().send_keys(Keys.TAB)
        inside = browser.js("return document.getElementById('main').contains(document.activeElement)")
        assert inside, (
            "after the skip link, Tab went to "
            + browser.js("return document.activeElement.outerHTML.slice(0, 120)")
        )


def test_language_switch_in_the_header(browser):
    from story import login

    login(browser, "anna")
    browser.follow("English")
    browser.wait_for_path("/")
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    browser.language = "en"  # the cookie wins over the browser's Accept-Language now
    browser.check("start-switched-to-english")
    assert "Abmelden" not in browser.text()
    browser.follow("Deutsch")
    browser.wait_for_path("/")
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert "Abmelden" in browser.text()


def test_a_page_behind_the_login_comes_back_after_it(browser):
    from story import PASSWORD

    browser.driver.get(browser.url("/eingang"))
    browser.wait_for_path(r"/anmelden\?weiter=.*")
    browser.check("login-for-inbox")
    browser.fill("username", "dora")
    browser.fill("password", PASSWORD)
    browser.press("Anmelden", within=browser.find(By.CSS_SELECTOR, "main form"))
    browser.wait_for_path("/eingang")
    browser.check("inbox-dora")


def test_wrong_password_is_said_next_to_the_form(browser):
    browser.open("/anmelden", "login")
    browser.fill("username", "anna")
    browser.fill("password", "falsch")
    browser.press("Anmelden", within=browser.find(By.CSS_SELECTOR, "main form"))
    assert "Benutzername oder Passwort sind nicht richtig." in browser.find(By.ID, "form-errors").text
    assert browser.field("username").get_attribute("value") == "anna", "the user name is kept"
    browser.check("login-failed", english=False, status_page=True)  # 401, the form again


def test_a_form_without_its_csrf_token_gets_the_friendly_403_page(browser):
    from story import login

    login(browser, "anna")
    # as a forged form from another site would arrive: without the session's token
    browser.js("document.querySelector('form[action=\"/abmelden\"] input[name=_csrf]').remove()")
    browser.press("Abmelden")
    assert "Keine Berechtigung" in browser.text()
    assert "es wurde nichts geändert" in browser.text()
    browser.check("csrf-refused", english=False, status_page=True)
