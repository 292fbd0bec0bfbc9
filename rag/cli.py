"""The ``rag`` command line: index, search, ask, eval, serve. Thin: parse, call rag, print."""

from __future__ import annotations

import json
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

IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index directory (default: vectorstore/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Only articles published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Only articles published on or before YYYY-MM-DD.")]


def _settings(**overrides):
    from .settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command()
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders: .txt articles, .json/.jsonl collections.")] = None,
    index_dir: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Ignore the existing index and embed everything.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Index articles, embedding only new or changed ones.

    Without PATH: the paths the index was built from, or seeds/ for a new index.

    Example:  rag index seeds/ ../shared/bench/multihop-rag/corpus.json --index /tmp/store
    """
    from .retrieval import index_corpus

    settings = _settings(index=index_dir)
    report = index_corpus(paths or None, settings=settings, rebuild=rebuild, progress=sys.stderr.isatty())
    for w in report.warnings:
        _err(f"warning: {w}")
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    typer.echo(
        f"indexed {report.articles} articles ({report.chunks} chunks) into {report.index}/: "
        f"{report.added} added, {report.updated} updated, {report.removed} removed, {report.unchanged} unchanged; "
        f"{report.embedded_chunks} chunks embedded; {len(report.skipped)} skipped, {len(report.warnings)} warnings "
        f"[{report.kind}, {report.seconds:.1f}s]"
    )


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
        typer.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return
    if not hits:
        typer.echo("no passages match (check the date filters)")
    for n, h in enumerate(hits, 1):
        typer.echo(f"{n}. [{h.similarity:.3f}] {h.source}  {h.date or 'date unknown'}")
        typer.echo(f"   {h.title}")
        passage = " ".join(h.text.split())
        typer.echo(textwrap.indent(textwrap.fill(textwrap.shorten(passage, 400, placeholder=" …"), 96), "   "))
        typer.echo("")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; anything but loopback needs --auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 7860,
    index_dir: IndexOpt = None,
    auth: Annotated[Optional[str], typer.Option("--auth", help="user:password required to open the chat.")] = None,
) -> None:
    """Serve the web chat (and its /ask and /search API) on http://HOST:PORT.

    Example:  rag serve --port 7860 --index vectorstore/
    """
    from ui.app import serve as serve_app

    settings = _settings(index=index_dir, host=host, port=port, auth=auth)
    serve_app(settings)


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
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
