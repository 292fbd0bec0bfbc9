"""The web chat: streamed answers cited by file and date, source cards, a timeline, filters, uploads, and an API.

Thin by design: every answer, search and upload is one call into ``rag``'s public
API; this module turns those typed values into HTML and Gradio events. One Index
(and so one model) serves every visitor; each browser session keeps its own
conversation in its chat history, which is all a follow-up is read against.

    rag serve --port 7860                       # or: make run

    from gradio_client import Client
    text, citations = Client("http://127.0.0.1:7860/").predict("Who handed Alec Baldwin the gun?", api_name="/ask")
"""

import datetime as dt
import html
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from rag import (
    DATE_SOURCES, Answer, Citation, Index, IndexNotFound, RagError, Settings, UploadRejected, add_uploads, answer_stream,
    index_corpus,
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
# what rag reads (rag.corpus.SUPPORTED_SUFFIXES); ".gz" too, as browsers match only the last suffix of .warc.gz
_UPLOAD_TYPES = [".txt", ".json", ".jsonl", ".csv", ".html", ".htm", ".xml", ".rss", ".atom", ".warc", ".arc", ".gz"]
_FOOTER = "\n\n<small>Sources: "  # starts the list of sources under an answer in the chat
_UNESCAPE = re.compile(r"\\(.)")
_WARN = "⚠"  # plain U+26A0, not the emoji form: it renders with ordinary text fonts
_OOPS = "Sorry, something went wrong while answering; the details are in the server log. Please try again."
_SOURCES_H = '<h3 class="dl-h">Sources</h3>'
_TIMELINE_H = '<h3 class="dl-h">Timeline</h3>'


# -- HTML: every piece of article text goes through html.escape ---------------------------------------------
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else "date unknown"


def _dated_by(source: str, index: Index) -> str:
    """Where the card's date came from (page metadata, feed entry...), shown beside it."""
    a = index.store.article_by_source(source)
    if a is None or a.date is None or not a.date_source:
        return ""
    how = f"{DATE_SOURCES.get(a.date_source, a.date_source)}; {a.date_confidence or 'unknown'} confidence"
    return f'<small class="dl-dsrc" title="{_e(how)}">from {_e(a.date_source.replace("-", " "))}</small>'


def _paragraph(text: str, start: int, end: int, limit: int = 900) -> tuple[str, str, str]:
    """The paragraph of ``text`` around ``[start, end)``, split as (before, quote, after), trimmed to ``limit``."""
    p0 = text.rfind("\n", 0, start) + 1
    p1 = text.find("\n", end)
    p1 = len(text) if p1 < 0 else p1
    before, quote, after = text[p0:start], text[start:end], text[end:p1]
    room = max(0, limit - len(quote)) // 2
    if len(before) > room:
        cut = before.find(" ", len(before) - room)
        before = "…" + before[cut if cut >= 0 else len(before) - room :]
    if len(after) > room:
        cut = after.rfind(" ", 0, room)
        after = after[: cut if cut > 0 else room] + "…"
    return before, quote, after


def _whole_article(text: str, start: int, end: int) -> str:
    return (f'<details class="dl-full"><summary>Read the whole article</summary><div class="dl-article">'
            f'{_e(text[:start])}<mark>{_e(text[start:end])}</mark>{_e(text[end:])}</div></details>')


def _context(c: Citation, index: Index) -> tuple[tuple[str, str, str], str]:
    """The quote in its paragraph as (before, quote, after), and the whole stored article with the quote marked.

    Both come from the article text stored in the index, never from a file on disk.
    """
    article = index.store.article_by_source(c.source)
    text = article.text if article else ""
    start = c.start if text[c.start : c.end] == c.quote else text.find(c.quote) if c.quote else -1
    if start >= 0:
        end = start + len(c.quote)
        return _paragraph(text, start, end), _whole_article(text, start, end)
    if c.passage and c.quote in c.passage:  # an article the index no longer holds: show the passage we have
        i = c.passage.index(c.quote)
        return (c.passage[:i], c.quote, c.passage[i + len(c.quote) :]), ""
    return ("", c.quote, ""), ""


def render_cards(answer: Answer | None, index: Index) -> str:
    """One card per citation: number, file, date, headline, the quote marked in its paragraph, the whole article."""
    if answer is None:
        return (f'{_SOURCES_H}<div class="dl-empty">Sources appear here with each answer: the file, its headline and '
                'publication date, and the quoted passage in context.</div>')
    done = f'data-question="{_e(answer.question)}"'  # marks the sources of a finished answer (tests wait on it)
    if not answer.citations:
        return f'{_SOURCES_H}<div class="dl-empty" {done}>No sources: this answer quotes no article.</div>'
    cards = []
    for c in answer.citations:
        (before, quote, after), full = _context(c, index)
        also = ""
        if c.also_in:
            items = "".join(f'<li><span class="dl-file">{_e(r.source)}</span> <time>{_e(_date(r.date))}</time></li>'
                            for r in c.also_in)
            also = f'<div class="dl-also"><span>Also reported in</span><ul>{items}</ul></div>'
        publisher = f'<span class="dl-pub">{_e(c.publisher)}</span>' if c.publisher else ""
        cards.append(
            f'<article class="dl-card" id="dl-card-{c.n}" data-source="{_e(c.source)}">'
            f'<header><span class="dl-n">{c.n}</span><span class="dl-file">{_e(c.source)}</span>'
            f'<time datetime="{_e(c.date or "")}">{_e(_date(c.date))}</time>{_dated_by(c.source, index)}</header>'
            f'<h4>{_e(c.title)}</h4>{publisher}'
            f'<p class="dl-passage">{_e(before)}<mark>{_e(quote)}</mark>{_e(after)}</p>{also}{full}</article>'
        )
    return f'{_SOURCES_H}<div class="dl-cards" {done}>{"".join(cards)}</div>'


def render_timeline(answer: Answer | None, index: Index) -> str:
    """The archive on one axis of publication dates; cited articles numbered, other reports of them ringed."""
    articles = index.articles
    dated = sorted(a.date for a in articles if a.date)
    if not dated:
        return f'{_TIMELINE_H}<div class="dl-empty">No dated articles in the archive yet.</div>'
    lo, hi = dated[0], dated[-1]
    span = max((hi - lo).days, 1)

    def x(d: dt.date) -> float:
        return 2 + 96 * (d - lo).days / span

    marks: dict[str, tuple[str, dt.date | None, str, str]] = {}  # source -> (kind, date, label, title)
    cites = answer.citations if answer else ()
    for c in cites:
        ns = ",".join(str(o.n) for o in cites if o.source == c.source)
        marks.setdefault(c.source, ("cited", c.date, ns, c.title))
    for c in cites:
        for r in c.also_in:
            title = r.title or (index.store.article_by_source(r.source) or c).title
            marks.setdefault(r.source, ("also", r.date, "", title))
    ticks = "".join(f'<span class="dl-tick" style="left:{x(a.date):.2f}%" title="{_e(a.date)} · {_e(a.source)}">'
                    f'</span>' for a in articles if a.date and a.source not in marks)
    # articles days apart would hide each other on the axis: stack them in lanes instead
    placed, lane_ends = [], []
    for src, (kind, d, label, _) in sorted(((s, m) for s, m in marks.items() if m[1]), key=lambda sm: x(sm[1][1])):
        pos = x(d)
        lane = next((i for i, end in enumerate(lane_ends) if end < pos - 5), len(lane_ends))
        lane_ends[lane:lane + 1] = [pos]
        placed.append((src, kind, d, label, pos, lane))
    dots = "".join(f'<span class="dl-dot dl-t-{kind}" style="left:{pos:.2f}%;bottom:{2 + 22 * lane}px" '
                   f'title="{_e(d)} · {_e(src)}">{_e(label)}</span>' for src, kind, d, label, pos, lane in placed)
    lanes = max((p[-1] for p in placed), default=0)
    years = "".join(f'<span class="dl-year" style="left:{x(dt.date(y, 1, 1)):.2f}%">{y}</span>'
                    for y in range(lo.year + 1, hi.year + 1)) if hi.year > lo.year else ""
    axis = (f'<div class="dl-axis" style="height:{30 + 22 * lanes}px">{ticks}{dots}{years}</div>'
            f'<div class="dl-ends"><time>{lo}</time><time>{hi}</time></div>')
    if answer is None or not marks:
        n = len(articles)
        caption = (f'<p class="dl-caption">{n} article{"s" * (n != 1)} published {lo} to {hi}. '
                   f'The articles an answer cites are placed here by date.</p>')
        return f'<div class="dl-timeline">{_TIMELINE_H}{axis}{caption}</div>'
    order = sorted(marks.items(), key=lambda kv: (kv[1][1] or dt.date.max, kv[1][2] == "", kv[0]))
    rows = "".join(
        f'<li class="dl-t-{kind}"><time>{_e(_date(d))}</time><span class="dl-n">{_e(label)}</span>'
        f'<span class="dl-file" title="{_e(src)}">{_e(src)}</span>'
        f'<span class="dl-title" title="{_e(title)}">{_e(title)}</span></li>'
        for src, (kind, d, label, title) in order
    )
    return f'<div class="dl-timeline">{_TIMELINE_H}{axis}<ol class="dl-chrono">{rows}</ol></div>'


_MD_SPECIAL = re.compile(r"[\\`*_{}<>#|~]|\[(?!\d+\])|(?<!\[\d)(?<!\[\d\d)\]")


def _md(text: str) -> str:
    """Article text made inert for the chat's Markdown renderer; the [n] markers stay as they are."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)


def chat_message(answer: Answer, *, final: bool = True) -> str:
    """What the chat shows for an answer: the text with its [n] markers, then each source's file and date."""
    body = _md(answer.text)
    if not final:
        return body
    parts = [body]
    if answer.citations:
        parts.append(_FOOTER.lstrip("\n") + "; ".join(f"[{c.n}] `{c.source.replace('`', '')}`, {_date(c.date)}"
                                                   for c in answer.citations) + "</small>")
    if answer.notice:
        parts.append(f"*{_md(answer.notice)}*")
    return "\n\n".join(parts)


def status_line(index: Index, settings: Settings) -> str:
    s = index.stats()
    dates = f"published {s['first_date']} to {s['last_date']}" if s["first_date"] else "no dated articles"
    model = str(s["model"]).rsplit("/", 1)[-1]
    how = f"answers by {settings.llm_model}" if settings.llm_url and settings.llm_model else "extractive answers"
    items = [f'<b>{s["articles"]}</b> articles', f'<b>{s["chunks"]}</b> passages', _e(dates),
             f"model {_e(model)}", _e(how)]
    return '<div class="dl-status">' + " · ".join(f"<span>{i}</span>" for i in items) + "</div>"


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
        return (msg, None, *on_load())

    def clear():
        return [], "", render_cards(None, index), render_timeline(None, index), ""

    def ask(question: str, since: str | None = None, until: str | None = None) -> tuple[str, list[dict]]:
        """Answer a question from the articles: the answer with its sources as text, and the citations."""
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
        try:
            index.refresh()
            return [h.to_dict() for h in index.search(query, int(k), since=since or None, until=until or None)]
        except RagError as e:
            raise gr.Error(str(e), print_exception=False) from e
        except Exception as e:
            log.exception("/search %r failed", query)
            raise gr.Error("internal error while searching; see the server log", print_exception=False) from e

    has_seeds = index.store.article_by_source(_SEED_MARKER) is not None
    pubs = _publisher_choices(index)
    with gr.Blocks(title="Dateline: cited answers from the news", analytics_enabled=False) as demo:
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
        question.submit(respond, chat_inputs, chat_outputs, api_name="chat", api_visibility="undocumented")
        chat.example_select(_example_text, None, question, api_visibility="private").then(
            respond, chat_inputs, chat_outputs, api_visibility="private")
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
        gr.api(ask, api_name="ask")
        gr.api(search, api_name="search")
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


def launch(demo: gr.Blocks, settings: Settings, *, block: bool = True) -> str:
    """Start serving ``demo`` as ``settings`` say (host, port, auth); the local URL."""
    auth, warning = access(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    demo.queue(default_concurrency_limit=2, max_size=64)
    host = settings.host.strip("[]")
    _, url, _ = demo.launch(  # Gradio builds its URLs from server_name: an IPv6 address needs its brackets
        server_name=f"[{host}]" if ":" in host else host, server_port=settings.port, share=False, auth=auth, show_error=False,
        max_file_size=settings.max_upload_bytes, enable_monitoring=False, prevent_thread_lock=True,
        theme=THEME, css=CSS, head=HEAD, quiet=True,
    )
    if block:
        print(f"Dateline is serving on {url} (API: /ask and /search; Ctrl-C stops it)", file=sys.stderr)
        demo.block_thread()
    return url


def serve(settings: Settings, *, index: Index | None = None, block: bool = True) -> tuple[gr.Blocks, str]:
    """Open the index (once), build the page and serve it; blocks unless ``block=False`` (tests).

    Gradio's own upload folder is moved inside the index directory, so the file
    routes can reach nothing outside the corpus and the index.
    """
    index = index or open_app_index(settings)
    os.environ.setdefault("GRADIO_TEMP_DIR", str((index.local_dir / ".incoming").resolve()))
    demo = build_app(index, settings=settings)
    return demo, launch(demo, settings, block=block)


# -- looks ------------------------------------------------------------------------------------------------
THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

# Opening a card's "whole article" scrolls the article box to the highlighted passage.
HEAD = """<script>
document.addEventListener('toggle', (e) => {
  const d = e.target;
  if (!(d instanceof HTMLDetailsElement) || !d.open || !d.classList.contains('dl-full')) return;
  const box = d.querySelector('.dl-article'), m = box && box.querySelector('mark');
  if (m) box.scrollTop = Math.max(0, m.offsetTop - box.offsetTop - 48);
}, true);
</script>"""

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto; }
#dl-top { gap: 2px; }
.dl-brand h1 { font-size: 1.6rem; margin: 0; letter-spacing: -0.01em; }
.dl-brand p { margin: 2px 0 0; color: var(--body-text-color-subdued); }
.dl-status { font-size: 0.85rem; color: var(--body-text-color-subdued); line-height: 1.6; }
.dl-status span { white-space: nowrap; }
.dl-status b { color: var(--body-text-color); }
.dl-h { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.06em; margin: 0 0 6px;
        color: var(--body-text-color-subdued); font-weight: 700; }
.dl-empty { color: var(--body-text-color-subdued); font-size: 0.9rem; padding: 12px 4px; }
.dl-note { background: #fff7e6; border: 1px solid #f5c26b; color: #6b4500; border-radius: 8px;
           padding: 6px 10px; font-size: 0.9rem; }
.dl-cards { display: flex; flex-direction: column; gap: 10px; max-height: 640px; overflow-y: auto; padding-right: 2px; }
.dl-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
           background: var(--background-fill-primary); }
.dl-card header { display: flex; align-items: center; gap: 4px 8px; font-size: 0.82rem; flex-wrap: wrap; }
.dl-card header time { margin-left: auto; font-weight: 600; white-space: nowrap; }
.dl-dsrc { color: var(--body-text-color-subdued); font-size: 0.74rem; white-space: nowrap; }
.dl-n { display: inline-flex; align-items: center; justify-content: center; min-width: 1.5em; height: 1.5em; padding: 0 4px;
        box-sizing: border-box;
        border-radius: 999px; background: var(--color-accent); color: white; font-size: 0.78rem; font-weight: 700; }
.dl-file { font-family: var(--font-mono); font-size: 0.78rem; color: var(--body-text-color-subdued);
           overflow-wrap: anywhere; min-width: 0; }
.dl-card h4 { margin: 6px 0 2px; font-size: 0.98rem; line-height: 1.3; }
.dl-pub { font-size: 0.8rem; color: var(--body-text-color-subdued); }
.dl-passage { margin: 6px 0; font-size: 0.9rem; line-height: 1.5; }
.dl-card mark, .dl-article mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.dl-also { font-size: 0.82rem; margin-top: 4px; }
.dl-also > span { font-weight: 600; }
.dl-also ul { margin: 2px 0 0; padding-left: 1.1em; }
.dl-also li time { white-space: nowrap; }
.dl-also time { font-weight: 600; margin-left: 4px; }
.dl-full summary { cursor: pointer; font-size: 0.85rem; color: var(--color-accent); margin-top: 4px; }
.dl-article { white-space: pre-wrap; max-height: 320px; overflow-y: auto; font-size: 0.88rem; line-height: 1.5;
              border-left: 3px solid var(--border-color-primary); padding: 4px 10px; margin-top: 6px; }
.dl-timeline { padding: 4px 2px 0; }
.dl-axis { position: relative; height: 30px; margin: 4px 10px 0; border-bottom: 2px solid var(--border-color-primary); }
.dl-tick { position: absolute; bottom: 0; width: 2px; height: 10px; background: #94a3b8; transform: translateX(-1px); }
.dl-dot { position: absolute; bottom: 2px; transform: translateX(-50%); min-width: 1.5em; height: 1.5em; border-radius: 999px;
          padding: 0 4px; box-sizing: border-box;
          display: inline-flex; align-items: center; justify-content: center; font-size: 0.75rem; font-weight: 700; }
.dl-dot.dl-t-cited { background: var(--color-accent); color: white; z-index: 2; box-shadow: 0 0 0 2px var(--background-fill-primary); }
.dl-dot.dl-t-also { background: var(--background-fill-primary); border: 2px solid var(--color-accent);
                    min-width: 0.8em; height: 0.8em; margin-bottom: 4px; padding: 0; }
.dl-year { position: absolute; top: 0; bottom: 0; padding-left: 3px; border-left: 1px dotted #94a3b8;
            font-size: 0.68rem; line-height: 1; color: var(--body-text-color-subdued); }
.dl-ends { display: flex; justify-content: space-between; font-size: 0.75rem; color: var(--body-text-color-subdued); margin: 4px 4px 0; }
.dl-caption { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 6px 0 0; }
.dl-chrono { list-style: none; padding: 0; margin: 8px 0 0; font-size: 0.82rem; }
.dl-chrono li { display: grid; grid-template-columns: auto 1.6em minmax(0, 1fr); column-gap: 8px; align-items: center;
                padding: 3px 0; border-bottom: 1px dashed var(--border-color-primary); }
.dl-chrono time { font-weight: 600; white-space: nowrap; font-variant-numeric: tabular-nums; }
.dl-chrono .dl-file, .dl-chrono .dl-title { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.dl-chrono .dl-title { grid-column: 3; color: var(--body-text-color-subdued); }
.dl-chrono li.dl-t-also .dl-n { background: transparent; min-width: 0.8em; height: 0.8em; justify-self: center; padding: 0;
                                border: 2px solid var(--color-accent); }
#chat .placeholder-content { padding: 0 24px; }
#chat .example { border: 1px solid var(--border-color-primary); border-radius: 10px; }
#chat .example:hover { border-color: var(--color-accent); }
.dl-msg { border-radius: 8px; padding: 8px 10px; font-size: 0.9rem; }
.dl-ok { background: #ecfdf5; border: 1px solid #6ee7b7; color: #065f46; }
.dl-error { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; }
@media (max-width: 640px) {
  .dl-cards { max-height: none; overflow: visible; }
  .dl-brand h1 { font-size: 1.3rem; }
}
"""
