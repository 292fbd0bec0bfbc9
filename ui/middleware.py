"""The guard's ASGI layer: the middleware that holds each request to Gradio up against ui/guard.py's limits.

One pure-ASGI middleware sits in front of Gradio's routes (installed through
FastAPI's ``middleware`` argument, so it sees each request before Gradio does):
it answers the routes Dateline does not use with 404, counts sign-in results,
checks an upload's size before its body is read and what Gradio stored after,
and admits a call only once its event, arguments and the client's share of the
queue are right. What is allowed, and the per-client bookkeeping, live in
ui/guard.py (``Guard``, ``Limits``); this module only imports from there.

A refused request's body is read and dropped before the reply, so a client still
sending is not cut off and sees why. ``GuardedBlocks`` covers what a request
cannot show: an event's input that its component cannot read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ui.guard import (  # the leading-underscore helpers are private to the ui package
    Guard, Message, _loopback, _parameter_names, _reply, _seconds, _size,
)

__all__ = ["GuardMiddleware", "GuardedBlocks", "UNUSED_ROUTES"]

log = logging.getLogger("dateline.guard")  # the same logger as the policy: one name to follow in the log

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MULTIPART_SLACK = 1_000_000  # headers and boundaries around the files of one upload request
_DRAIN = 16_000_000  # read (and drop) a refused request's body up to this, so the client sees the reply
_CALL = re.compile(r"/gradio_api/(?:(?P<join>queue/join)|call/(?P<v2>v2/)?(?P<name>[^/]+)"
                   r"|(?:run|api)/(?P<direct>[^/]+))/?")
#: Routes Gradio serves that Dateline does not use; each could reveal or store something, so they answer 404.
UNUSED_ROUTES = ("/openapi.json", "/gradio_api/openapi.json", "/gradio_api/runs", "/gradio_api/run-history",
                 "/gradio_api/deep_link", "/gradio_api/process_recording", "/gradio_api/mcp", "/gradio_api/vibe",
                 "/gradio_api/undo-vibe", "/gradio_api/profiling", "/gradio_api/dev", "/gradio_api/component_server",
                 "/gradio_api/stream", "/gradio_api/proxy=", "/monitoring", "/docs", "/redoc")


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

