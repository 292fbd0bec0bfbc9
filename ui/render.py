"""What the page shows: source cards, the timeline, chat messages and the status line, as escaped HTML; the theme.

Pure functions of typed values (an Answer, the Index); every piece of article text
goes through ``html.escape`` on its way into the page.
"""

import datetime as dt
import html
import re

import gradio as gr

from rag import DATE_SOURCES, Answer, Citation, Index, Settings

__all__ = ["render_cards", "render_timeline", "chat_message", "status_line", "THEME", "HEAD", "CSS"]

_FOOTER = "\n\n<small>Sources: "  # starts the list of sources under an answer in the chat
_SOURCES_H = '<h3 class="dl-h">Sources</h3>'
_TIMELINE_H = '<h3 class="dl-h">Timeline</h3>'


# -- HTML: every piece of article text goes through html.escape ---------------------------------------------
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _date(d: dt.date | None) -> str:
    return d.isoformat() if d else "date unknown"


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


def _dated_by(source: str, index: Index) -> str:
    """Where the card's date came from (page metadata, feed entry...), shown beside it."""
    a = index.store.article_by_source(source)
    if a is None or a.date is None or not a.date_source:
        return ""
    how = f"{DATE_SOURCES.get(a.date_source, a.date_source)}; {a.date_confidence or 'unknown'} confidence"
    return f'<small class="dl-dsrc" title="{_e(how)}">from {_e(a.date_source.replace("-", " "))}</small>'


def _marked(c: Citation, quote: str) -> str:
    """The quote, escaped, with its short answer (a name, date, number) in bold when the reader found one."""
    i = quote.find(c.answer_span) if c.answer_span else -1
    if i < 0:
        return _e(quote)
    j = i + len(c.answer_span)
    return f'{_e(quote[:i])}<b class="dl-answer">{_e(quote[i:j])}</b>{_e(quote[j:])}'


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
            f'<p class="dl-passage">{_e(before)}<mark>{_marked(c, quote)}</mark>{_e(after)}</p>{also}{full}</article>'
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
    for c in answer.citations:  # the short answer in bold, inside its quote
        if c.answer_span and (q := _md(c.quote)) in body and (a := _md(c.answer_span)) in q:
            body = body.replace(q, q.replace(a, f"**{a}**", 1), 1)
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
