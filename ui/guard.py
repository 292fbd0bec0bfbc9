"""The served app's guard: what one client may upload, how often a password may be wrong, which calls get in.

This module is the policy: the limits, and the per-client bookkeeping that applies
them. ui/middleware.py is the ASGI layer that holds each request up against it
(it imports from here, never the other way), so the rules can be read, and tested,
apart from the plumbing of requests and replies.

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
- routes Dateline does not use (run history, deep links, OpenAPI, MCP...) answer 404
  (``ui.middleware.UNUSED_ROUTES``).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from rag.corpus import SUPPORTED_SUFFIXES

__all__ = ["Limits", "Guard", "remove_claimed", "sweep"]

log = logging.getLogger("dateline.guard")

Message = dict[str, Any]  # an ASGI message; a reply is two of them, {"start": ..., "body": ...}

_HOUR = 3600.0


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


def remove_claimed(paths: list[Path], folder: Path | None) -> None:
    """Delete the raw uploads an upload event has read (they are copied into the index's uploads/ by then)."""
    if folder is None:
        return
    for p in paths:
        with contextlib.suppress(OSError, ValueError):
            if p.resolve().is_relative_to(folder.resolve()):
                p.unlink()
                p.parent.rmdir()
