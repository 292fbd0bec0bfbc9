"""The web app launched for real on a free port, driven with gradio_client and plain HTTP."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from rag import Answer, Article, Citation, Index, RagError, Report, Settings, index_corpus
from tests.conftest import GUN, ROOT
from ui.app import access, build_app, launch, serve
from ui.render import render_cards, render_timeline

GUN_QUESTION = "Who handed Alec Baldwin the gun?"
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside gradio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(seed_index: Path, tmp: Path, embedder, **settings) -> Iterator[tuple[str, Index]]:
    """A private copy of the seed index served on a free port; yields (url, the app's Index)."""
    root = tmp / "index"
    shutil.copytree(seed_index, root)
    cfg = Settings(index=root, port=free_port(), **settings)
    index = Index.open(root, settings=cfg, embedder=embedder)
    saved = os.environ.pop("GRADIO_TEMP_DIR", None)  # each app gets its own upload folder inside its index
    demo, url = serve(cfg, index=index, block=False)
    try:
        yield url, index
    finally:
        demo.close()
        os.environ.pop("GRADIO_TEMP_DIR", None)
        if saved is not None:
            os.environ["GRADIO_TEMP_DIR"] = saved


@pytest.fixture(scope="module")
def app(seed_index, real_embedder, tmp_path_factory):
    with running_app(seed_index, tmp_path_factory.mktemp("ui"), real_embedder) as (url, index):
        yield url, index


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


def text_of(message: dict) -> str:
    c = message["content"]
    return c if isinstance(c, str) else "".join(p.get("text", "") for p in c)


# -- /ask and /search ------------------------------------------------------------------------------------
def test_ask_as_written_in_the_readme(app):
    text, citations = Client(app[0], verbose=False).predict(GUN_QUESTION, api_name="/ask")
    answer, _, sources = text.partition("\n\nSources:\n")
    assert "[1]" in answer and f"{GUN} (2021-12-02)" in sources  # the citations spelled out under the answer
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    assert any((c["source"], c["date"]) == (GUN, "2021-12-02") for c in citations)
    assert all(c["quote"] and c["title"] and f"[{c['n']}]" in answer for c in citations)


def test_ask_with_dates_that_exclude_every_article(client):
    text, citations = client.predict(GUN_QUESTION, since="2030-01-01", api_name="/ask")
    assert text.startswith("Nothing in this date range") and citations == []


def test_ask_refuses_a_bad_question_with_its_reason(client):
    with pytest.raises(Exception, match="the question is empty"):
        client.predict("   ", api_name="/ask")


def test_search_returns_dated_hits(client):
    hits = client.predict(GUN_QUESTION, k=3, api_name="/search")
    assert len(hits) == 3
    assert (hits[0]["source"], hits[0]["date"]) == (GUN, "2021-12-02")
    assert "Dave Halls handed him the prop weapon" in hits[0]["text"]
    hits = client.predict("Baldwin", k=5, since="2021-12-20", until="2022-01-31", api_name="/search")
    assert hits and all("2021-12-20" <= h["date"] <= "2022-01-31" for h in hits)
    assert client.predict("gun", since="2030-01-01", api_name="/search") == []
    with pytest.raises(Exception, match="since must be a date written YYYY-MM-DD"):
        client.predict("gun", since="yesterday", api_name="/search")


def test_the_api_lists_ask_and_search_with_only_the_question_required(app):
    info = httpx.get(f"{app[0]}gradio_api/info").json()["named_endpoints"]
    assert set(info) == {"/ask", "/search"}  # the chat's own event is callable but not advertised
    for name, first in (("/ask", "question"), ("/search", "query")):
        params = info[name]["parameters"]
        assert params[0]["parameter_name"] == first and not params[0]["parameter_has_default"]
        assert all(p["parameter_has_default"] for p in params[1:])


def test_ask_over_plain_http(app):
    url = app[0]
    event = httpx.post(f"{url}gradio_api/call/ask", json={"data": [GUN_QUESTION, None, None]}).json()["event_id"]
    body = httpx.get(f"{url}gradio_api/call/ask/{event}", timeout=60).text
    assert "event: complete" in body and GUN in body and "2021-12-02" in body


# -- the chat, per session -------------------------------------------------------------------------------
def chat(client: Client, question: str, history: list, since=None) -> tuple[list, str, str]:
    """One turn through the page's own chat event: (history, cards HTML, copyable text)."""
    _, history, cards, _timeline, copy_text = client.predict(question, history, since, None, [], [], api_name="/chat")
    return history, cards, copy_text


def test_chat_answers_with_cards_and_copyable_text(app):
    history, cards, copy_text = chat(Client(app[0], verbose=False), GUN_QUESTION, [])
    assert [m["role"] for m in history] == ["user", "assistant"]
    reply = text_of(history[1])
    assert "[1]" in reply and f"`{GUN}`, 2021-12-02" in reply  # each source's file and date under the answer
    gun_card = cards[cards.index(f'data-source="{GUN}"'):].split("</article>")[0]
    assert f'<span class="dl-file">{GUN}</span><time datetime="2021-12-02">2021-12-02</time>' in gun_card
    assert gun_card.count("<mark>") == 2  # the quote in its paragraph, and in the whole article
    answer, _, sources = copy_text.partition("\n\nSources:\n")
    # the chat marks the short answer in bold; the copied text is plain
    assert answer and answer in reply.replace("\\", "").replace("**", "") and f"{GUN} (2021-12-02)" in sources


def test_concurrent_visitors_each_get_their_own_conversation(app):
    """Two visitors asking at the same moment: each gets the answer and sources for their own questions."""
    results: dict[str, tuple[list, str]] = {}
    alone = {q: text_of(chat(Client(app[0], verbose=False), q, [])[0][1])
             for q in (GUN_QUESTION, "When was Alec Baldwin charged?")}

    def visitor(name: str, first: str, follow_up: str) -> None:
        c = Client(app[0], verbose=False)
        history, first_cards, _ = chat(c, first, [])
        history, _, _ = chat(c, follow_up, history)
        results[name] = ([text_of(m) for m in history], first_cards)

    threads = [threading.Thread(target=visitor, args=("a", GUN_QUESTION, "What did he say about it?")),
               threading.Thread(target=visitor, args=("b", "When was Alec Baldwin charged?", "With what?"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    (a, a_cards), (b, b_cards) = results["a"], results["b"]
    assert (a[0], a[2], b[0], b[2]) == (GUN_QUESTION, "What did he say about it?", "When was Alec Baldwin charged?", "With what?")
    # each visitor reads the answer their own question gets when asked alone, never the other's
    assert a[1] == alone[GUN_QUESTION] and b[1] == alone["When was Alec Baldwin charged?"]
    assert GUN in a[1] and "charge" in b[1] and a[3] != b[3]
    assert f'data-source="{GUN}"' in a_cards.split("</article>")[0]
    assert 'data-source="002_5b34f11284f4eebe.txt"' in b_cards.split("</article>")[0]


@pytest.mark.parametrize("question, since, says", [
    ("x" * 2500, None, "keep it under 2000"),
    (GUN_QUESTION, "yesterday", "since must be a date written YYYY-MM-DD"),
    (GUN_QUESTION, "2030-01-01", "Nothing in this date range"),
])
def test_problems_become_a_friendly_reply(client, question, since, says):
    history, cards, _ = chat(client, question, [], since=since)
    reply = text_of(history[-1])
    assert says in reply and "Traceback" not in reply
    assert "dl-card" not in cards


def test_an_unexpected_failure_is_a_polite_reply_not_a_stack_trace(seed_index, real_embedder):
    class BrokenIndex(Index):
        def refresh(self) -> bool:
            raise RuntimeError("disk on fire")

    good = Index.open(seed_index, embedder=real_embedder)
    demo = build_app(BrokenIndex(good.store, good.embedder, good.settings), settings=good.settings)
    respond = next(f.fn for f in demo.fns.values() if f.api_name == "chat")
    *_, last = respond(GUN_QUESTION, [], None, None, [], [])
    reply = last[1][-1]["content"]
    assert reply.startswith("⚠ Sorry, something went wrong") and "disk on fire" not in reply


@contextlib.contextmanager
def fake_llm(tokens: list[str]) -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible server that streams ``tokens``; yields (base URL, the request bodies it got)."""
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for t in tokens:
                chunk = {"choices": [{"delta": {"content": t}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", requests
    finally:
        server.shutdown()


def test_a_configured_llm_streams_its_answer_into_the_chat_with_the_same_cards(app):
    _, index = app
    tokens = ["Assistant director ", "Dave Halls ", "handed Baldwin ", "the gun, ", "saying it was cold ", "[1]."]
    with fake_llm(tokens) as (llm_url, requests):
        cfg = index.settings.model_copy(update={"llm_url": llm_url, "llm_model": "fake-llm", "port": free_port()})
        demo = build_app(index, settings=cfg)
        url = launch(demo, cfg, block=False)
        try:
            job = Client(url, verbose=False).submit(GUN_QUESTION, [], None, None, [], [], api_name="/chat")
            replies = [text_of(out[1][-1]) for out in job if out[1] and out[1][-1]["role"] == "assistant"]
            _, history, cards, _, copy_text = job.result()
            status = httpx.get(f"{url}config").text
        finally:
            demo.close()
    passages = requests[0]["messages"][-1]["content"]
    assert requests[0]["model"] == "fake-llm" and f"{GUN} (published 2021-12-02)" in passages
    grown = [r for r in dict.fromkeys(replies) if r]
    assert len(grown) >= 4 and all(b.startswith(a) for a, b in zip(grown, grown[1:-1]))  # token by token
    final = text_of(history[-1])
    assert final.startswith("Assistant director Dave Halls handed Baldwin the gun, saying it was cold [1].")
    assert f"[1] `{GUN}`, 2021-12-02" in final
    assert f'data-source="{GUN}"' in cards and "answers by fake-llm" in status
    assert copy_text.startswith("Assistant director Dave Halls")


# -- serving safely ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "pyproject.toml"), "../../etc/passwd"])
def test_file_routes_serve_nothing_outside_the_app(app, path):
    for route in (f"gradio_api/file={path}", f"gradio_api/file/{path.lstrip('/')}", f"file={path}"):
        r = httpx.get(app[0] + route)
        assert r.status_code in (403, 404), route
        assert "root:" not in r.text


def test_uploads_land_inside_the_index_not_in_a_shared_temp_dir(app):
    url, index = app
    up = httpx.post(f"{url}gradio_api/upload", files={"files": ("x.txt", b" date 2024-01-01 X\n\nx")}).json()
    assert Path(up[0]).is_relative_to(index.store.root.resolve())


@pytest.mark.parametrize("host, auth, warns", [("127.0.0.1", None, False), ("0.0.0.0", None, True),
                                               ("0.0.0.0", "editor:s3cret", False)])
def test_a_non_local_host_without_auth_is_warned_about(host, auth, warns):
    credentials, warning = access(Settings(host=host, auth=auth))
    assert bool(warning) == warns and (warning is None or "--auth user:password" in warning)
    assert credentials == (tuple(auth.split(":")) if auth else None)


def test_malformed_auth_is_refused():
    with pytest.raises(RagError, match="user:password"):
        access(Settings(auth="no-colon"))


def test_auth_is_required_when_configured(app, tmp_path):
    _, index = app
    cfg = index.settings.model_copy(update={"auth": "editor:s3cret", "port": free_port()})
    demo = build_app(index, settings=cfg)
    url = launch(demo, cfg, block=False)
    try:
        assert httpx.get(f"{url}config").status_code == 401
        with pytest.raises(Exception):
            Client(url, verbose=False).predict("gun", api_name="/search")
        hits = Client(url, auth=("editor", "s3cret"), verbose=False).predict("gun", k=1, api_name="/search")
        assert len(hits) == 1
    finally:
        demo.close()


# -- the HTML the page shows -----------------------------------------------------------------------------
@pytest.fixture
def hostile_index(tmp_path, hash_embedder) -> Index:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(' date 2020-01-01 <img src=x onerror="alert(1)">\n\nFirst <b>bold</b> claim here.\n\nMore.')
    (corpus / "b.txt").write_text(" date 2022-07-01 Later report\n\nThe same claim, reported later.")
    index_corpus([corpus], settings=Settings(index=tmp_path / "i"), embedder=hash_embedder)
    return Index.open(tmp_path / "i", embedder=hash_embedder)


def _answer(index: Index) -> Answer:
    a: Article = index.store.article_by_source("a.txt")
    start = a.text.index("First")
    end = a.text.index("here.") + len("here.")
    cite = Citation(1, "a.txt", a.date, a.title, a.text[start:end], start, end, 1.0,
                    also_in=(Report("b.txt", dt.date(2022, 7, 1), "Later report"),))
    return Answer("q", "First <b>bold</b> claim here. [1]", False, (cite,))


def test_cards_escape_article_text_and_mark_the_quote_in_its_paragraph(hostile_index):
    html = render_cards(_answer(hostile_index), hostile_index)
    assert "<img" not in html and "<b>bold" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert '<p class="dl-passage"><mark>First &lt;b&gt;bold&lt;/b&gt; claim here.</mark></p>' in html
    assert '<span class="dl-file">b.txt</span> <time>2022-07-01</time>' in html  # also reported in
    whole = html[html.index('<div class="dl-article">'):]
    assert whole.count("<mark>") == 1 and "More." in whole  # the whole stored article, passage marked


def test_the_timeline_places_articles_by_date(hostile_index):
    html = render_timeline(_answer(hostile_index), hostile_index)
    assert 'class="dl-dot dl-t-cited" style="left:2.00%;bottom:2px"' in html  # 2020-01-01, the archive's first day
    assert 'class="dl-dot dl-t-also" style="left:98.00%;bottom:2px"' in html  # 2022-07-01, its last
    assert html.index("2020-01-01</time>") < html.index("2022-07-01</time>")
    assert "<img" not in html
    assert "2 articles published 2020-01-01 to 2022-07-01" in render_timeline(None, hostile_index)
