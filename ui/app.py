"""The web chat: streamed answers cited by file and date, source cards, a timeline, filters, uploads, and an API.

Thin by design: every answer, search and upload is one call into ``rag``'s public
API; this module wires those calls to Gradio events, and ui/render.py turns their
typed values into HTML. One Index (and so one model) serves every visitor; each
browser session keeps its own conversation in its chat history, which is all a
follow-up is read against.

    rag serve --port 7860                       # or: make run

    from gradio_client import Client
    text, citations = Client("http://127.0.0.1:7860/").predict("Who handed Alec Baldwin the gun?", api_name="/ask")
"""

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr
from fastapi.middleware import Middleware

from rag import (
    Index, IndexNotFound, RagError, Settings, UploadRejected, add_uploads, answer_stream, index_corpus,
)
from rag.corpus import SUPPORTED_SUFFIXES
from rag.location import local_dir
from ui.guard import Guard, Limits, remove_claimed
from ui.middleware import GuardedBlocks, GuardMiddleware
from ui.render import (  # the leading-underscore helpers are private to the ui package
    CSS, HEAD, THEME, _FOOTER, _date, _e, _md, chat_message, render_cards, render_timeline, status_line,
)

__all__ = ["build_app", "launch", "access", "open_app_index", "serve"]

log = logging.getLogger("dateline.ui")

#: Shown as clickable examples when the index holds the seed articles.
SEED_EXAMPLES = (
    "Who handed Alec Baldwin the gun?",
    "When was Alec Baldwin charged?",
    "Does Baldwin feel guilty about the shooting?",
)
_SEED_MARKER = "004_3895aaea98e54197.txt"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# what rag reads; ".gz" too, as browsers match only the last suffix of .warc.gz
_UPLOAD_TYPES = list(dict.fromkeys([*SUPPORTED_SUFFIXES, ".gz"]))
_INCOMING = ".incoming"  # Gradio's upload folder, in the index's local folder: <index>/.incoming/<port>/
_UNESCAPE = re.compile(r"\\(.)")
_WARN = "⚠"  # plain U+26A0, not the emoji form: it renders with ordinary text fonts
_OOPS = "Sorry, something went wrong while answering; the details are in the server log. Please try again."


def filter_note(since: str | None, until: str | None, sources: Sequence[str] | None,
                publishers: Sequence[str] | None) -> dict:
    """A visible note while any filter restricts the articles answers may use."""
    bits = []
    if since or until:
        bits.append(f"published {since or 'any time'} to {until or 'today'}")
    if sources:
        bits.append(f"{len(sources)} chosen article{'s' * (len(sources) != 1)}")
    if publishers:
        bits.append("from " + ", ".join(publishers))
    if not bits:
        return gr.update(value="", visible=False)
    return gr.update(value=f'<div class="dl-note">Filters on: answers use only articles {_e("; ".join(bits))}.</div>',
                     visible=True)


def _article_choices(index: Index) -> list[tuple[str, str]]:
    arts = sorted(index.articles, key=lambda a: (a.date or dt.date.max, a.source))
    return [(f"{_date(a.date)} · {a.title[:70]} ({a.source})", a.source) for a in arts]


def _publisher_choices(index: Index) -> list[str]:
    return sorted({a.publisher for a in index.articles if a.publisher}, key=str.casefold)


def _text_of(content: object) -> str:
    """A chat message's text: Gradio hands history back as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _turns(chat: Sequence[dict]) -> list[tuple[str, str]]:
    """The conversation so far as (question, answer text) pairs, read back from the chat's own messages.

    The chat history lives in the browser session, so two visitors can never see
    or steer each other's conversation.
    """
    pairs, question = [], None
    for m in chat:
        text = _text_of(m.get("content"))
        if m.get("role") == "user":
            question = text
        elif m.get("role") == "assistant" and question is not None:
            if not text.startswith(_WARN):
                pairs.append((question, _UNESCAPE.sub(r"\1", text.split(_FOOTER, 1)[0])))
            question = None
    return pairs


def _example_text(evt: gr.SelectData) -> str:
    return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)


def _reveal(shown: str, target: str) -> Iterator[str]:
    """Steps from ``shown`` to ``target`` a few words apart: a reply that arrives whole still reads as streamed."""
    if len(target) - len(shown) < 80:
        yield target
        return
    pos = len(shown)
    while pos < len(target):
        nxt = pos
        for _ in range(5):
            sp = target.find(" ", nxt + 1)
            nxt = len(target) if sp < 0 else sp
        pos = nxt
        yield target[:pos]


def _shown(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    """``value`` if it is text (or None, when the argument is optional); else an error naming the argument."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise gr.Error(f"{name} must be text{' or null' if optional else ''}, not {_shown(value)}",
                       print_exception=False)
    return value


def _whole_number(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise gr.Error(f"{name} must be a whole number from {lo} to {hi}, not {_shown(value)}", print_exception=False)
    return value


# -- the app ---------------------------------------------------------------------------------------------
def build_app(index: Index, *, settings: Settings) -> gr.Blocks:
    """The chat page and its /ask and /search endpoints, all served from the one ``index``.

    (No ``from __future__ import annotations`` in this module: ``gr.api`` reads the
    endpoints' type hints at runtime to describe their inputs and outputs.)
    """

    def respond(question, chat, since, until, sources, publishers):
        chat = list(chat or [])
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = _turns(chat)
        chat += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        yield "", chat, gr.skip(), gr.skip(), gr.skip()
        try:
            final, shown = None, ""
            for final in answer_stream(question, history=history, since=since or None, until=until or None,
                                       index=index, settings=settings, today=dt.date.today(),
                                       sources=sources or None, publishers=publishers or None):
                target = chat_message(final, final=False)
                for i, step in enumerate(_reveal(shown if target.startswith(shown) else "", target)):
                    if i:
                        time.sleep(0.03)  # only a reply that arrived whole is paced; tokens go out as they come
                    chat[-1] = {"role": "assistant", "content": step}
                    yield gr.skip(), chat, gr.skip(), gr.skip(), gr.skip()
                shown = target
            if final is None:
                raise RagError("no answer came back")
        except RagError as e:
            chat[-1] = {"role": "assistant", "content": f"{_WARN} {_md(str(e))}"}
            yield gr.skip(), chat, render_cards(None, index), gr.skip(), ""
            return
        except Exception:
            log.exception("answering %r failed", question)
            chat[-1] = {"role": "assistant", "content": f"{_WARN} {_OOPS}"}
            yield gr.skip(), chat, render_cards(None, index), gr.skip(), ""
            return
        chat[-1] = {"role": "assistant", "content": chat_message(final)}
        yield gr.skip(), chat, render_cards(final, index), render_timeline(final, index), final.to_text()

    def on_load():
        index.refresh()
        pubs = _publisher_choices(index)
        return (status_line(index, settings), gr.update(choices=_article_choices(index)),
                gr.update(choices=pubs, visible=bool(pubs)), render_timeline(None, index))

    def upload(files, progress=gr.Progress()):
        paths = [Path(f) for f in (files or [])]
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            report = add_uploads(paths, index=index, progress=lambda f, msg: progress(f, desc=msg))
            msg = f'<div class="dl-msg dl-ok" role="status">✓ {_e(report.summary())} Ask about it now.</div>'
        except UploadRejected as e:
            msg = f'<div class="dl-msg dl-error" role="alert">{_e(e)}</div>'
        except RagError as e:
            msg = f'<div class="dl-msg dl-error" role="alert">Nothing was added: {_e(e)}</div>'
        except Exception:
            log.exception("upload of %s failed", [p.name for p in paths])
            msg = ('<div class="dl-msg dl-error" role="alert">The upload failed on the server; '
                   'nothing was added.</div>')
        finally:
            remove_claimed(paths, index.local_dir / _INCOMING)  # read (and copied to <index>/uploads/ if added)
        return (msg, None, *on_load())

    def clear():
        return [], "", render_cards(None, index), render_timeline(None, index), ""

    def ask(question: str, since: str | None = None, until: str | None = None) -> tuple[str, list[dict]]:
        """Answer a question from the articles: the answer with its sources as text, and the citations."""
        question = _text("question", question)
        since, until = _text("since", since, optional=True), _text("until", until, optional=True)
        try:
            final = None
            for final in answer_stream(question, since=since or None, until=until or None, index=index,
                                       settings=settings, today=dt.date.today()):
                pass
        except RagError as e:
            raise gr.Error(str(e), print_exception=False) from e
        except Exception as e:
            log.exception("/ask %r failed", question)
            raise gr.Error("internal error while answering; see the server log", print_exception=False) from e
        if final is None:
            raise gr.Error("no answer came back; see the server log", print_exception=False)
        return final.to_text(), [c.to_dict() for c in final.citations]

    def search(query: str, k: int = 5, since: str | None = None, until: str | None = None) -> list[dict]:
        """The k passages that best match the query, each with file, date, headline and offsets."""
        query, k = _text("query", query), _whole_number("k", k, 1, 100)
        since, until = _text("since", since, optional=True), _text("until", until, optional=True)
        try:
            index.refresh()
            return [h.to_dict() for h in index.search(query, k, since=since or None, until=until or None)]
        except RagError as e:
            raise gr.Error(str(e), print_exception=False) from e
        except Exception as e:
            log.exception("/search %r failed", query)
            raise gr.Error("internal error while searching; see the server log", print_exception=False) from e

    has_seeds = index.store.article_by_source(_SEED_MARKER) is not None
    pubs = _publisher_choices(index)
    with GuardedBlocks(title="Dateline: cited answers from the news", analytics_enabled=False) as demo:
        with gr.Column(elem_id="dl-top"):
            gr.HTML('<div class="dl-brand"><h1>Dateline</h1><p>Answers from the news archive, every sentence '
                    'quoted and cited with its file and date.</p></div>', js_on_load=None)
            status = gr.HTML(status_line(index, settings), elem_id="status", js_on_load=None)
        with gr.Row(elem_id="dl-main"):
            with gr.Column(scale=3, min_width=340):
                chat = gr.Chatbot(
                    elem_id="chat", show_label=False, height=480, feedback_options=None, buttons=["copy"],
                    placeholder="**Ask about the archive.** Each sentence of the answer is quoted from an article, "
                                "marked [n], and its source card shows the file and publication date.",
                    examples=[{"text": q} for q in SEED_EXAMPLES] if has_seeds else None,
                )
                note = gr.HTML("", visible=False, elem_id="filter-note", js_on_load=None)
                question = gr.Textbox(
                    elem_id="question", show_label=False, lines=1, max_lines=4, autofocus=True, submit_btn="Ask",
                    placeholder="Ask a question, e.g. Who handed Alec Baldwin the gun?")
                with gr.Row(elem_id="dl-actions"):
                    clear_btn = gr.Button("Clear chat", size="sm", variant="secondary", elem_id="clear")
                    copy_btn = gr.Button("Copy answer with sources", size="sm", variant="secondary", elem_id="copy")
                with gr.Accordion("Filters: dates, articles", open=False, elem_id="filters"):
                    with gr.Row():
                        since = gr.DateTime(label="Published from", include_time=False, type="string",
                                            elem_id="since")
                        until = gr.DateTime(label="Published until", include_time=False, type="string",
                                            elem_id="until")
                    sources = gr.Dropdown(_article_choices(index), value=[], multiselect=True, elem_id="articles",
                                          label="Only these articles", info="Leave empty to use them all.")
                    publishers = gr.Dropdown(pubs, value=[], multiselect=True, label="Only these publishers",
                                             visible=bool(pubs), elem_id="publishers")
                    reset_btn = gr.Button("Clear filters", size="sm", variant="secondary")
            with gr.Column(scale=2, min_width=320, elem_id="dl-evidence"):
                timeline = gr.HTML(render_timeline(None, index), elem_id="timeline", js_on_load=None)
                cards = gr.HTML(render_cards(None, index), elem_id="sources", js_on_load=None)
                with gr.Accordion("Add articles", open=False, elem_id="add-articles"):
                    gr.Markdown(
                        "Upload `.txt` articles whose first line is `date YYYY-MM-DD Headline`; `.json`/`.jsonl`/`.csv` "
                        "collections whose records have `title`, `body` and `published_at`; saved web pages "
                        "(`.html`); RSS/Atom feeds (`.xml`, `.rss`, `.atom`); or web archives (`.warc`, `.warc.gz`). "
                        "Every article needs a publication date the file itself gives. "
                        f"Up to {settings.max_upload_bytes / 1e6:g} MB a file; "
                        "they are searchable as soon as they are indexed."
                    )
                    files = gr.File(file_count="multiple", file_types=_UPLOAD_TYPES, elem_id="upload",
                                    show_label=False, height=120)
                    upload_msg = gr.HTML("", elem_id="upload-status", js_on_load=None)
        copy_text = gr.Textbox(visible=False)

        chat_inputs = [question, chat, since, until, sources, publishers]
        chat_outputs = [question, chat, cards, timeline, copy_text]
        # "undocumented": callable by gradio_client (the tests drive conversations with it), not advertised
        # every answer and search waits in one line, so the queue's concurrency limit bounds the CPU they take
        question.submit(respond, chat_inputs, chat_outputs, api_name="chat", api_visibility="undocumented",
                        concurrency_id="answer")
        chat.example_select(_example_text, None, question, api_visibility="private").then(
            respond, chat_inputs, chat_outputs, api_visibility="private", concurrency_id="answer")
        clear_btn.click(clear, None, [chat, question, cards, timeline, copy_text], api_visibility="private")
        chat.clear(clear, None, [chat, question, cards, timeline, copy_text], api_visibility="private")
        copy_btn.click(None, copy_text, None, api_visibility="private",
                       js="(t) => { if (t) navigator.clipboard.writeText(t); }")
        for f in (since, until, sources, publishers):
            f.change(filter_note, [since, until, sources, publishers], note, api_visibility="private")
        reset_btn.click(lambda: (None, None, [], []), None, [since, until, sources, publishers],
                        api_visibility="private")
        files.upload(upload, files, [upload_msg, files, status, sources, publishers, timeline],
                     api_visibility="private", concurrency_limit=1, show_progress="full")
        # a page opened after an upload (or a re-index by another process) shows the archive as it is now
        demo.load(on_load, None, [status, sources, publishers, timeline], api_visibility="private",
                  show_progress="hidden")
        gr.api(ask, api_name="ask", concurrency_id="answer")
        gr.api(search, api_name="search", concurrency_id="answer")
    return demo


def open_app_index(settings: Settings) -> Index:
    """The index to serve, with its model loaded once.

    Like ``rag search``, only the default index is built (from ``settings.corpus``)
    when it does not exist yet; an index named with --index must exist.
    """
    try:  # the model is the one the index was built with (settings.encoder "auto"), loaded once per process
        return Index.open(settings.index, settings=settings)
    except IndexNotFound:
        if settings.index != Settings.model_fields["index"].default or not Path(settings.corpus).exists():
            raise
        index_corpus([settings.corpus], settings=settings)
        return Index.open(settings.index, settings=settings)


def access(settings: Settings) -> tuple[tuple[str, str] | None, str | None]:
    """The (user, password) to require, if any, and a warning when the chat would be open to the network."""
    if settings.auth:
        user, sep, password = settings.auth.partition(":")
        if not (sep and user and password):
            raise RagError("auth must be written user:password, e.g. --auth editor:correct-horse")
        return (user, password), None
    if settings.host.strip("[]") in _LOCAL_HOSTS:
        return None, None
    return None, (f"serving on {settings.host} without --auth: anyone who can reach this machine can use the chat "
                  f"and add articles. Add --auth user:password (or set DATELINE_AUTH).")


def launch(demo: gr.Blocks, settings: Settings, *, block: bool = True, limits: Limits | None = None) -> str:
    """Start serving ``demo`` as ``settings`` say (host, port, auth), behind the guard; the local URL."""
    auth, warning = access(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    # api_open=False: /gradio_api/run/NAME would otherwise answer outside the queue and its limits
    demo.queue(default_concurrency_limit=2, max_size=64, api_open=False)
    host = settings.host.strip("[]")
    _, url, _ = demo.launch(  # Gradio builds its URLs from server_name: an IPv6 address needs its brackets
        server_name=f"[{host}]" if ":" in host else host, server_port=settings.port, share=False, auth=auth,
        show_error=False,
        max_file_size=settings.max_upload_bytes, enable_monitoring=False, prevent_thread_lock=True,
        run_history=False, footer_links=["api"], app_kwargs=_guarded(demo, settings, auth is not None, limits),
        theme=THEME, css=CSS, head=HEAD, quiet=True,
    )
    if block:
        print(f"Dateline is serving on {url} (API: /ask and /search; Ctrl-C stops it)", file=sys.stderr)
        demo.block_thread()
    return url


def _guarded(demo: gr.Blocks, settings: Settings, auth: bool, limits: Limits | None) -> dict:
    """FastAPI arguments that put the guard in front of every route, sweep the upload folder, and drop /openapi.json.

    The upload folder is swept only when it is Dateline's own, inside the index
    (a GRADIO_TEMP_DIR set by hand may hold other apps' files).
    """
    folder = Path(os.environ.get("GRADIO_TEMP_DIR", "/nonexistent")).resolve()
    own = folder if folder.is_relative_to((local_dir(settings.index) / _INCOMING).resolve()) else None
    limits = dataclasses.replace(limits or Limits(), upload_bytes=settings.max_upload_bytes)  # one file limit
    guard = Guard(limits, auth=auth, incoming=own)
    guard.blocks = demo
    return {"middleware": [Middleware(GuardMiddleware, guard=guard)], "lifespan": guard.lifespan, "openapi_url": None}


def serve(settings: Settings, *, index: Index | None = None, block: bool = True,
          limits: Limits | None = None) -> tuple[gr.Blocks, str]:
    """Open the index (once), build the page and serve it; blocks unless ``block=False`` (tests).

    Gradio's own upload folder is moved inside the index directory, one per port,
    so the file routes can reach nothing outside the corpus and the index, and a
    server sweeping its folder never touches another's.
    """
    index = index or open_app_index(settings)
    os.environ.setdefault("GRADIO_TEMP_DIR", str((index.local_dir / _INCOMING / str(settings.port)).resolve()))
    if block and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests to itself
    demo = build_app(index, settings=settings)
    return demo, launch(demo, settings, block=block, limits=limits)
