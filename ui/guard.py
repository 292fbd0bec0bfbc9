"""The served app's guard: what one client may upload, how often a password may be wrong, which calls get in.

One pure-ASGI middleware sits in front of Gradio's routes (installed through
FastAPI's ``middleware`` argument, so it sees each request before Gradio does):

- ``POST /gradio_api/upload``: at most ``upload_files`` files of ``upload_bytes``
  each per request, ``client_upload_bytes`` and ``client_upload_files`` per client
  per hour, and only the types Dateline reads (``rag.corpus.SUPPORTED_SUFFIXES``);
  a refused upload's files are deleted before the reply. Raw uploads that no
  upload event claimed are swept from the upload folder at start and on a timer.
- ``POST /login``: after ``login_free_failures`` wrong passwords in a row, a client
  is locked out for 1 s, then twice as long after each further failure (at most
  ``login_max_lock``). Failures are logged with the address, never the password.
- calls (``queue/join``, ``call/NAME``, ``call/v2/NAME``): the event must exist
  (private page events only through the queue, by index) and get exactly its
  arguments; a client may have ``client_calls`` calls waiting or running, and once
  the head of the line has waited ``max_wait``, new calls are told the server is busy.
- routes Dateline does not use (run history, deep links, OpenAPI, MCP...) answer 404.

A client is an IP address, except on loopback, where every local process and a
reverse proxy's visitors share 127.0.0.1: there a client is one browser or API
session for calls (uploads and sign-ins still count per address).

Gradio does not expose its queue's contents; ``_QueueView`` reads them in one place.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import inspect
import ipaddress
import json
import logging
import math
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from rag.corpus import SUPPORTED_SUFFIXES

__all__ = ["Limits", "Guard", "GuardMiddleware", "GuardedBlocks", "UNUSED_ROUTES", "remove_claimed", "sweep"]

log = logging.getLogger("dateline.guard")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOUR = 3600.0
_MULTIPART_SLACK = 1_000_000  # headers and boundaries around the files of one upload request
_DRAIN = 16_000_000  # read (and drop) a refused request's body up to this, so the client sees the reply
_CALL = re.compile(r"/gradio_api/(?:(?P<join>queue/join)|call/(?P<v2>v2/)?(?P<name>[^/]+)"
                   r"|(?:run|api)/(?P<direct>[^/]+))/?")
#: Routes Gradio serves that Dateline does not use; each could reveal or store something, so they answer 404.
UNUSED_ROUTES = ("/openapi.json", "/gradio_api/openapi.json", "/gradio_api/runs", "/gradio_api/run-history",
                 "/gradio_api/deep_link", "/gradio_api/process_recording", "/gradio_api/mcp", "/gradio_api/vibe",
                 "/gradio_api/undo-vibe", "/gradio_api/profiling", "/gradio_api/dev", "/gradio_api/component_server",
                 "/gradio_api/stream", "/gradio_api/proxy=", "/monitoring", "/docs", "/redoc")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one client may do, and how long anyone waits; the defaults suit one newsroom on 2 cores."""

    upload_bytes: int = 5_000_000  # per file; launch() sets it from Settings.max_upload_bytes
    upload_files: int = 20  # per request
    client_upload_bytes: int = 50_000_000  # per client per hour, counting every byte sent to the upload route
    client_upload_files: int = 200  # per client per hour
    incoming_ttl: float = 600.0  # a raw upload no event claimed within this is removed
    sweep_every: float = 60.0
    login_free_failures: int = 5  # wrong passwords in a row before the first lockout
    login_first_lock: float = 1.0  # seconds; doubles with each further failure
    login_max_lock: float = 900.0
    login_forget: float = 3600.0  # a client's failures are forgotten after this long without one
    client_calls: int = 8  # calls one client may have waiting or running (a page fires a few at once)
    max_wait: float = 20.0  # once the head of the line has waited this long, new calls are told to come back
    max_body: int = 2_000_000  # bytes of JSON in one call (a long conversation's history fits)


def _reply(status: int, detail: object, *, retry_after: float | None = None, text: bool = False) -> Message:
    body = detail.encode() if text else json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8" if text else b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    return {"start": {"type": "http.response.start", "status": status, "headers": headers},
            "body": {"type": "http.response.body", "body": body}}


def _invalid(name: str, message: str) -> Message:
    """A 422 in the shape of Gradio's own validators, which gradio_client shows as '- name: message'."""
    return _reply(422, [{"__type__": "validate", "is_valid": False, "parameter_name": name, "message": message}])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _seconds(s: float) -> str:
    return f"{math.ceil(s)} s" if s < 120 else f"{math.ceil(s / 60)} min"


def _size(n: float) -> str:
    return f"{n / 1e6:.3g} MB"


def sweep(folder: Path, *, older_than: float, keep: Path | None = None) -> int:
    """Delete files under ``folder`` untouched for ``older_than`` seconds, then empty folders; how many files went."""
    if not folder.is_dir():
        return 0
    cutoff, gone = time.time() - older_than, 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_dir() and not path.is_symlink():
                if path != keep:
                    path.rmdir()  # only succeeds when empty
            elif path.lstat().st_mtime <= cutoff:
                path.unlink()
                gone += 1
        except OSError:
            continue  # in use, already gone, or not empty
    return gone


class _QueueView:
    """What Gradio's queue holds, read from its (undocumented) attributes in this one place; tests cover it."""

    def __init__(self, blocks: gr.Blocks):
        self.queue = blocks._queue

    def calls_of(self, owner: Callable[[Any], str], key: str) -> int:
        return sum(1 for e in list(self.queue.event_ids_to_events.values()) if owner(e) == key)

    def waited(self, fn: Any) -> float:
        """Seconds the call at the head of ``fn``'s line has waited so far: what a newcomer can expect, observed.

        (Gradio's own estimate, the mean run time times the line, runs several times
        too high under load: the runs share one interpreter with the streams they answer.)
        """
        group = self.queue.event_queue_per_concurrency_id.get(fn.concurrency_id)
        if group is None or not group.queue:
            return 0.0
        return time.monotonic() - min(e.enqueue_time for e in list(group.queue))


@dataclasses.dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class Guard:
    """The limits and the per-client bookkeeping behind the middleware; one per served app."""

    def __init__(self, limits: Limits, *, auth: bool, incoming: Path | None = None):
        self.limits = limits
        self.auth = auth
        self.incoming = incoming  # Dateline's own upload folder: wiped at start, swept on a timer
        self.blocks: gr.Blocks | None = None  # set by launch(), before the first request
        self._failures: dict[str, _Failures] = {}
        self._uploads: dict[str, collections.deque[list[float]]] = collections.defaultdict(collections.deque)
        self._suffixes = tuple(s.lower() for s in SUPPORTED_SUFFIXES)
        self._admitting: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def admission(self, key: str) -> asyncio.Lock:
        """One call of ``key`` admitted at a time, until it is in line: a burst of calls sent at once would
        otherwise all be counted before any of them had joined the queue, and all be let in."""
        lock = self._admitting.get(key)
        if lock is None:
            lock = self._admitting[key] = asyncio.Lock()
        return lock

    # -- sign-in ------------------------------------------------------------------------------------------
    def login_wait(self, client: str, now: float) -> float:
        f = self._failures.get(client)
        return max(0.0, f.locked_until - now) if f else 0.0

    def login_result(self, client: str, ok: bool, now: float) -> None:
        if ok:
            self._failures.pop(client, None)
            return
        lim = self.limits
        f = self._failures.get(client)
        if f is None or now - f.last > lim.login_forget:
            f = self._failures[client] = _Failures()
            if len(self._failures) > 10_000:  # forget the stalest addresses rather than grow without bound
                for stale in sorted(self._failures, key=lambda c: self._failures[c].last)[:1000]:
                    del self._failures[stale]
        f.count += 1
        f.last = now
        over = f.count - lim.login_free_failures
        lock = min(lim.login_first_lock * 2 ** over, lim.login_max_lock) if over >= 0 else 0.0
        f.locked_until = now + lock
        log.warning("sign-in failed from %s (%d in a row)%s", client, f.count,
                    f"; locked out for {_seconds(lock)}" if lock else "")

    # -- uploads ------------------------------------------------------------------------------------------
    def upload_usage(self, client: str, now: float) -> tuple[float, int, float]:
        """(bytes, files, seconds until the oldest counted upload leaves the window) for ``client``."""
        usage = self._uploads[client]
        while usage and now - usage[0][0] > _HOUR:
            usage.popleft()
        if not usage:
            del self._uploads[client]
            return 0.0, 0, 0.0
        return sum(u[1] for u in usage), int(sum(u[2] for u in usage)), _HOUR - (now - usage[0][0])

    def charge_upload(self, client: str, now: float, size: int) -> list[float]:
        """Count an upload request against ``client`` before its body arrives, so parallel ones cannot overshoot."""
        entry = [now, float(size), 0.0]
        self._uploads[client].append(entry)
        return entry

    def refund_upload(self, client: str, entry: list[float]) -> None:
        with contextlib.suppress(ValueError, KeyError):
            self._uploads[client].remove(entry)

    def supported(self, name: str) -> bool:
        return name.lower().endswith(self._suffixes)

    # -- the upload folder --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any):
        """Wipe the upload folder as the server starts (no event can claim what a previous run left), then sweep it."""
        task = None
        if self.incoming is not None:
            gone = await asyncio.to_thread(sweep, self.incoming, older_than=-1, keep=self.incoming)
            if gone:
                log.info("removed %d unclaimed upload(s) left in %s", gone, self.incoming)
            task = asyncio.create_task(self._sweep_forever())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _sweep_forever(self) -> None:
        assert self.incoming is not None  # noqa: S101
        while True:
            await asyncio.sleep(self.limits.sweep_every)
            # the parent holds the folders of other servers on the same index too: sweep them by age as well
            await asyncio.to_thread(sweep, self.incoming.parent, older_than=self.limits.incoming_ttl,
                                    keep=self.incoming)

    # -- calls --------------------------------------------------------------------------------------------
    def find_call(self, match: re.Match, body: dict) -> tuple[Any | None, Message | None]:
        """The event a call names, or the reply refusing it."""
        assert self.blocks is not None  # noqa: S101
        fns = self.blocks.fns
        if match["join"]:
            index = body.get("fn_index")
            if isinstance(index, int) and not isinstance(index, bool):
                if index in fns:
                    return fns[index], None
                return None, _reply(404, f"there is no event number {index}")
            return None, None  # Gradio answers a missing or malformed fn_index itself
        name = match["name"] or match["direct"]
        for fn in fns.values():
            if fn.api_name == name and fn.api_visibility != "private":
                return fn, None
        offered = ", ".join(f"/{f.api_name}" for f in fns.values() if f.api_visibility == "public")
        return None, _reply(404, f"there is no API endpoint /{name}; this server offers {offered}")

    def check_arguments(self, fn: Any, match: re.Match, body: dict) -> Message | None:
        names = _parameter_names(fn)
        endpoint = f"/{fn.api_name}" if fn.api_visibility != "private" else "this event"
        if match["v2"]:  # call/v2 takes keyword arguments
            unknown = [k for k in body if k not in names and k != "oauth_token"]
            if unknown:
                return _invalid(unknown[0], f"{endpoint} has no argument '{unknown[0]}'; it takes {', '.join(names)}")
            return None
        data = body.get("data")
        if isinstance(data, list) and len(data) != len(names):
            return _invalid(
                names[len(data)] if len(data) < len(names) else "(extra)",
                f"{endpoint} takes {len(names)} argument{'s' * (len(names) != 1)} ({', '.join(names)}); "
                f"{len(data)} {'was' if len(data) == 1 else 'were'} given",
            )
        return None

    def admit(self, fn: Any, key: str | None, owner: Callable[[Any], str]) -> Message | None:
        """Refuse a call when this client already has its share in line, or when the line is too long to wait in."""
        assert self.blocks is not None  # noqa: S101
        view = _QueueView(self.blocks)
        mine = view.calls_of(owner, key) if key is not None else 0
        if mine >= self.limits.client_calls:
            log.info("busy: %s already has %d calls waiting or running", key, mine)
            return _reply(429, f"busy: {mine} of your requests are already waiting or running; "
                               f"try again when one has finished", retry_after=2)
        wait = view.waited(fn)
        if wait > self.limits.max_wait:
            log.info("busy: the line for %s has waited %.1f s; a new call was told to come back", fn.name, wait)
            return _reply(503, f"busy: questions are waiting {_seconds(wait)} for an answer now; try again in a "
                               f"moment", retry_after=min(wait, 60))
        return None


def _parameter_names(fn: Any) -> list[str]:
    """The names of an event's arguments: a gr.api function's parameters, else its components' labels."""
    if fn.inputs and all(b.get_block_name() == "api" for b in fn.inputs):
        with contextlib.suppress(TypeError, ValueError):
            params = list(inspect.signature(fn.fn).parameters)
            if len(params) == len(fn.inputs):
                return params
    return [getattr(b, "label", None) or b.elem_id or b.get_block_name() for b in fn.inputs]


class GuardMiddleware:
    """The ASGI middleware; ``Middleware(GuardMiddleware, guard=...)`` goes in FastAPI's ``middleware`` list."""

    def __init__(self, app: Callable, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"][len(scope.get("root_path", "")):] if scope.get("root_path") else scope["path"]
        client = (scope.get("client") or ("unknown", 0))[0]
        if path.startswith(UNUSED_ROUTES):
            await self._send(send, _reply(404, "Not Found"))
        elif scope["method"] != "POST":
            await self.app(scope, receive, send)
        elif path.rstrip("/") == "/login" and self.guard.auth:
            await self._login(scope, receive, send, client)
        elif path.rstrip("/") == "/gradio_api/upload":
            await self._upload(scope, receive, send, client)
        elif m := _CALL.fullmatch(path):
            await self._call(scope, receive, send, client, m)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    async def _send(send: Send, reply: Message) -> None:
        await send(reply["start"])
        await send(reply["body"])

    @staticmethod
    async def _drain(receive: Receive, limit: int = _DRAIN) -> None:
        """Read and drop the request body (up to ``limit``), so the client is not cut off mid-send."""
        seen = 0
        while seen <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body"):
                return

    async def _refuse(self, receive: Receive, send: Send, reply: Message) -> None:
        await self._drain(receive)
        await self._send(send, reply)

    async def _login(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        wait = self.guard.login_wait(client, time.monotonic())
        if wait > 0:
            await self._refuse(receive, send, _reply(
                429, f"too many wrong passwords from your address; try again in {_seconds(wait)}", retry_after=wait))
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status in (200, 400):  # 400 is Gradio's "Incorrect credentials"
            self.guard.login_result(client, status == 200, time.monotonic())

    async def _upload(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        g, lim = self.guard, self.guard.limits
        length = dict(scope["headers"]).get(b"content-length", b"")
        if not length.isdigit():
            await self._refuse(receive, send, _reply(411, "an upload must state its size (Content-Length)", text=True))
            return
        size, now = int(length), time.monotonic()
        if size > lim.upload_files * lim.upload_bytes + _MULTIPART_SLACK:
            most = f"an upload may hold at most {lim.upload_files} files of {_size(lim.upload_bytes)} each"
            await self._refuse(receive, send, _reply(413, most, text=True))
            return
        used, files, frees_in = g.upload_usage(client, now)
        if used + size > lim.client_upload_bytes or files >= lim.client_upload_files:
            log.warning("upload refused from %s: %s in %d files in the last hour", client, _size(used), files)
            await self._refuse(receive, send, _reply(
                429, f"upload limit reached: {_size(lim.client_upload_bytes)} or {lim.client_upload_files} files per "
                     f"hour from one address; try again in {_seconds(frees_in)}", retry_after=frees_in, text=True))
            return
        entry = g.charge_upload(client, now, size)
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        if start is None:
            return
        body = b"".join(chunks)
        if start["status"] in (401, 403):  # not signed in: nothing was stored
            g.refund_upload(client, entry)
        elif start["status"] == 200:
            refusal = self._check_stored(body, entry)
            if refusal is not None:
                await self._send(send, refusal)
                return
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _check_stored(self, body: bytes, entry: list[float]) -> Message | None:
        """Delete what an accepted upload stored if it breaks the rules; the refusal to send instead, if so."""
        try:
            paths = [Path(p) for p in json.loads(body)]
        except (ValueError, TypeError):
            return None
        entry[2] = len(paths)
        lim = self.guard.limits
        bad = [p.name for p in paths if not self.guard.supported(p.name)]
        if not bad and len(paths) <= lim.upload_files:
            return None
        for p in paths:
            with contextlib.suppress(OSError):
                p.unlink()
                p.parent.rmdir()  # the per-content folder Gradio made, when nothing else is in it
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            return _reply(415, f"{shown}: Dateline reads only {' '.join(self.guard._suffixes)} files; "
                               f"nothing from this upload was kept", text=True)
        return _reply(413, f"an upload may hold at most {lim.upload_files} files; nothing from this upload was kept",
                      text=True)

    async def _call(self, scope: Scope, receive: Receive, send: Send, client: str, match: re.Match) -> None:
        g = self.guard
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > g.limits.max_body:
                await self._refuse(receive, send, _reply(413, f"a call may send at most {_size(g.limits.max_body)}"))
                return
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fn, refusal = g.find_call(match, body) if isinstance(body, dict) and g.blocks is not None else (None, None)
        if refusal is None and fn is not None:
            refusal = g.check_arguments(fn, match, body)
        if refusal is None and fn is not None and not match["direct"] and fn.queue is not False:
            key, owner = _client_key(client, body.get("session_hash") if match["join"] else None)
            async with g.admission(key) if key is not None else contextlib.nullcontext():
                refusal = g.admit(fn, key, owner)  # one call per client at a time: joining returns once it is in line
                if refusal is None:
                    await self.app(scope, replay, send)
                    return
        if refusal is not None:
            await self._send(send, refusal)
            return
        await self.app(scope, replay, send)


def _client_key(client: str, session: str | None) -> tuple[str | None, Callable[[Any], str]]:
    """Who a call counts against, and how to tell that owner's events in the queue.

    An address, except on loopback, where it is the session (a call over plain HTTP
    is a session of its own there, so only the wait bound applies to it).
    """
    if not _loopback(client):
        return client, _host
    return (f"{client}#{session}" if session else None), lambda e: f"{_host(e)}#{e.session_hash}"


def _host(event: Any) -> str:
    request = getattr(event, "request", None)
    client = getattr(request, "client", None)
    return getattr(client, "host", "") or ""


class GuardedBlocks(gr.Blocks):
    """``gr.Blocks`` whose events answer an input they cannot read with a message, not a traceback in the log.

    Gradio checks each input against its component (a chat history's shape, a date, a
    dropdown's choices) before the event runs, and prints a traceback when one fails;
    a caller's bad input is not a server fault, so it gets one log line instead.
    """

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):  # noqa: ANN001, D102
        names = _parameter_names(block_fn)
        if len(inputs) != len(names):
            raise gr.Error(f"this event takes {len(names)} arguments ({', '.join(names)}); "
                           f"{len(inputs)} {'was' if len(inputs) == 1 else 'were'} given", print_exception=False)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Exception as e:  # noqa: BLE001 - any failure here is about the caller's input
            reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            log.info("refused the input of %s: %s", block_fn.name, reason)
            raise gr.Error(f"the input could not be read: {reason}", print_exception=False) from None


def remove_claimed(paths: list[Path], folder: Path | None) -> None:
    """Delete the raw uploads an upload event has read (they are copied into the index's uploads/ by then)."""
    if folder is None:
        return
    for p in paths:
        with contextlib.suppress(OSError, ValueError):
            if p.resolve().is_relative_to(folder.resolve()):
                p.unlink()
                p.parent.rmdir()

