"""The board's web page: rendered from the entries alone, static, and working in a real browser (Debian's
chromium through selenium; `.ci/run` installs both — CI never skips the browser test)."""

from __future__ import annotations

import copy
import os
import re
import shutil

import pytest

from benchmark import entries as E
from benchmark.publish import check_board
from benchmark.webpage import render_page
from tests.conftest import REPO

BOARD = REPO / "leaderboard"


# the operating points LEADERBOARD.md names (nearest 50% FLOPs removed, by size)
TABLE4_POINTS = {"prune-filters": "prune-filters(iterations=6,finetune_epochs=1)",
                 "prune-layers": "prune-layers(iterations=4,finetune_epochs=1)",
                 "prune-both": "prune-both(iterations=6,finetune_epochs=1)"}


def _published() -> list[dict]:
    return E.load_entries(BOARD / "entries")


def test_the_page_is_static_and_holds_every_entry():
    page = render_page(_published(), BOARD / "entries")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from elsewhere
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    names = [e["name"] for e in _published()]
    # nine Table-4 rows (three of them operating points), the other 36 curve points, and the Tables 2-3 variants
    # (their number grows as Table 2's adjustments land: counted from the entry files, not by the loader)
    files = [f.name for f in (BOARD / "entries").glob("*.json")]
    variants = [f for f in files if "_adjustment=" in f or "_criterion=" in f]
    assert len(names) == len(files) == 9 + 36 + len(variants) and len(variants) >= 5
    table4 = {n for n in names if "(" not in n} | {TABLE4_POINTS[e["defense"]] for e in _published()
                                                   if e["defense"] in TABLE4_POINTS}
    assert len(table4) == 9
    for name in names:  # Table 4 and the full-suite table; a curve point off Table 4 in the full-suite table only
        assert page.count(f'<tr data-name="{name}">') == (2 if name in table4 else 1), name
        assert f'<section class="detail" id="detail-{name}" hidden>' in page
    assert 'src="plot-resnet20-quick.png"' in page and (BOARD / "plot-resnet20-quick.png").is_file()


def test_the_committed_page_is_the_rendering_of_the_entries(tmp_path):
    assert check_board(BOARD) == []
    board = tmp_path / "board"
    shutil.copytree(BOARD / "entries", board / "entries")
    shutil.copy(BOARD / "LEADERBOARD.md", board / "LEADERBOARD.md")
    page = render_page(E.load_entries(board / "entries"), board / "entries")
    (board / "index.html").write_text(page.replace("86.60 ± 0.36", "88.60 ± 0.36", 1))  # an edited number
    problems = check_board(board)
    assert len(problems) == 2 and all(p.startswith(f"{board / 'index.html'}: ") for p in problems)
    assert problems[0].startswith(f"{board / 'index.html'}: -") and "88.60 ± 0.36" in problems[0]


def test_a_checkpoint_hash_is_shown_and_a_missing_file_says_so(tmp_path):
    e = next(x for x in _published() if x["name"] == "cutout")
    page = render_page([e], BOARD / "entries")
    import hashlib

    want = hashlib.sha256((BOARD / "staging" / "quick" / "resnet20-quick-s0-cutout.pt").read_bytes()).hexdigest()
    assert f"seed 0: ../staging/quick/resnet20-quick-s0-cutout.pt (sha256 {want})" in page
    assert "(sha256 missing)" in render_page([e], tmp_path)


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
    if not (chromium and driver and webdriver):
        msg = "a real browser is needed: apt-get install chromium chromium-driver; pip install selenium"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=opts)
    yield b
    b.quit()


@pytest.mark.slow
def test_in_a_real_browser_sort_by_average_open_a_detail_and_fit_a_phone(browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get((BOARD / "index.html").as_uri())
    table = browser.find_element(By.ID, "table4-resnet20-quick")
    rows = lambda: [r.get_attribute("data-name") for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # noqa: E731
    entries = [e for e in _published() if "(" not in e["name"] or e["name"] in TABLE4_POINTS.values()]
    assert len(entries) == 9
    assert rows() == [e["name"] for e in sorted(entries, key=lambda e: (e["name"] != "baseline",
                                                                          e["defense"].startswith("prune"), e["name"]))]
    table.find_element(By.CSS_SELECTOR, 'th[data-col="average"]').click()  # first click: descending
    by_average = sorted((e for e in entries if e["deltas"]), key=lambda e: -e["deltas"]["average"]["mean"])
    assert rows() == [e["name"] for e in by_average] + ["baseline"]  # no delta: last
    table.find_element(By.CSS_SELECTOR, 'th[data-col="average"]').click()
    assert rows() == [e["name"] for e in reversed(by_average)] + ["baseline"]

    detail = browser.find_element(By.ID, "detail-cutout")
    assert not detail.is_displayed()
    table.find_element(By.CSS_SELECTOR, 'button[data-detail="cutout"]').click()
    assert detail.is_displayed()
    cutout = next(e for e in entries if e["name"] == "cutout")
    assert cutout["compute"]["precision"] in detail.text and cutout["code_versions"][0] in detail.text
    assert not browser.find_element(By.ID, "detail-mixup").is_displayed()

    box = browser.find_element(By.CSS_SELECTOR, 'input[value="fgsm"]')
    full = browser.find_element(By.ID, "full-resnet20-quick")
    assert full.find_element(By.CSS_SELECTOR, 'th[data-threat="fgsm"]').is_displayed()
    box.click()  # the per-threat toggle hides that column
    assert not full.find_element(By.CSS_SELECTOR, 'th[data-threat="fgsm"]').is_displayed()

    browser.set_window_size(390, 844)  # a phone: the page does not overflow, its tables scroll inside it
    browser.get((BOARD / "index.html").as_uri())
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    shot = tmp_path / "leaderboard-phone.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_a_detail_view_lists_each_part_of_a_threat(tmp_path):
    e = copy.deepcopy(next(x for x in _published() if x["name"] == "cutout"))
    e["threats"]["clean"]["parts"] = {"fog/1": 0.8, "snow/2": 0.3125}
    assert "<dt>Clean by part (%)</dt><dd>fog/1 80.00, snow/2 31.25</dd>" in render_page([e], tmp_path)
