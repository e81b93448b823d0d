"""The leaderboard site in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Opens the page over file://, sorts a column, filters rows, and finds no console error and no broken image.
Nothing is downloaded: Selenium is pointed at the system's driver and browser, so Selenium Manager never runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from site_records import fake_record, write_records

from reports.leaderboard_cli import build_leaderboard

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[1]

if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                "install them as root: apt-get install -y chromium chromium-driver", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs the selenium package (pip install selenium)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site") / "reports"
    records = [fake_record("alpha", "random", acc, seed=s) for s, acc in enumerate([80.0, 82.0, 84.0])]
    records += [fake_record("alpha", "ld", 90.0, label_kind="soft"), fake_record("alpha", "herding", 75.0),
                fake_record("alpha", "dc", None),  # failed only: no accuracy, sorts last either way
                fake_record("beta", "rded", 70.0, ipc=10, label_kind="online", robustness={"flip_acc": 50.0}),
                fake_record("beta", "random", 60.0, ipc=10)]
    write_records(root, records)
    shutil.copy(REPO / "reports" / "quick" / "fig_accuracy_digits.png", root / "alpha" / "fig_accuracy_digits.png")
    (root / "alpha" / "leaderboard.md").write_text("# Leaderboard: `alpha`\n")
    build_leaderboard(root, None, root / "LEADERBOARD.md", root / "site")
    return root / "site" / "index.html"


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(site.as_uri())
        yield driver
    finally:
        driver.quit()


def _table(driver: webdriver.Chrome, dataset: str, ipc: str):
    return driver.find_element(By.CSS_SELECTOR, f'section.board[data-dataset="{dataset}"][data-ipc="{ipc}"] table')


def _column(table, header: str) -> list[str]:
    heads = [h.text for h in table.find_elements(By.CSS_SELECTOR, "thead th")]
    i = heads.index(header)
    return [tr.find_elements(By.TAG_NAME, "td")[i].text for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


def _click_header(table, header: str) -> None:
    next(b for b in table.find_elements(By.CSS_SELECTOR, "thead th button") if b.text == header).click()


def test_page_loads_without_console_errors_or_broken_images(browser):
    assert browser.title == "ddbench leaderboard"
    images = browser.execute_script("return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);")
    assert images, "the site shows the suites' figures"
    assert all(complete and width > 0 for _, complete, width in images), images
    assert browser.find_element(By.ID, "shown").text == "6 of 6 rows shown"  # the script ran
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    browser.execute_script("console.error('log probe');")  # the log really is read: a console error shows up
    assert any("log probe" in e["message"] for e in browser.get_log("browser"))


def test_sorting_a_column(browser):
    table = _table(browser, "digits", "1")
    assert _column(table, "method") == ["ld", "random", "herding", "dc"]  # as written: best first
    _click_header(table, "test acc (%)")
    assert _column(table, "test acc (%)") == ["75.00", "82.00", "90.00", "-"]  # ascending, missing last
    assert _column(table, "method") == ["herding", "random", "ld", "dc"]
    _click_header(table, "test acc (%)")
    assert _column(table, "test acc (%)") == ["90.00", "82.00", "75.00", "-"]  # descending, missing still last
    th = next(h for h in table.find_elements(By.CSS_SELECTOR, "thead th") if h.text.startswith("test acc"))
    assert th.get_attribute("aria-sort") == "descending"
    _click_header(table, "method")
    assert _column(table, "method") == ["dc", "herding", "ld", "random"]


def test_filtering_rows(browser):
    regime = Select(browser.find_element(By.ID, "f-regime"))
    regime.select_by_value("learned")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.lb tbody tr")
    assert [r.get_attribute("data-suite") + "/" + r.find_elements(By.TAG_NAME, "td")[1].text
            for r in rows if r.is_displayed()] == ["alpha/ld"]
    assert not _table(browser, "digits", "10").is_displayed()  # a table left with no rows is hidden
    assert browser.find_element(By.ID, "shown").text == "1 of 6 rows shown"
    regime.select_by_value("")
    box = browser.find_element(By.ID, "q")
    box.send_keys("RDED")
    visible = [r for r in browser.find_elements(By.CSS_SELECTOR, "table.lb tbody tr") if r.is_displayed()]
    assert [r.get_attribute("data-regime") for r in visible] == ["online soft"]
    assert not _table(browser, "digits", "1").is_displayed()
    box.clear()
    box.send_keys(" ")  # an input event with an empty query shows every row again
    assert browser.find_element(By.ID, "shown").text == "6 of 6 rows shown"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
