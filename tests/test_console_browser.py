"""The web console in a real headless Chromium, driven by Selenium: what an operator does, seen as
the browser renders it (the scripts CSP allows, SameSite cookies, the Origin a form sends).

Needs /usr/bin/chromium and /usr/bin/chromedriver (``bash tests/tools/ensure-chromium.sh``) and
selenium (the ``test`` extra). Without them the test is skipped, except in CI (``CI`` set), where
it fails. Screenshots go to tests/artifacts/console/.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from tests.support import ROOT, RunningGateway, free_port, running_gateway
from tests.test_console import ADMIN_TOKEN, MARKUP_TOOL, console_settings, mcp_call

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.timeout(180)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"


def _missing() -> list[str]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


def _need_a_browser() -> None:
    """Skip without a browser, except in CI, where the console must be proven."""
    missing = _missing()
    if not missing:
        return
    reason = (
        f"the console's browser test needs {', '.join(missing)}: run `bash tests/tools/ensure-chromium.sh` "
        "and `pip install -e .[test]`"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _driver(tmp: Path) -> WebDriver:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    # The driver named, so Selenium Manager never looks for one on the network.
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@dataclass
class Operator:
    """A browser logged in (or not) to one gateway's console."""

    driver: WebDriver
    gateway: RunningGateway
    origin: str

    def open(self, path: str) -> None:
        self.driver.get(self.origin + "/console" + path)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self) -> str:
        return str(self.find("body").text)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def submit(self, button: Any, *, confirm: bool = False) -> None:
        """Click a form's button and wait for the page it leads to (after the confirmation)."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.find("html")
        button.click()
        if confirm:
            WebDriverWait(self.driver, 5).until(expected_conditions.alert_is_present())
            self.driver.switch_to.alert.accept()
        WebDriverWait(self.driver, 10).until(expected_conditions.staleness_of(page))

    def log_in(self, token: str) -> None:
        self.open("/login")
        self.find("#token").send_keys(token)
        self.submit(self.find("#login"))

    def press(self, row_text: str, label: str, *, confirm: bool = False) -> None:
        """Press the button ``label`` in the first table row that mentions ``row_text`` and has one."""
        buttons = (
            button
            for row in self.finds("tbody tr")
            if row_text in row.text
            for button in row.find_elements("css selector", "button")
        )
        button = next(b for b in buttons if b.text == label)
        self.submit(button, confirm=confirm)

    def not_scripted(self) -> None:
        """No markup from a server or client ran or became an element."""
        assert "pwned" not in self.driver.title
        assert not self.finds("main img") and not self.finds("main script")


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    _need_a_browser()
    tmp = Path(tmp_path_factory.mktemp("console-browser"))
    port = free_port()
    with running_gateway(tmp, console_settings(tmp, port)) as gateway:
        driver = _driver(tmp)
        try:
            yield Operator(driver, gateway, f"http://127.0.0.1:{port}")
        finally:
            driver.quit()
        assert "Traceback" not in gateway.log()


def test_a_wrong_token_is_refused(operator: Operator) -> None:
    operator.log_in("pca_not_the_admin_token")
    assert "That is not the admin token." in operator.text()
    assert not operator.finds("nav a")  # no page of the console without a login
    operator.shot("login-refused")
    operator.open("/keys")
    assert operator.driver.current_url.endswith("/console/login")


def test_log_in_and_watch_the_numbers_move(operator: Operator) -> None:
    operator.log_in(ADMIN_TOKEN)
    assert operator.driver.current_url.endswith("/console/")
    before = operator.find('[data-metric="requests"]').text
    mcp_call(operator.gateway, "alpha__echo")
    # console.js (script-src 'self') fetches /console/metrics.json every 5 seconds.
    eventually(lambda: operator.find('[data-metric="requests"]').text != before)
    operator.shot("overview")


def _listed(gateway: RunningGateway) -> str:
    headers = {**gateway.headers(), "content-type": "application/json"}
    from tests.support import INITIALIZE

    opened = httpx2.post(gateway.url, json=INITIALIZE, headers=headers, timeout=30)
    headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    return httpx2.post(gateway.url, json=listing, headers=headers, timeout=30).text


def test_approve_a_changed_pin(operator: Operator) -> None:
    assert '"alpha__echo"' not in _listed(operator.gateway)  # quarantined: it changed since approved
    operator.open("/tools")
    operator.not_scripted()
    assert '<script>document.title="pwned"</script>' in operator.text()  # shown, as text
    served = next(r for r in operator.finds("table.served tbody tr") if r.text.startswith("alpha__echo"))
    assert "changed" in served.text  # what alpha serves now, beside its pin's state
    operator.shot("tools-changed")
    operator.press("echo", "Approve")
    assert "Approved tool echo of alpha" in operator.text()
    row = next(r for r in operator.finds("tbody tr") if r.text.startswith("tool echo"))
    assert "approved" in row.text
    operator.shot("tools-approved")
    eventually(lambda: '"alpha__echo"' in _listed(operator.gateway))  # within the pins' recheck time


def test_create_then_revoke_a_key(operator: Operator) -> None:
    operator.open("/keys")
    operator.find("#user").send_keys("alice")
    operator.find("#key-name").send_keys("browser")
    operator.submit(operator.find("#create-key"))
    key = operator.find("#new-key").text
    ident = operator.text().split("New key ", 1)[1].split(" ", 1)[0]
    assert key.startswith("pcs_") and mcp_call(operator.gateway, "alpha__echo", key)[0] == 200
    operator.open("/keys")
    assert key not in operator.driver.page_source  # shown once
    operator.press(ident, "Revoke", confirm=True)
    assert f"Key {ident} is revoked" in operator.text()
    operator.shot("keys-revoked")
    assert mcp_call(operator.gateway, "alpha__echo", key)[0] == 401


def test_a_blocked_call_appears_among_the_decisions(operator: Operator) -> None:
    mcp_call(operator.gateway, "alpha__crash")
    mcp_call(operator.gateway, MARKUP_TOOL)
    operator.open("/decisions")
    operator.not_scripted()
    rows = [r.text for r in operator.finds("tbody tr")]
    assert any("deny" in r and "no-crash" in r and "crash" in r and "alice" in r for r in rows), rows
    assert any("no-markup" in r and "<img src=x" in r for r in rows), rows
    operator.shot("decisions")


def _evil_site(directory: Path, target: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    """A page on another origin of the same site (127.0.0.1, another port): SameSite=Strict
    cookies go with its requests, so only the Origin check and the CSRF token stop it."""
    (directory / "index.html").write_text(
        f'<form method="post" action="{target}"><input name="id" value="alice-x">'
        '<button id="go" type="submit">win a prize</button></form>'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_another_origin_cannot_post(operator: Operator, tmp_path: Path) -> None:
    server, port = _evil_site(tmp_path, operator.origin + "/console/keys/revoke")
    try:
        operator.driver.get(f"http://127.0.0.1:{port}/index.html")
        operator.submit(operator.find("#go"))
        assert "a page of another origin may not use the console" in operator.text()
        operator.shot("cross-origin-refused")
    finally:
        server.shutdown()
        server.server_close()
    operator.open("/keys")  # still logged in; the refused form did nothing (not even fail)
    assert operator.finds("nav a") and "alice-x" not in operator.text()
