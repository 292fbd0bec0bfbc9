"""End to end in a real browser: Debian's chromium, headless, driven by Playwright, against the app on a free port.

A failing test leaves a screenshot in tests/artifacts/<test name>.png.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import GUN, ROOT
from tests.test_ui import GUN_QUESTION, running_app

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "tests" / "artifacts"
VERDICT = (" date 2024-03-06 Rust armorer Hannah Gutierrez-Reed found guilty\n\n"
           "A jury in Santa Fe found the armorer Hannah Gutierrez-Reed guilty of involuntary manslaughter on "
           "Wednesday. Prosecutors said she loaded the live round into the revolver that killed Halyna Hutchins.\n")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: 'make install' installs it with apt-get, which failed or is "
                    f"unavailable on this machine (run: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright for Python is not installed: run 'make install'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app(browser, seed_index, real_embedder, tmp_path_factory):
    """The app over a private copy of the seed index (the upload tests change it)."""
    with running_app(seed_index, tmp_path_factory.mktemp("browser"), real_embedder) as served:
        yield served


@pytest.fixture
def page(browser, app, request):
    """A fresh browser session on the app; a screenshot is saved if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app[0])
    pg.wait_for_selector("#question textarea")
    failed_before = request.session.testsfailed
    yield pg
    # the call phase's report is logged before teardown, so a failure has been counted by now
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def ask(page, question: str) -> str:
    """Type the question, press Enter, wait for the finished answer; its text as shown in the chat."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function("q => document.querySelector('#sources [data-question]')?.dataset.question === q",
                           arg=question)
    return page.locator('#chat [data-testid="bot"]').last.inner_text()


def open_accordion(page, elem_id: str) -> None:
    page.locator(f"#{elem_id} > button.label-wrap").click()


def test_the_gun_question_streams_a_cited_answer_with_its_source_card(page):
    # record every length the reply passes through, to see it arrive progressively
    page.evaluate("""() => { window.lengths = []; new MutationObserver(() => {
        const b = [...document.querySelectorAll('#chat [data-testid="bot"]')].pop();
        if (b) window.lengths.push(b.innerText.length); }).observe(document.querySelector('#chat'),
        {subtree: true, childList: true, characterData: true}); }""")
    reply = ask(page, GUN_QUESTION)
    assert "[1]" in reply and f"{GUN}, 2021-12-02" in reply
    lengths = sorted({n for n in page.evaluate("window.lengths") if n > 0})
    assert len(lengths) >= 3, f"the reply did not stream: lengths seen {lengths}"
    card = page.locator(f'#sources .dl-card[data-source="{GUN}"]').first
    assert card.is_visible()
    assert card.locator(".dl-file").first.inner_text() == GUN
    assert card.locator("time").first.inner_text() == "2021-12-02"
    assert card.locator(".dl-passage mark").inner_text() in reply  # the quoted passage, highlighted
    # the card opens the whole article, scrolled to the highlighted passage
    card.locator("summary").click()
    article = card.locator(".dl-article")
    assert article.is_visible() and "Alec Baldwin is shedding new light" in article.inner_text()
    assert card.locator(".dl-article mark").is_visible()
    assert page.locator("#timeline .dl-t-cited").first.is_visible()
    # "Copy answer with sources" puts the answer and its citations on the clipboard as plain text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#copy").click()
    page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('Sources:')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(reply.split(" [1]")[0]) and f"{GUN} (2021-12-02)" in copied


def test_a_date_range_with_no_articles_says_so(page):
    open_accordion(page, "filters")
    since = page.locator("#since input")
    since.fill("2030-01-01")
    since.press("Enter")
    page.locator("#filter-note").wait_for(state="visible")
    assert "published 2030-01-01 to today" in page.locator("#filter-note").inner_text()
    assert "Nothing in this date range" in ask(page, GUN_QUESTION)
    assert page.locator("#sources .dl-card").count() == 0


def test_an_uploaded_article_is_answerable_at_once(page, app, tmp_path):
    f = tmp_path / "verdict.txt"
    f.write_text(VERDICT)
    open_accordion(page, "add-articles")
    page.locator("#upload input[type=file]").set_input_files(str(f))
    ok = page.locator("#upload-status .dl-ok")
    ok.wait_for(timeout=60_000)
    assert "Added 1 article from verdict.txt, published 2024-03-06" in ok.inner_text()
    assert page.locator("#status").inner_text().startswith("6 articles")
    assert "Gutierrez-Reed" in ask(page, "Who was found guilty by the jury in Santa Fe?")
    card = page.locator("#sources .dl-card").first
    assert card.locator(".dl-file").first.inner_text() == "verdict.txt"
    assert card.locator("time").first.inner_text() == "2024-03-06"


def test_a_malformed_upload_is_refused_and_changes_nothing(page, app, tmp_path):
    _, index = app
    root = index.store.root
    before = ((root / "CURRENT").read_text(), sorted(p.name for p in root.joinpath("uploads").glob("*")))
    page.wait_for_function(f"() => document.querySelector('#status').innerText.startsWith('{len(index.articles)} articles')")
    status_before = page.locator("#status").inner_text()
    f = tmp_path / "broken.json"
    f.write_text(json.dumps([{"title": "x", "body": "y", "published_at": "2024-01-01"}])[:-5])
    open_accordion(page, "add-articles")
    page.locator("#upload input[type=file]").set_input_files(str(f))
    err = page.locator("#upload-status .dl-error")
    err.wait_for(timeout=60_000)
    assert "broken.json was not added: malformed JSON" in err.inner_text()
    assert "Traceback" not in page.content()
    after = ((root / "CURRENT").read_text(), sorted(p.name for p in root.joinpath("uploads").glob("*")))
    assert after == before
    assert page.locator("#status").inner_text() == status_before


def test_a_file_type_dateline_cannot_read_is_refused_with_a_message(page, app, tmp_path):
    """The page names the types it takes (the server refuses the rest too: tests/test_server_security.py)."""
    _, index = app
    incoming = sorted((index.store.root / ".incoming").rglob("*"))
    f = tmp_path / "evil.svg"
    f.write_text("<svg onload=alert(1)/>")
    open_accordion(page, "add-articles")
    page.locator("#upload input[type=file]").set_input_files(str(f))
    page.get_by_text("Invalid file type: evil.svg.").wait_for()
    assert sorted((index.store.root / ".incoming").rglob("*")) == incoming
    assert page.locator("#upload-status .dl-ok").count() == 0
