"""The ``rag`` command line: index, remove, search, ask, eval, serve. Thin: parse, call rag, print."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import RagError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Dateline: ask questions of a news archive and get answers cited by file and date.",
)

IndexOpt = Annotated[Optional[str], typer.Option(
    "--index", help="Index directory (default: vectorstore/), or a postgresql:// URL (needs the scale extra).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Only articles published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Only articles published on or before YYYY-MM-DD.")]
InsecureLLMOpt = Annotated[bool, typer.Option(
    "--allow-insecure-llm", help="Send the LLM API key over plain HTTP to another machine (refused otherwise).")]


def _settings(**overrides):
    from .settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


# Control characters from an article (or a file name) could retitle or clear the terminal (ESC ] 0;... BEL,
# ESC [2J): they are shown as their Unicode pictures instead. Lone surrogates (undecodable bytes) cannot be
# printed at all, so they become U+FFFD.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _picture(m: re.Match) -> str:
    c = ord(m.group())
    return chr(0x2400 + c) if c < 0x20 else "\u2421" if c == 0x7F else "\ufffd" if c >= 0xD800 else f"<{c:02X}>"


def safe_text(text: object) -> str:
    r"""``text`` fit for a terminal: tabs and line breaks kept, every other control character made visible.

    >>> safe_text("Title\x1b]0;owned\x07 here\n")
    'Title␛]0;owned␇ here\n'
    """
    return _CONTROLS.sub(_picture, str(text))


def _out(msg: object = "") -> None:
    typer.echo(safe_text(msg))


def _err(msg: object) -> None:
    typer.echo(safe_text(msg), err=True)


def _json(value: object) -> None:
    """JSON on stdout; the C1 controls and DEL that json leaves raw with ensure_ascii=False are escaped too."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    typer.echo(re.sub("[\x7f-\x9f\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text))


def _where(index: str) -> str:
    """An index as the summary names it: a directory with its slash, a URL as it is (password hidden)."""
    from .settings import is_database

    return index if is_database(index) else f"{index}/"


_RAY_ADDRESS = re.compile(r"local|auto|ray://\S+|[\w.-]+:\d+")


def _ray_argv(argv: list[str]) -> list[str]:
    """``--ray`` takes an optional ADDRESS: the next word when it looks like one and is not a file; else local.

    >>> _ray_argv(["index", "seeds", "--ray"]), _ray_argv(["index", "--ray", "auto", "seeds"])
    (['index', 'seeds', '--ray=local'], ['index', '--ray=auto', 'seeds'])
    """
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--ray":
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and _RAY_ADDRESS.fullmatch(nxt) and not Path(nxt).exists():
                out.append(f"--ray={nxt}")
                i += 2
                continue
            out.append("--ray=local")
        else:
            out.append(argv[i])
        i += 1
    return out


def _warn_insecure_llm(settings) -> None:
    """Say so when --allow-insecure-llm lets the key go out in clear text (Settings refuses it otherwise)."""
    from .generation import key_exposure

    exposure = key_exposure(settings.llm_url, settings.llm_api_key) if settings.llm_url else None
    if exposure:
        _err(f"warning: {exposure} (--allow-insecure-llm)")


@app.command()
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders: .txt articles, .json/.jsonl/.csv collections, .html pages, RSS/Atom feeds, WARC/ARC archives.")] = None,
    index_dir: IndexOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also remove articles no longer under PATH, and those from paths not named (uploads stay).")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Embed everything again: the recorded paths, PATH and the uploads.")] = False,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", metavar="[ADDRESS]", help="Embed as a Ray Data job: on this machine, or on the cluster at ADDRESS "
        "(auto, ray://HOST:PORT). Needs the scale extra.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add and update articles, embedding only new or changed ones; nothing is removed unless asked.

    Articles from paths not named, from uploads, or whose files are gone stay in the
    index: the summary says how many and why. --prune removes those not under PATH
    (uploads stay; 'rag remove' takes one out). A PATH that does not exist is a
    warning, and its articles stay. Without PATH: the paths the index was built from
    and its uploads (seeds/ for a new index).

    The index is a directory, or a PostgreSQL database named by URL; --ray runs the
    embedding on Ray (one encoder per actor) and writes the same index.

    Example:  rag index seeds/ ../shared/bench/multihop-rag/corpus.json --index /tmp/store
              rag index seeds/ --index postgresql://dateline@db.example/news --ray
    """
    from .indexing import index_corpus

    settings = _settings(index=index_dir)
    report = index_corpus(paths or None, settings=settings, rebuild=rebuild, prune=prune,
                          progress=sys.stderr.isatty(), ray=ray)
    for w in report.warnings:
        _err(f"warning: {w}")
    if as_json:
        _json(report.to_dict())
        return
    _out(
        f"indexed {report.articles} articles ({report.chunks} chunks) into {_where(report.index)}: "
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.kept} kept, "
        f"{report.removed} removed; {report.embedded_chunks} chunks embedded; {report.undated} undated; "
        f"{len(report.skipped)} skipped, {len(report.warnings)} warnings [{report.kind}, {report.seconds:.1f}s]"
    )
    for r in report.reasons:
        _out(f"  {r}")


@app.command()
def remove(
    names: Annotated[list[str], typer.Argument(help="Articles as cited (file name, or collection#url), or a corpus path.")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take articles out of the index, by the name they are cited by or by the corpus path they came from.

    An uploaded file is moved to <index>/uploads/.removed/. A file in a corpus folder
    stays where it is (indexing that folder again adds it back).

    Example:  rag remove 004_3895aaea98e54197.txt
    """
    from .indexing import remove_articles

    report = remove_articles(names, settings=_settings(index=index_dir))
    if as_json:
        _json(report.to_dict())
        return
    _out(f"removed {report.removed} article{'s' * (report.removed != 1)} from {_where(report.index)}: "
         f"{report.articles} articles ({report.chunks} chunks) remain")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="How many passages.")] = 5,
    since: SinceOpt = None,
    until: UntilOpt = None,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages that best match QUERY, with file, date and headline.

    Example:  rag search "Who handed Alec Baldwin the gun?" -k 3 --since 2021-12-01
    """
    from .retrieval import retrieve

    hits = retrieve(query, k=k, since=since, until=until, index=index_dir, settings=_settings())
    if as_json:
        _json([h.to_dict() for h in hits])
        return
    if not hits:
        _out("no passages match (check the date filters)")
    for n, h in enumerate(hits, 1):
        _out(f"{n}. [{h.similarity:.3f}] {h.source}  {h.date or 'date unknown'}")
        _out(f"   {' '.join(h.title.split())}")
        passage = " ".join(h.text.split())
        _out(textwrap.indent(textwrap.fill(textwrap.shorten(passage, 400, placeholder=" …"), 96), "   "))
        _out("")


def _print_answer(a) -> None:
    _out(a.text)
    if a.notice:
        _out(f"({a.notice})")
    if a.citations:
        _out("\nSources:")
    for c in a.citations:
        _out(f"[{c.n}] {c.source}  {c.date or 'date unknown'}  {' '.join(c.title.split())}")
        _out(textwrap.indent(textwrap.fill(f"“{' '.join(c.quote.split())}”", 92), "    "))
        if c.answer_span:
            _out(f"    answer: {' '.join(c.answer_span.split())}")
        for r in c.also_in:
            _out(f"    also reported in {r.source} ({r.date or 'date unknown'})")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in plain English.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
    index_dir: IndexOpt = None,
    llm_url: Annotated[Optional[str], typer.Option("--llm-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1")] = None,
    llm_model: Annotated[Optional[str], typer.Option("--llm-model", help="Model name on that server.")] = None,
    allow_insecure_llm: InsecureLLMOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the articles, citing file and date for every sentence.

    Example:  rag ask "Who handed Alec Baldwin the gun?"
    """
    from .answering import LLMConfig, answer

    settings = _settings(llm_url=llm_url, llm_model=llm_model, allow_insecure_llm=allow_insecure_llm or None)
    if bool(settings.llm_url) != bool(settings.llm_model):
        raise typer.BadParameter("give both --llm-url and --llm-model (or neither)")
    _warn_insecure_llm(settings)
    llm = (LLMConfig(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout)
           if settings.llm_url else None)
    a = answer(question, since=since, until=until, index=index_dir, settings=settings, llm=llm)
    if as_json:
        _json(a.to_dict())
    else:
        _print_answer(a)


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="JSON Lines: question, sources, answer_any, type (fact|temporal|refuse), history.")],
    index_dir: IndexOpt = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Depth for retrieval recall.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Score answers on a labelled question set: recall@k, answer hits, refusals, citation correctness.

    Example:  rag eval tests/questions.jsonl --json
    """
    from .evaluation import evaluate
    from .retrieval import open_index

    if not questions.is_file():
        raise typer.BadParameter(f"no such file: {questions}")
    settings = _settings()
    report = evaluate(questions, open_index(index_dir, settings), k=k)
    if as_json:
        _json(report)
        return
    fmt = lambda v: "  n/a" if v is None else f"{v:5.3f}"  # noqa: E731
    typer.echo(f"{'type':10} {'n':>3} {'recall@' + str(k):>9} {'hits':>6} {'refusal':>8} {'false-ref':>9} {'false-ans':>9} {'cites-ok':>8}")
    for name, s in list(report["by_type"].items()) + [("overall", report["overall"])]:
        typer.echo(f"{name:10} {s['questions']:3d} {fmt(s['recall_at_k']):>9} {fmt(s['answer_hit_rate']):>6} "
                   f"{fmt(s['refusal_accuracy']):>8} {s['false_refusals']:9d} {s['false_answers']:9d} "
                   f"{fmt(s['citation_correctness']):>8}")
    misses = [q for q in report["questions"] if q.get("hit") is False or not q["correct_refusal"]]
    for q in misses:
        _out(f"  miss [{q['type']}] {q['question']} -> {q['answer'][:140]}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; anything but loopback needs --auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 7860,
    index_dir: IndexOpt = None,
    auth: Annotated[Optional[str], typer.Option("--auth", help="user:password required to open the chat.")] = None,
    allow_insecure_llm: InsecureLLMOpt = False,
) -> None:
    """Serve the web chat (and its /ask and /search API) on http://HOST:PORT.

    Example:  rag serve --port 7860 --index vectorstore/
              rag serve --index postgresql://dateline@db.example/news
    """
    from ui.app import serve as serve_app

    settings = _settings(index=index_dir, host=host, port=port, auth=auth, allow_insecure_llm=allow_insecure_llm or None)
    _warn_insecure_llm(settings)
    serve_app(settings)


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(args=_ray_argv(sys.argv[1:]), standalone_mode=False)
    except RagError as e:
        _err(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except typer.Abort:
        _err("aborted")
        sys.exit(1)
    except Exception as e:
        # typer ships its own copy of click, so usage errors are recognised by shape
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            sys.exit(e.exit_code)
        _err(f"error: {type(e).__name__}: {e} (this is a bug in Dateline; please report it)")
        sys.exit(1)
