"""End to end in a real browser: ``streamlit run app.py`` on localhost, driven by Debian's
headless Chromium through Selenium. Opens every page, types a prompt, clicks a head
thumbnail, checks the full heatmap appears, checks that bad input gives a message (not a
traceback) and that the app keeps working; screenshots go to ``tmp_path``.

Needs ``chromium`` and ``chromium-driver`` (apt) and ``selenium`` (dev extras); skipped with
the reason when they are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
PAGES = {  # url path -> page title
    "": "Model and prompt",
    "attention": "Attention heads",
    "ioi": "IOI circuit",
    "lens": "Logit lens",
    "ffn": "FFN memories",
    "runs": "Runs",
}
WAIT = 90  # seconds: the first model load builds the reference model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``streamlit run app.py`` on a free port, with its own results store."""
    port = _free_port()
    results = tmp_path_factory.mktemp("browser-results")
    env = {
        **os.environ,
        "INTERP_RESULTS_DIR": str(results),
        "INTERP_CACHE_DIR": os.environ.get(
            "INTERP_CACHE_DIR", str(tmp_path_factory.mktemp("browser-cache"))
        ),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(tmp_path_factory.mktemp("browser-log") / "streamlit.log", "w+")  # noqa: SIM115
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"streamlit did not start:\n{log.read()[-3000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.seek(0)
    text = log.read()
    log.close()
    assert "Traceback" not in text, f"the server logged a traceback:\n{text[-3000:]}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "headless browser test needs Debian's chromium and chromedriver: "
            "apt-get install -y chromium chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1600,1200",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# -- helpers --------------------------------------------------------------------------------
def _wait(driver, condition, timeout: float = WAIT, what: str = "condition"):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # Streamlit re-renders elements between a find and a read: poll again, don't fail
    ignored = (StaleElementReferenceException,)
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.25, ignored_exceptions=ignored
        ).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}") from None


def _settled(driver) -> bool:
    """The script run is over (Streamlit marks its root element) and nothing is spinning."""
    from selenium.webdriver.common.by import By

    app = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
    if not app or app[0].get_attribute("data-test-script-state") != "notRunning":
        return False
    return not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSpinner"]')


def _open(driver, url: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    _wait(
        driver,
        lambda d: any(h.text.strip() == title for h in d.find_elements(By.TAG_NAME, "h1")),
        what=f"the page title {title!r}",
    )
    _wait(driver, _settled, what="the page to finish running")


def _navigate(driver, title: str) -> None:
    """Go to a page through the sidebar (the session, and so the prompt, is kept)."""
    from selenium.webdriver.common.by import By

    def link(d):
        links = d.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
        return next((a for a in links if a.text.strip().endswith(title)), None)  # after the icon

    _click(driver, link, what=f"the sidebar link {title!r}")
    _wait(
        driver,
        lambda d: any(h.text.strip() == title for h in d.find_elements(By.TAG_NAME, "h1")),
        what=f"the page title {title!r}",
    )
    time.sleep(0.5)
    _wait(driver, _settled, what="the page to finish running")


def _no_exception(driver) -> None:
    from selenium.webdriver.common.by import By

    shown = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not shown, f"the page shows an exception: {shown[0].text[:2000]}"


def _errors(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    alerts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    return [a.text for a in alerts]


def _type_prompt(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"] textarea')
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    if text:
        box.send_keys(text)
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    time.sleep(0.5)  # let the rerun start
    _wait(driver, _settled, what="the rerun after typing a prompt")


def _choose(driver, label: str, option: str) -> None:
    """Pick the option containing ``option`` in the sidebar selectbox labelled ``label``."""
    from selenium.webdriver.common.by import By

    def combobox(d):
        boxes = d.find_elements(
            By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stSelectbox"]'
        )
        box = next((b for b in boxes if b.text.startswith(label)), None)
        return None if box is None else box.find_element(By.CSS_SELECTOR, '[role="combobox"]')

    _click(driver, combobox, what=f"the selectbox {label!r}")
    xpath = f'//*[@role="option"][contains(normalize-space(.), "{option}")]'
    _click(driver, lambda d: d.find_element(By.XPATH, xpath), what=f"the option {option!r}")
    time.sleep(0.5)
    _wait(driver, _settled, what=f"the rerun after choosing {option!r}")


def _click(driver, find, what: str) -> None:
    """Find an element and click it, again if it went stale in between (Streamlit reruns)."""

    def attempt(d):
        element = find(d)
        if element is None:
            return False
        element.click()
        return True

    _wait(driver, attempt, what=what)


def _pick_head(driver, head: str) -> None:
    """Type ``head`` (e.g. "6.1") into the attention page's one head selector and pick it."""
    from selenium.webdriver.common.by import By

    def combobox(d):
        boxes = d.find_elements(
            By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stSelectbox"]'
        )
        box = next((b for b in boxes if b.text.startswith("Head")), None)
        return None if box is None else box.find_element(By.CSS_SELECTOR, "input")

    _click(driver, combobox, what="the head selector")
    combobox(driver).send_keys(head)
    xpath = f'//*[@role="option"][normalize-space(.)="{head}"]'
    _click(driver, lambda d: d.find_element(By.XPATH, xpath), what=f"the head {head!r}")
    time.sleep(0.5)
    _wait(driver, _settled, what=f"the rerun after picking head {head}")


def _click_cell(driver, layer: int, head: int, n_layers: int, n_heads: int) -> None:
    """Click cell (layer, head) of the head-score heatmap (the page's second plotly chart)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')
    area = charts[1].find_element(By.CSS_SELECTOR, ".nsewdrag")
    width, height = area.size["width"], area.size["height"]
    dx = (head + 0.5) / n_heads * width - width / 2
    dy = (layer + 0.5) / n_layers * height - height / 2  # layer 0 at the top
    ActionChains(driver).move_to_element_with_offset(area, int(dx), int(dy)).click().perform()
    time.sleep(0.5)
    _wait(driver, _settled, what=f"the rerun after clicking head {layer}.{head}")


def _button(driver, label: str):
    from selenium.webdriver.common.by import By

    xpath = f'//button[normalize-space(.)="{label}"]'
    _click(driver, lambda d: d.find_element(By.XPATH, xpath), what=f"the button {label!r}")


# -- the test -------------------------------------------------------------------------------
def test_pages_prompt_head_click_and_bad_input(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver = browser

    # every page renders without an exception
    for path, title in PAGES.items():
        _open(driver, f"{server}/{path}", title)
        _no_exception(driver)
        driver.save_screenshot(str(shots / f"{path or 'model'}.png"))

    # type a prompt: the model page shows the planted circuit's answer
    _open(driver, f"{server}/", PAGES[""])
    _type_prompt(driver, "When Alice and Bob went to the park, Bob gave a book to")
    _wait(
        driver,
        lambda d: "Alice" in d.find_element(By.CSS_SELECTOR, '[data-testid="stMetric"]').text,
        what="the top prediction ' Alice'",
    )
    driver.save_screenshot(str(shots / "prompt.png"))

    # pick a head: its token x token heatmap appears, with the prompt's tokens
    _navigate(driver, PAGES["attention"])
    _pick_head(driver, "6.1")
    _wait(
        driver,
        lambda d: any("head 6.1" in t.text for t in d.find_elements(By.CSS_SELECTOR, ".gtitle")),
        what="the heatmap of head 6.1",
    )
    chart = driver.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')
    assert chart.find_elements(By.CSS_SELECTOR, ".heatmaplayer image, .hm image, image")
    ticks = " ".join(t.text for t in chart.find_elements(By.CSS_SELECTOR, ".xtick text"))
    assert "Alice" in ticks and "park" in ticks, ticks
    _no_exception(driver)
    driver.save_screenshot(str(shots / "head_6.1.png"))
    # or click it on the layer x head heatmap of head scores
    _click_cell(driver, 3, 1, n_layers=8, n_heads=4)
    _wait(
        driver,
        lambda d: any("head 3.1" in t.text for t in d.find_elements(By.CSS_SELECTOR, ".gtitle")),
        what="the heatmap of head 3.1 after a click on the score grid",
    )
    _no_exception(driver)

    # bad input: a clear message in the page, no traceback, and the app keeps working
    for bad, expected in [
        ("", "empty"),
        ("Mary xylophone John", "xylophone"),
        (" ".join(["the"] * 80), "context window"),
    ]:
        _type_prompt(driver, bad)
        _wait(driver, lambda d, e=expected: any(e in m for m in _errors(d)), what=expected)
        _no_exception(driver)
    driver.save_screenshot(str(shots / "bad_prompt.png"))
    _type_prompt(driver, "When Mary and John went to the store, John gave a drink to")
    _wait(driver, lambda d: not _errors(d), what="the error to go away")
    _pick_head(driver, "2.1")
    _wait(
        driver,
        lambda d: any("head 2.1" in t.text for t in d.find_elements(By.CSS_SELECTOR, ".gtitle")),
        what="the heatmap of head 2.1 after the errors",
    )
    _no_exception(driver)

    # a missing model directory: the message, the reference models on offer, and back
    _open(driver, f"{server}/", PAGES[""])
    _choose(driver, "Model", "other")
    box = _wait(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, 'input[aria-label="Model directory or name"]'),
        what="the model directory input",
    )
    box.send_keys("/nonexistent/gpt2-small", Keys.ENTER)
    _wait(driver, lambda d: any("does not exist" in m for m in _errors(d)), what="the message")
    _no_exception(driver)
    driver.save_screenshot(str(shots / "missing_model.png"))
    _button(driver, "Use reference:ioi")
    _wait(
        driver,
        lambda d: "Mary" in d.find_element(By.CSS_SELECTOR, '[data-testid="stMetric"]').text,
        what="the reference model to work again",
    )
    _no_exception(driver)

    # the recall model: the logit lens writes " Warsaw" in the last layers' cells
    _choose(driver, "Model", "reference:recall")
    _navigate(driver, PAGES["lens"])
    _wait(
        driver,
        lambda d: any(
            t.text.strip() == "Warsaw"
            for t in d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] text')
        ),
        what="'Warsaw' in the logit-lens heatmap",
    )
    _no_exception(driver)
    driver.save_screenshot(str(shots / "lens_recall.png"))
    _navigate(driver, PAGES["ffn"])
    _no_exception(driver)
    driver.save_screenshot(str(shots / "ffn_recall.png"))

    # the trained language model (issue #14): the Words page draws its induction head forming
    # over the shipped checkpoints
    from interp.core.trained import trained_dir

    if (trained_dir("text") / "config.json").exists():
        _choose(driver, "Model", "trained:text")
        _navigate(driver, "Words")
        _wait(
            driver,
            lambda d: any(
                "trained:text (induction head from step" in t.text
                for t in d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] text')
            ),
            what="the induction-over-training figure of trained:text",
        )
        _no_exception(driver)
        driver.save_screenshot(str(shots / "words_text.png"))

    for name in sorted(os.listdir(shots)):
        assert (shots / name).stat().st_size > 10_000, f"{name} looks blank"
    print(f"screenshots in {shots}")
