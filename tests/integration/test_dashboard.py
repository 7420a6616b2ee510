"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by selenium) against a
real `ramp serve`, real Redis and real workers: its figures are `ramp status --json`'s, a pause made on the page
reaches the workers, and a control without the operator token is refused."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ses_ramp.producers import Producer
from ses_ramp.worker.guards.pause import flags
from tests.helpers import accepted_by_moto, ramp, wait_for
from tests.integration.test_http_service import AUTH, BIG, serve  # noqa: F401 - the fixture

OPERATOR = "operator-token-4b1d"
OPERATOR_ENV = {"RAMP_DASHBOARD_TOKEN_SHA256": hashlib.sha256(OPERATOR.encode()).hexdigest()}
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def sign_in(browser, base: str, name: str = "ana") -> None:
    browser.get(f"{base}/dashboard")
    browser.find_element(By.NAME, "token").send_keys(OPERATOR)
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(lambda: browser.find_elements(By.ID, "today"), 10, 0.05, "the dashboard after sign-in")


def figure(browser, name: str) -> int:
    return int(re.sub(r"[^\d]", "", browser.find_element(By.CSS_SELECTOR, f'[data-figure="{name}"]').text))


def enqueue(s, kind: str, n: int, tag: str) -> set[str]:
    p = Producer(s)
    try:
        return {r.id for r in p.enqueue_many({"to": [f"{tag}{i}@example.com"], "subject": tag, "text": "x", "kind": kind,
                                              **({"list": "news"} if kind == "bulk" else {})} for i in range(n))}
    finally:
        p.close()


def test_the_dashboard_shows_what_ramp_status_says_at_phone_width_too(settings, serve, browser, runtime):  # noqa: F811
    base = serve(settings, **OPERATOR_ENV)
    enqueue(settings, "bulk", 7, "wait")
    enqueue(settings, "transactional", 3, "tx")
    runtime.budget.status()  # today's budget opened, as the first gate call opens it
    for i in range(2):  # two messages a worker met while bulk was paused: deferred, with that reason
        runtime.deferrals.defer({"id": f"held-{i}", "kind": "bulk", "to": [f"h{i}@example.com"]}, 0, 60, "paused:bulk")
    sign_in(browser, base)
    status = json.loads(ramp(settings, "status", "--json").stdout)
    shown = {name: figure(browser, name) for name in ("cap", "used", "sent", "transactional_reserve", "hour_allowance", "deferred",
                                                     "dead", "unconfirmed", "suppressed", "queue@bulk", "queue@transactional")}
    assert shown == {"cap": status["cap"], "used": status["used"], "sent": status["sent"],
                     "transactional_reserve": status["transactional_reserve"], "hour_allowance": status["hour_allowance"],
                     "deferred": status["deferred"], "dead": status["dead"], "unconfirmed": status["unconfirmed"],
                     "suppressed": status["suppressed"], "queue@bulk": 7, "queue@transactional": 3}
    assert status["queues"] == {"bulk": 7, "transactional": 3}
    assert browser.find_element(By.CSS_SELECTOR, '[data-figure="breaker_level"]').text == status["breaker"]["level"]
    shown_reasons = {e.get_attribute("data-deferred"): int(re.sub(r"[^\d]", "", e.text.rsplit(" ", 1)[-1]))
                     for e in browser.find_elements(By.CSS_SELECTOR, "[data-deferred]")}
    assert shown_reasons == status["deferred_by_reason"]["counts"] == {"paused:bulk": 2}
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RAMP_DOCS_SCREENSHOTS"):  # `make screenshots`: the docs' pictures come from this test
        browser.save_screenshot(str(DOCS_IMG / "dashboard.png"))
    browser.set_window_size(390, 1600)  # a phone: the page never scrolls sideways; wide tables scroll in their box
    browser.get(f"{base}/dashboard?day={status['date']}")
    assert browser.find_element(By.ID, "day").is_displayed()
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_a_pause_made_on_the_page_reaches_the_workers_and_records_who_and_why(settings, serve, browser, runtime, moto_ses, workers):  # noqa: F811
    s = settings.model_copy(update=BIG)
    base = serve(s, **OPERATOR_ENV)
    workers(count=1, concurrency=2, s=s)
    sign_in(browser, base, name="ana")
    browser.find_element(By.CSS_SELECTOR, '#pause-form input[name="reason"]').send_keys("newsletter has a broken link")
    Select(browser.find_element(By.CSS_SELECTOR, '#pause-form select[name="target"]')).select_by_visible_text("bulk")
    browser.find_element(By.ID, "pause").click()
    wait_for(lambda: browser.find_elements(By.ID, "flash"), 10, 0.05, "the page to say what was done")
    assert "paused bulk: newsletter has a broken link" in browser.find_element(By.ID, "flash").text
    assert flags(runtime.client, runtime.budget.keys)["bulk"]["by"] == "ana"
    bulk, tx = enqueue(s, "bulk", 5, "held"), enqueue(s, "transactional", 5, "flows")
    wait_for(lambda: len(accepted_by_moto(moto_ses, tx)) == 5, 60, 0.1, "transactional mail to go on")
    assert accepted_by_moto(moto_ses, bulk) == []
    assert "ana" in browser.find_element(By.ID, "controls").text  # the audit rows: who, what, why
    audit = json.loads(runtime.client.lindex(runtime.budget.keys.audit, 0))
    assert (audit["by"], audit["action"], audit["target"], audit["reason"]) == ("ana", "pause", "bulk", "newsletter has a broken link")

    browser.find_element(By.CSS_SELECTOR, '#resume-form input[name="reason"]').send_keys("link fixed")
    Select(browser.find_element(By.CSS_SELECTOR, '#resume-form select[name="target"]')).select_by_visible_text("bulk")
    browser.find_element(By.ID, "resume").click()
    wait_for(lambda: len(accepted_by_moto(moto_ses, bulk)) == 5, 60, 0.1, "bulk to drain after the page's resume")


def test_controls_without_the_operator_token_or_from_another_site_are_refused(settings, serve, browser, runtime):  # noqa: F811
    base = serve(settings, **OPERATOR_ENV)
    pause = {"action": "pause", "target": "all", "reason": "x"}
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as http:
        assert http.post("/dashboard/control", data=pause).status_code == 401
        assert http.post("/dashboard/control", data=pause, headers=AUTH).status_code == 401  # an ingest token is not an operator's
        assert http.post("/dashboard/login", data={"token": "test-ingest-token-9f3c", "name": "x"}).status_code == 403
        signed = http.post("/dashboard/login", data={"token": OPERATOR, "name": "eve"})
        assert signed.status_code == 303
        assert http.post("/dashboard/control", data=pause).status_code == 403  # the cookie alone: no CSRF token
        sign_in(browser, base)
        csrf = browser.find_element(By.CSS_SELECTOR, '#pause-form input[name="csrf"]').get_attribute("value")
        other_site = http.post("/dashboard/control", data={**pause, "csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 403
        assert http.post("/dashboard/control", data={**pause, "csrf": "0" * 64}).status_code == 403
    assert flags(runtime.client, runtime.budget.keys) == {}
    assert runtime.client.llen(runtime.budget.keys.audit) == 0
