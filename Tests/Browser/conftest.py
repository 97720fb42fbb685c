"""Fixtures of the browser suite: headless Chromium (Debian's) driven by selenium, and one helper,
`Browser.check`, that every visited page goes through: axe-core (German and English), screenshots at
320 and 1440 px, no horizontal scrolling at 320 px, no browser console errors.

Run it with scripts/browser-tests (it starts the server and sets FREIGABE_BROWSER_BASE_URL).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

BASE_URL = os.environ.get("FREIGABE_BROWSER_BASE_URL", "").rstrip("/")
SCREENSHOTS = Path(os.environ.get("FREIGABE_BROWSER_SCREENSHOTS", ".local/screenshots"))
CHROMIUM = os.environ.get("FREIGABE_BROWSER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FREIGABE_BROWSER_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_SECONDS = 10
WIDTHS = (320, 1440)
# Screenshots of the English pass too (the German ones are always taken): FREIGABE_BROWSER_SCREENSHOTS_EN=1.
SCREENSHOTS_EN = os.environ.get("FREIGABE_BROWSER_SCREENSHOTS_EN") == "1"

# Selenium Manager must not try to download a browser or driver: only PyPI and Debian are reachable.
os.environ.setdefault("SE_OFFLINE", "true")


def _axe_script() -> str:
    """axe-core 4.x as shipped by axe-playwright-python (see requirements.txt), found without
    importing that package (which would import playwright, deliberately not installed)."""
    spec = importlib.util.find_spec("axe_playwright_python")
    assert spec and spec.submodule_search_locations, "axe-playwright-python is not installed"
    path = Path(list(spec.submodule_search_locations)[0]) / "axe.min.js"
    assert path.is_file(), f"{path} is missing"
    return str(path)


AXE_SCRIPT = _axe_script()

# Every rule axe-core runs by default (WCAG 2.0/2.1/2.2 A and AA and best practices); results only for
# violations (incomplete ones are for people to look at, not a failure).
AXE_OPTIONS = {"resultTypes": ["violations"]}


def pytest_configure(config: pytest.Config) -> None:
    if not BASE_URL:
        raise pytest.UsageError("FREIGABE_BROWSER_BASE_URL is not set: run scripts/browser-tests")
    host = urlsplit(BASE_URL).hostname
    if host != "127.0.0.1":
        raise pytest.UsageError(f"the suite talks to 127.0.0.1 only, not {host}")


def new_driver(language: str = "de-DE") -> WebDriver:
    """Headless Chromium whose Accept-Language is `language` (both the UI language and the
    intl.accept_languages preference, which is what Chromium sends)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    if os.geteuid() == 0:
        # Chromium refuses to start as root with its sandbox (it would need to drop to an unprivileged
        # user it does not have); CI and these machines run everything as root. The browser only ever
        # loads our own pages from 127.0.0.1, so running it unsandboxed exposes nothing else.
        options.add_argument("--no-sandbox")
    options.add_argument(f"--lang={language}")
    options.add_argument("--window-size=1440,900")
    options.add_argument("--disable-extensions")
    options.add_argument("--no-first-run")
    options.add_argument("--disable-background-networking")
    options.add_argument("--disable-component-update")
    options.add_argument("--disable-sync")
    options.add_argument("--disable-search-engine-choice-screen")
    options.add_argument("--password-store=basic")
    options.add_experimental_option(
        "prefs",
        {
            "intl.accept_languages": language,
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
            "profile.password_manager_leak_detection": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


# A page's HTML without the values that change on every request (CSRF and idempotency tokens).
PAGE_KEY = """
const root = document.documentElement.cloneNode(true);
for (const e of root.querySelectorAll("input[name=_csrf], input[name=idempotency_key]")) e.removeAttribute("value");
return document.documentElement.lang + "\\n" + root.outerHTML;
"""

# When the document is wider than the window: the outermost elements that stick out to the right
# (tag, id, the start of their text), and whether each is (inside) a <table>.
WIDE_ELEMENTS = """
const width = arguments[0];
if (document.documentElement.scrollWidth <= width) return null;
const out = [];
for (const e of document.body.querySelectorAll('*')) {
  if (e.getBoundingClientRect().right <= width + 0.5) continue;
  if (out.some(o => o.contains(e))) continue;
  out.push(e);
}
return {width: document.documentElement.scrollWidth, elements: out.slice(0, 5).map(e => ({
  what: '<' + e.tagName.toLowerCase() + (e.id ? ' id=' + e.id : '') + '> ' +
        (e.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50),
  table: !!e.closest('table')}))};
"""


class Browser:
    """One Chromium window with the suite's page check. Use `open` to go to a path and `check` after
    every navigation a click or a form submission caused."""

    _counter = 0  # numbers the screenshots across the whole run, in visiting order
    # Pages already checked in this run, by their HTML without the per-form random tokens: the login
    # page or a start page seen again is not checked again (the suite logs in some 30 times).
    _checked: set[str] = set()

    def __init__(self, driver: WebDriver, test_name: str, language: str = "de") -> None:
        self.driver = driver
        self.test_name = _slug(test_name)
        self.language = language
        self.visited: list[str] = []
        self.problems: list[str] = []

    # ------------------------------------------------------------------ navigation

    def url(self, path: str) -> str:
        return BASE_URL + path

    def open(self, path: str, name: str, *, english: bool = True, status_page: bool = False) -> None:
        """GET `path` and check the page (see `check`)."""
        self.driver.get(self.url(path))
        self.check(name, english=english, status_page=status_page)

    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def wait(self) -> WebDriverWait:
        return WebDriverWait(self.driver, WAIT_SECONDS)

    def wait_for_path(self, pattern: str) -> str:
        """Wait until the current path (with query) matches the regular expression; return it."""
        regex = re.compile(pattern)
        self.wait().until(lambda d: regex.fullmatch(self.path()) is not None,
                          f"path never matched {pattern!r}")
        return self.path()

    def wait_ready(self) -> None:
        self.wait().until(lambda d: d.execute_script("return document.readyState") == "complete")

    # ------------------------------------------------------------------ the one page check

    def check(self, name: str, *, english: bool = True, status_page: bool = False) -> None:
        """The check every visited page gets:
        - `<html lang>` is the browser's language,
        - axe-core reports no violation,
        - screenshots at 320 and 1440 px into .local/screenshots/,
        - at 320 px nothing scrolls sideways (WCAG 1.4.10 reflow),
        - no Swift value shown as text ("nil", "Optional("),
        - no error in the browser console (CSP refusals, missing files); `status_page` allows the one
          console line Chromium writes for an intended 4xx answer of the page itself;
        then, with `english`, the same again in English (the page is fetched again by GET with
        Accept-Language: en, then once more in the browser's own language so the test goes on in it).
        Pass english=False only for a page that is not the answer to a GET (a form shown again after a
        POST): fetching its URL again would not show the same page."""
        self.wait_ready()
        key = hashlib.sha256(self.js(PAGE_KEY).encode()).hexdigest()
        if key in Browser._checked:
            self._console_errors(status_page)  # drain the log; the page itself was checked before
            return
        Browser._checked.add(key)
        self._check_one(name, self.language, status_page)
        if english and self.language != "en":
            url = self.driver.current_url
            self._set_accept_language("en")
            try:
                self.driver.get(url)
                self.wait_ready()
                self._check_one(name, "en", status_page)
            finally:
                self._set_accept_language(None)
            self.driver.get(url)
            self.wait_ready()
            self._console_errors(status_page)  # drain

    def _check_one(self, name: str, language: str, status_page: bool) -> None:
        Browser._counter += 1
        label = f"{Browser._counter:03d}-{self.test_name}-{_slug(name)}-{language}"
        self.visited.append(f"{label} {self.path()}")
        lang = self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") or ""
        assert lang.split("-")[0] == language.split("-")[0], (
            f"{self.path()}: <html lang={lang!r}>, the browser asked for {language!r}"
        )
        errors = self._console_errors(status_page)
        assert not errors, f"{self.path()} ({language}): browser console errors:\n" + "\n".join(errors)
        # Defects of the page (axe, reflow) are collected, so the story goes on and one run shows all
        # of them; the test fails at its end (see the `browser` fixture) when there was any.
        violation = self._axe(language)
        if violation:
            self.problems.append(violation)
        # A Swift value printed as Swift prints it (Mustache rendered a missing optional as "nil" in every
        # timeline entry and inbox row once): no page text says "nil" or "Optional(".
        text = self.driver.find_element(By.TAG_NAME, "body").text
        leaked = re.findall(r"(?:^|\W)(nil|Optional\()(?:\W|$)", text)
        if leaked:
            self.problems.append(f"{self.path()} ({language}): Swift values shown as text: {leaked}")
        for width in WIDTHS:
            keep = language == self.language or SCREENSHOTS_EN
            wide = self._screenshot(SCREENSHOTS / f"{label}-{width}.png" if keep else None, width)
            if not wide:
                continue
            where = " | ".join(e["what"] for e in wide["elements"])
            message = f"{self.path()} ({language}): at {width} px the page is {wide['width']} px wide: {where}"
            if all(e["table"] for e in wide["elements"]):
                # WCAG 1.4.10 exempts data tables (two-dimensional content): noted, not failed.
                with open(SCREENSHOTS / "notes.txt", "a", encoding="utf-8") as notes:
                    notes.write(f"{label}: {message} (only a data table: allowed by WCAG 1.4.10)\n")
            else:
                self.problems.append(f"{message} (scrolls sideways; WCAG 1.4.10 reflow)")

    def _axe(self, language: str) -> str | None:
        axe = Axe(self.driver, script_url=AXE_SCRIPT)
        axe.inject()
        results = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, arguments[0]).then(r => done(r), e => done({error: String(e)}));",
            AXE_OPTIONS,
        )
        assert "error" not in results, f"axe-core failed: {results['error']}"
        violations = results["violations"]
        if violations:
            lines = [f"axe-core {results.get('testEngine', {}).get('version')}: "
                     f"{len(violations)} violation(s) on {self.path()} ({language})"]
            for v in violations:
                lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
                for node in v["nodes"]:
                    lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:200]}")
                    summary = node.get("failureSummary")
                    if summary:
                        lines.append("      " + summary.replace("\n", "\n      "))
            return "\n".join(lines)
        return None

    def _screenshot(self, path: Path | None, width: int) -> dict | None:
        """A full-page PNG at `width` CSS pixels (none without `path`). At the narrowest width, returns
        what sticks out to the right when the page scrolls sideways (else None)."""
        if path is None and width != min(WIDTHS):
            return None
        d = self.driver
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 800}
        try:
            d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            height = d.execute_script(
                "return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))"
            )
            metrics["height"] = max(200, min(int(height), 12000))
            d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            wide = None
            if width == min(WIDTHS):
                wide = d.execute_script(WIDE_ELEMENTS, width)
            if path is not None:
                shot = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(shot["data"]))
            return wide
        finally:
            d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def _set_accept_language(self, language: str | None) -> None:
        if language is None:
            self.driver.execute_cdp_cmd("Network.setUserAgentOverride", {
                "userAgent": self._user_agent(), "acceptLanguage": self._browser_accept_language()})
        else:
            self.driver.execute_cdp_cmd("Network.setUserAgentOverride", {
                "userAgent": self._user_agent(), "acceptLanguage": language})

    def _user_agent(self) -> str:
        if not hasattr(self, "_ua"):
            self._ua = self.driver.execute_script("return navigator.userAgent")
        return self._ua

    def _browser_accept_language(self) -> str:
        return {"de": "de-DE,de", "en": "en"}.get(self.language, self.language)

    def _console_errors(self, status_page: bool) -> list[str]:
        entries = self.driver.get_log("browser")
        errors = []
        for e in entries:
            if e.get("level") != "SEVERE":
                continue
            message = e.get("message", "")
            if status_page and re.search(r"Failed to load resource: the server responded with a status of 4\d\d", message) \
                    and message.startswith(self.driver.current_url):
                continue
            errors.append(message)
        return errors

    # ------------------------------------------------------------------ small helpers for tests

    def find(self, by: str, value: str):
        return self.wait().until(lambda d: d.find_element(by, value), f"no element {by}={value!r}")

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def active(self):
        return self.driver.switch_to.active_element

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    # ------------------------------------------------------------------ forms, by field name and label

    def field(self, name: str):
        """The form control named `name` (the API's field names; never a CSS class)."""
        return self.find(By.NAME, name)

    def fill(self, name: str, value: str) -> None:
        element = self.field(name)
        element.clear()
        element.send_keys(value)

    def choose(self, name: str, value: str) -> None:
        """Tick the radio button (or pick the <select> option) `value` of the field `name`."""
        element = self.field(name)
        if element.tag_name == "select":
            from selenium.webdriver.support.select import Select

            Select(element).select_by_value(value)
            return
        radio = self.driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']")
        # Click its label, as a person does (the input itself may be drawn by CSS).
        label = self.driver.find_elements(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']")
        (label[0] if label else radio).click()
        assert radio.is_selected(), f"{name}={value} not selected"

    def expect(self, condition: bool, message: str) -> None:
        """A check whose failure is recorded and reported at the end of the test (like a page defect)
        instead of stopping the story: for what a page lacks while the story can still go on."""
        if not condition:
            self.problems.append(f"{self.path()}: {message}")

    def choose_label(self, name: str, label: str) -> None:
        """Pick the option of the <select> `name` whose visible text is `label`."""
        from selenium.webdriver.support.select import Select

        Select(self.field(name)).select_by_visible_text(label)

    def button(self, label: str, within=None):
        """The button (or submit input) whose visible text is `label` (exactly, spaces trimmed)."""
        root = within or self.driver
        for element in root.find_elements(By.CSS_SELECTOR, "button, input[type=submit]"):
            text = (element.text or element.get_attribute("value") or "").strip()
            if text == label and element.is_displayed():
                return element
        shown = [(e.text or e.get_attribute("value") or "").strip()
                 for e in root.find_elements(By.CSS_SELECTOR, "button, input[type=submit]")]
        raise AssertionError(f"{self.path()}: no button {label!r}; buttons: {shown}")

    def press(self, label: str, within=None) -> None:
        """Click the button `label` and wait for the next page to load."""
        element = self.button(label, within)
        html = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        self.wait().until(lambda d: _stale(html), f"pressing {label!r} loaded no page")
        self.wait_ready()

    def link(self, text: str):
        """The link whose visible text contains `text`."""
        links = [a for a in self.driver.find_elements(By.TAG_NAME, "a") if text in a.text and a.is_displayed()]
        assert links, f"{self.path()}: no link with {text!r}"
        return links[0]

    def follow(self, text: str) -> None:
        element = self.link(text)
        html = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        self.wait().until(lambda d: _stale(html), f"following {text!r} loaded no page")
        self.wait_ready()


def _stale(element) -> bool:
    try:
        element.tag_name
        return False
    except Exception:  # StaleElementReferenceException: the old page is gone
        return True


def _browser(request: pytest.FixtureRequest, language: str):
    driver = new_driver(language)
    browser = Browser(driver, request.node.name, language.split("-")[0])
    try:
        yield browser
    finally:
        driver.quit()
    if browser.problems:
        pytest.fail(
            f"{len(browser.problems)} page defect(s) found on the way:\n\n" + "\n\n".join(browser.problems),
            pytrace=False,
        )


@pytest.fixture
def browser(request: pytest.FixtureRequest):
    """A fresh German Chromium (own cookies) for one test."""
    yield from _browser(request, "de-DE")


@pytest.fixture
def english_browser(request: pytest.FixtureRequest):
    """A Chromium started with --lang=en and intl.accept_languages=en."""
    yield from _browser(request, "en")
