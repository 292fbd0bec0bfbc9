"""Soak the served app: bad web input, hostile uploads, password guessing, what the routes reveal, and load.

Everything runs against real ``rag serve`` processes on loopback, over a private copy
of the seeds index, driven over plain HTTP (httpx) and with gradio_client:

- ``cases()``: about 30 kinds of bad or hostile input, each a ``(kind, check)`` whose
  ``check()`` returns ``(ok, detail)``. bench/soak.py runs them with its own cases; the
  last one counts the tracebacks in the servers' logs (must be 0). The servers start on
  first use and stop at exit.
- ``load()``: N gradio_client users, each asking /ask questions back to back for a while:
  answers, errors, p50/p95/max latency, throughput, and each user's share.
- ``upload_under_load()``: an article uploaded the way the page does it while users ask;
  no answer may fail, and the article must be answerable right after.

Usage (the load runs take about 5 minutes)::

    make soak-web
    python bench/soak_web.py --seconds 60 --users 10,25,50
    python bench/soak_web.py --skip-load            # only the cases (about 2 minutes)

Printed: each case with its verdict, upload bytes accepted per client before refusal,
time to the tenth wrong password, tracebacks in the server log, and the load table.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "questions.jsonl"
GUN = "004_3895aaea98e54197.txt"
PASSWORD = "soak-Pa55word-that-must-not-leak"
API_KEY = "sk-soak-key-that-must-not-leak"
VERDICT = (b" date 2024-03-06 Rust armorer Hannah Gutierrez-Reed found guilty\n\n"
           b"A jury in Santa Fe found the armorer Hannah Gutierrez-Reed guilty of involuntary manslaughter on "
           b"Wednesday. Prosecutors said she loaded the live round into the revolver that killed Halyna Hutchins.\n")
Check = Callable[[], tuple[bool, str]]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# -- servers -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATELINE_", "GRADIO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def build_index(folder: Path) -> Path:
    """seeds/ indexed into ``folder`` by the CLI, as a user would."""
    subprocess.run([sys.executable, "-m", "rag", "index", str(ROOT / "seeds"), "--index", str(folder)],
                   cwd=ROOT, env=_env(), check=True, capture_output=True)
    return folder


@dataclass
class Server:
    """A ``rag serve`` process; everything it prints goes to ``log``."""

    index: Path
    log: Path
    auth: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120) -> Server:
        cmd = [sys.executable, "-m", "rag", "serve", "--index", str(self.index), "--port", str(self.port)]
        cmd += ["--auth", self.auth] if self.auth else []
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(**self.env), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=2).status_code in (200, 401):
                    return self
            time.sleep(0.3)
        raise RuntimeError(f"rag serve did not answer within {timeout:g}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback") if self.log.exists() else 0


class _Shared:
    """The servers the cases use, started on first use and stopped at exit."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._plain: Server | None = None
        self._authed: Server | None = None
        self.asked: list[str] = []  # questions put to the servers, which no route may reveal later
        atexit.register(self.close)

    @property
    def dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="dateline-soak-web-"))
            build_index(self._dir / "seed-index")
        return self._dir

    def _copy(self, name: str) -> Path:
        target = self.dir / name
        if not target.exists():
            shutil.copytree(self.dir / "seed-index", target)
        return target

    def plain(self) -> Server:
        if self._plain is None:
            self._plain = Server(self._copy("plain"), self.dir / "plain.log").start()
        return self._plain

    def authed(self) -> Server:
        """With --auth, and an LLM key set (its server, on loopback, does not exist: answers fall back)."""
        if self._authed is None:
            env = {"DATELINE_LLM_URL": f"http://127.0.0.1:{free_port()}/v1", "DATELINE_LLM_MODEL": "soak-llm",
                   "DATELINE_LLM_API_KEY": API_KEY}
            self._authed = Server(self._copy("authed"), self.dir / "authed.log", auth=f"editor:{PASSWORD}",
                                  env=env).start()
        return self._authed

    def servers(self) -> list[Server]:
        return [s for s in (self._plain, self._authed) if s is not None]

    def close(self) -> None:
        for s in self.servers():
            s.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


SHARED = _Shared()


# -- talking to a server -------------------------------------------------------------------------------------
def call(url: str, api: str, data: list, *, cookies: dict | None = None, timeout: float = 60) -> tuple[int, str]:
    """POST /gradio_api/call/API then read its result: (HTTP status of the POST, the POST's reply or the SSE stream)."""
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, cookies=cookies, timeout=timeout)
    if r.status_code != 200:
        return r.status_code, r.text
    event = r.json()["event_id"]
    return 200, httpx.get(f"{url}gradio_api/call/{api}/{event}", cookies=cookies, timeout=timeout).text


def join(url: str, fn_index: int, data: list, *, session: str | None = None, timeout: float = 60) -> tuple[int, dict]:
    """Run one page event the way the browser does (queue/join, then the session's stream): (status, last message)."""
    session = session or uuid.uuid4().hex[:11]
    r = httpx.post(f"{url}gradio_api/queue/join", timeout=timeout,
                   json={"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": None})
    if r.status_code != 200:
        return r.status_code, r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return 200, msg
    return 200, {}


def fn_index(url: str, name: str) -> int:
    """The index of the page event ``name`` (e.g. "upload"), read from /config as the browser reads it."""
    config = httpx.get(f"{url}config").json()
    for i, dep in enumerate(config["dependencies"]):
        if dep.get("api_name") == name:
            return dep.get("id", i)
    raise LookupError(name)


def upload(url: str, files: Sequence[tuple[str, bytes]], **kw) -> httpx.Response:
    return httpx.post(f"{url}gradio_api/upload", files=[("files", f) for f in files], timeout=60, **kw)


def _error_names(body: str, *words: str) -> bool:
    """True if ``body`` is an error that mentions every word, and no traceback."""
    low = body.lower()
    return ("error" in low or "detail" in low) and all(w.lower() in low for w in words) and "traceback" not in low


def _incoming(server: Server) -> list[Path]:
    return [p for p in (server.index / ".incoming").rglob("*") if p.is_file()]


# -- the cases -----------------------------------------------------------------------------------------------
def _search_k(value: object) -> Check:
    def check() -> tuple[bool, str]:
        status, body = call(SHARED.plain().url, "search", ["Baldwin gun", value, None, None])
        return status == 200 and _error_names(body, "k must be a whole number"), body.strip()[-160:]
    return check


def _arity(api: str, data: list, word: str) -> Check:
    def check() -> tuple[bool, str]:
        status, body = call(SHARED.plain().url, api, data)
        return status == 422 and _error_names(body, word), f"{status} {body[:160]}"
    return check


def _status(method: str, path: str, expect: int, *, json_body: object = None, content: bytes | None = None) -> Check:
    def check() -> tuple[bool, str]:
        r = httpx.request(method, SHARED.plain().url + path, json=json_body, content=content,
                          headers={"content-type": "application/json"} if content else None, timeout=30)
        return r.status_code == expect and "Traceback" not in r.text, f"{r.status_code} {r.text[:140]}"
    return check


def _client_error(question: object, api: str, word: str, **kw) -> Check:
    def check() -> tuple[bool, str]:
        from gradio_client import Client

        try:
            Client(SHARED.plain().url, verbose=False).predict(question, api_name=api, **kw)
        except Exception as e:  # noqa: BLE001 - gradio_client raises its own and httpx's errors
            return word.lower() in str(e).lower() and "Traceback" not in str(e), f"{type(e).__name__}: {str(e)[:140]}"
        return False, "answered"
    return check


def _chat_with(history: object) -> Check:
    def check() -> tuple[bool, str]:
        url = SHARED.plain().url
        data = ["Who handed Alec Baldwin the gun?", history, None, None, [], []]
        status, msg = join(url, fn_index(url, "chat"), data)
        err = (msg.get("output") or {}).get("error") or ""
        return status == 200 and msg.get("success") is False and "could not be read" in err, err[:160]
    return check


def _upload_refused(files: Sequence[tuple[str, bytes]], expect: int, word: str) -> Check:
    def check() -> tuple[bool, str]:
        server = SHARED.plain()
        before = set(_incoming(server))
        r = upload(server.url, files)
        kept = set(_incoming(server)) - before
        return (r.status_code == expect and word in r.text and not kept,
                f"{r.status_code} {r.text[:120]}; {len(kept)} file(s) kept")
    return check


def _upload_without_length() -> tuple[bool, str]:
    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nabc\r\n--b--\r\n'
    r = httpx.post(SHARED.plain().url + "gradio_api/upload", content=body(),
                   headers={"content-type": "multipart/form-data; boundary=b"})
    return r.status_code == 411, f"{r.status_code} {r.text[:100]}"


def _upload_odd_name() -> tuple[bool, str]:
    server = SHARED.plain()
    r = upload(server.url, [("../../../etc/dateline-soak.txt", b" date 2024-01-01 x\n\ny")])
    paths = [Path(p) for p in r.json()] if r.status_code == 200 else []
    inside = all(p.resolve().is_relative_to((server.index / ".incoming").resolve()) for p in paths)
    return r.status_code == 200 and paths and inside, f"stored as {[str(p) for p in paths]}"


def _upload_event_outside_folder() -> tuple[bool, str]:
    url = SHARED.plain().url
    status, msg = join(url, fn_index(url, "upload"), [[{"path": "/etc/passwd", "orig_name": "passwd.txt",
                                                        "meta": {"_type": "gradio.FileData"}}]])
    err = (msg.get("output") or {}).get("error") or ""
    return status == 200 and msg.get("success") is False and "root:" not in json.dumps(msg), err[:160]


def upload_budget() -> tuple[bool, str]:
    """Upload 1 MB files until refused: the bytes accepted from one client before the refusal.

    On the signed-in server, whose upload counts no case has touched yet.
    """
    server = SHARED.authed()
    cookies = dict(httpx.post(server.url + "login", data={"username": "editor", "password": PASSWORD}).cookies)
    accepted, refusal = 0, None
    for i in range(200):
        r = upload(server.url, [(f"budget-{i}.txt", os.urandom(1_000_000))], cookies=cookies)
        if r.status_code != 200:
            refusal = r
            break
        accepted += 1_000_000
    ok = refusal is not None and refusal.status_code == 429 and "retry-after" in refusal.headers
    return ok, (f"upload bytes accepted per client before refusal: {accepted / 1e6:.0f} MB; then "
                f"{refusal.status_code if refusal else '-'} {refusal.text[:90] if refusal else 'never refused'}")


def tenth_wrong_password() -> tuple[bool, str]:
    """Guess as fast as the server lets one client: the time until the tenth wrong password is answered."""
    server = SHARED.authed()
    login = server.url + "login"
    t0, wrong, locked = time.monotonic(), 0, 0
    while wrong < 10:
        r = httpx.post(login, data={"username": "editor", "password": f"guess-{wrong}"})
        if r.status_code == 400:
            wrong += 1
        elif r.status_code == 429:
            locked += 1
            time.sleep(float(r.headers.get("retry-after", 1)))
        else:
            return False, f"unexpected {r.status_code}"
    elapsed = time.monotonic() - t0
    during = httpx.post(login, data={"username": "editor", "password": PASSWORD}).status_code
    time.sleep(float(httpx.post(login, data={"username": "x", "password": "y"}).headers.get("retry-after", 0)))
    log = server.log.read_text()
    leaked = PASSWORD in log or "guess-" in log
    ok = elapsed > 20 and during == 429 and not leaked
    return ok, (f"time to the tenth wrong password: {elapsed:.1f} s ({locked} lockouts); right password while "
                f"locked: {during}; password in the log: {'yes' if leaked else 'no'}")


def _right_password_after_lock() -> tuple[bool, str]:
    server = SHARED.authed()
    for _ in range(3):
        r = httpx.post(server.url + "login", data={"username": "editor", "password": PASSWORD})
        if r.status_code != 429:
            break
        time.sleep(float(r.headers.get("retry-after", 1)))
    return r.status_code == 200, f"{r.status_code} once the lock ran out"


def _ask_then_look(server: Server, cookies: dict | None) -> tuple[bool, str]:
    """Ask a unique question, then read every route that describes the app: none may show it, a path, or a secret."""
    marker = f"Who briefed the soak team {uuid.uuid4().hex[:8]} about the gun?"
    SHARED.asked.append(marker)
    call(server.url, "ask", [marker, None, None], cookies=cookies)
    secrets = [PASSWORD, API_KEY, str(ROOT), "/etc/", *SHARED.asked]
    found, sizes = [], []
    for path in ("config", "gradio_api/info", "gradio_api/info?all_endpoints=true", "info", "openapi.json",
                 "gradio_api/openapi.json", "gradio_api/runs", "gradio_api/queue/status", "gradio_api/app_id",
                 "gradio_api/user", "manifest.json", "gradio_api/deep_link?session_hash=x", "monitoring"):
        r = httpx.get(server.url + path, cookies=cookies)
        sizes.append(f"{path.split('?')[0]}={r.status_code}/{len(r.content)}")
        outside = [s for s in secrets if s in r.text]
        for p in {w for w in r.text.replace('"', " ").split() if w.startswith(("/tmp/", "/work/", "/home/"))}:
            if not Path(p).resolve().is_relative_to(server.index.resolve()):
                outside.append(p)
        found += [f"{path}: {s[:40]}" for s in outside]
    return not found, ("; ".join(found) or "nothing revealed") + " [" + " ".join(sizes) + "]"


def _reveals_nothing() -> tuple[bool, str]:
    return _ask_then_look(SHARED.plain(), None)


def _reveals_nothing_signed_in() -> tuple[bool, str]:
    server = SHARED.authed()
    r = httpx.post(server.url + "login", data={"username": "editor", "password": PASSWORD})
    if r.status_code != 200:
        return False, f"could not sign in ({r.status_code})"
    anonymous = httpx.get(server.url + "config").status_code
    ok, detail = _ask_then_look(server, dict(r.cookies))
    return ok and anonymous == 401, f"/config without signing in: {anonymous}; {detail}"


def _llm_key_refused() -> tuple[bool, str]:
    env = _env(DATELINE_LLM_API_KEY=API_KEY)
    r = subprocess.run([sys.executable, "-m", "rag", "ask", "Who handed Alec Baldwin the gun?", "--index",
                        str(SHARED.dir / "seed-index"), "--llm-url", "http://192.0.2.10:8000/v1", "--llm-model", "m"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    ok = r.returncode == 1 and "clear text" in r.stderr and "Traceback" not in r.stderr and API_KEY not in r.stderr
    return ok, r.stderr.strip()[:160]


def _per_client_limit() -> tuple[bool, str]:
    """One session firing 20 questions at once: beyond its share it is told it is busy, and nothing fails."""
    url = SHARED.plain().url
    session, statuses = uuid.uuid4().hex[:11], []
    index = fn_index(url, "ask")

    def one() -> None:
        r = httpx.post(f"{url}gradio_api/queue/join", timeout=30, json={
            "data": ["Who handed Alec Baldwin the gun?", None, None], "fn_index": index, "session_hash": session})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with contextlib.suppress(httpx.HTTPError):  # let the admitted ones finish
        with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60) as s:
            done = 0
            for line in s.iter_lines():
                done += '"process_completed"' in line
                if done >= statuses.count(200):
                    break
    busy = statuses.count(429)
    return busy > 0 and statuses.count(200) > 0 and set(statuses) <= {200, 429}, \
        f"{statuses.count(200)} admitted, {busy} told busy (429)"


def _restart_sweeps_unclaimed() -> tuple[bool, str]:
    server = SHARED.plain()
    upload(server.url, [("left-behind.txt", b" date 2024-01-01 x\n\ny")])
    before = len(_incoming(server))
    server.stop()
    server.start()
    after = len(_incoming(server))
    return before > 0 and after == 0, f"unclaimed raw uploads: {before} before the restart, {after} after"


def _no_tracebacks() -> tuple[bool, str]:
    counts = {s.log.name: s.tracebacks() for s in SHARED.servers()}
    return sum(counts.values()) == 0, f"tracebacks in the server log: {sum(counts.values())} {counts}"


def cases() -> list[tuple[str, Check]]:
    """The web cases as (kind, check); each check returns (ok, detail). The traceback count comes last."""
    ask_q = "Who handed Alec Baldwin the gun?"
    return [
        ("web: /search k='abc'", _search_k("abc")),
        ("web: /search k=null", _search_k(None)),
        ("web: /search k=[]", _search_k([])),
        ("web: /search k=3.5", _search_k(3.5)),
        ("web: /search k=1000", _search_k(1000)),
        ("web: /ask with an argument too many", _arity("ask", [ask_q, None, None, "extra"], "takes 3 arguments")),
        ("web: /ask with an argument missing", _arity("ask", [ask_q], "takes 3 arguments")),
        ("web: /search with 8 arguments", _arity("search", [ask_q, 1, None, None, 5, 6, 7, 8], "takes 4 arguments")),
        ("web: call/v2 with an unknown argument", _status("POST", "gradio_api/call/v2/ask", 422,
                                                           json_body={"question": ask_q, "x": 1})),
        ("web: an endpoint that does not exist", _status("POST", "gradio_api/call/nosuch", 404,
                                                         json_body={"data": []})),
        ("web: a private page event called by name", _status("POST", "gradio_api/call/upload", 404,
                                                              json_body={"data": [None]})),
        ("web: queue/join with an unknown event number", _status("POST", "gradio_api/queue/join", 404,
                                                                 json_body={"data": [], "fn_index": 999,
                                                                            "session_hash": "s"})),
        ("web: /run/ask outside the queue", _status("POST", "gradio_api/run/ask", 404,
                                                    json_body={"data": [ask_q, None, None]})),
        ("web: a 3 MB call body", _status("POST", "gradio_api/call/ask", 413,
                                          content=json.dumps({"data": ["x" * 3_000_000, None, None]}).encode())),
        ("web: /ask (gradio_client) with a 3,000-character question", _client_error("x" * 3000, "/ask", "2000")),
        ("web: /search (gradio_client) k='abc'", _client_error("gun", "/search", "k must be", k="abc")),
        ("web: chat with a history that is not a list", _chat_with("not a list")),
        ("web: chat with messages of an unknown role", _chat_with([{"role": "wizard", "content": "x"}])),
        ("web: upload event naming /etc/passwd", _upload_event_outside_folder),
        ("upload: evil.svg", _upload_refused([("evil.svg", b"<svg onload=alert(1)/>")], 415, "evil.svg")),
        ("upload: .svg and .exe beside a good .txt", _upload_refused(
            [("ok.txt", b" date 2024-01-01 ok\n\nok"), ("evil.svg", b"<svg onload=alert(1)/>"), ("evil.exe", b"MZ")],
            415, "evil.svg")),
        ("upload: 21 files in one request", _upload_refused([(f"f{i}.txt", b"x") for i in range(21)], 413, "20 files")),
        ("upload: a file over the size limit", _upload_refused([("big.txt", b"x" * 5_000_001)], 413, "size")),
        ("upload: no Content-Length", _upload_without_length),
        ("upload: a path-traversal name", _upload_odd_name),
        ("upload: bytes one client may send", upload_budget),
        ("sign-in: ten wrong passwords", tenth_wrong_password),
        ("sign-in: the right password after the lock", _right_password_after_lock),
        ("routes: nothing revealed (no --auth)", _reveals_nothing),
        ("routes: nothing revealed (--auth, signed in)", _reveals_nothing_signed_in),
        ("llm: an API key over plain HTTP to another host", _llm_key_refused),
        ("load: one session asking 20 questions at once", _per_client_limit),
        ("upload: restart removes unclaimed raw uploads", _restart_sweeps_unclaimed),
        ("log: tracebacks in the server logs", _no_tracebacks),
    ]


def run_cases(selected: Sequence[tuple[str, Check]] | None = None) -> int:
    """Run and print the cases; the number that failed."""
    failed = 0
    for kind, check in selected or cases():
        t0 = time.monotonic()
        try:
            ok, detail = check()
        except Exception as e:  # noqa: BLE001 - a crashing check is a failed case, reported as such
            ok, detail = False, f"the check crashed: {type(e).__name__}: {e}"
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {kind:55} {time.monotonic() - t0:5.1f}s  {detail}", flush=True)
    return failed


# -- load ----------------------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    users: int
    seconds: float
    latencies: list[float]
    errors: list[str]
    per_user: list[int]
    server_cpu: float = float("nan")  # CPU seconds the server process used during the run
    client_cpu: float = float("nan")  # CPU seconds this process (the users) used

    @property
    def answers(self) -> int:
        return len(self.latencies)

    def quantile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    def row(self) -> str:
        p50, p95, top = self.quantile(0.5), self.quantile(0.95), max(self.latencies, default=float("nan"))
        per = max(1, self.answers) / 1000
        return (f"| {self.users} | {self.answers} | {len(self.errors)} | {p50:.2f} | {p95:.2f} | {top:.2f} | "
                f"{top / p50:.1f}x | {self.answers / self.seconds:.1f} | {min(self.per_user)}-{max(self.per_user)} | "
                f"{self.server_cpu / per:.0f} / {self.client_cpu / per:.0f} |")


HEADER = ("| users | answers | errors | p50 s | p95 s | max s | max/p50 | answers/s | answers per user "
          "| CPU ms per answer: server / users |\n|---|---|---|---|---|---|---|---|---|---|")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]


def load(url: str, users: int, seconds: float, *, during: Callable[[], None] | None = None,
         server_pid: int | None = None) -> LoadResult:
    """``users`` gradio_client users asking /ask back to back for ``seconds``; ``during`` runs mid-way.

    With ``server_pid``, the CPU time the server and these users spent while asking is recorded too.
    """
    from gradio_client import Client

    questions = _questions()
    clients = [Client(url, verbose=False) for _ in range(users)]
    latencies: list[float] = []
    errors: list[str] = []
    per_user = [0] * users
    lock = threading.Lock()
    start = threading.Barrier(users + 1)
    deadline = 0.0

    def user(n: int) -> None:
        start.wait()
        i = n * 7
        while time.monotonic() < deadline:
            q = questions[i % len(questions)]
            i += 1
            t0 = time.monotonic()
            try:
                text, _ = clients[n].predict(q, api_name="/ask")
                ok = bool(text)
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                with lock:
                    errors.append(f"{type(e).__name__}: {str(e)[:120]}")
                continue
            with lock:
                if ok:
                    latencies.append(time.monotonic() - t0)
                    per_user[n] += 1
                else:
                    errors.append("empty answer")

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for t in threads:
        t.start()
    cpu0, mine0 = _cpu_seconds(server_pid) if server_pid else float("nan"), time.process_time()
    deadline = time.monotonic() + seconds
    start.wait()
    if during is not None:
        time.sleep(seconds / 3)
        during()
    for t in threads:
        t.join(seconds + 120)
    server_cpu = (_cpu_seconds(server_pid) if server_pid else float("nan")) - cpu0
    client_cpu = time.process_time() - mine0
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()
    return LoadResult(users, seconds, latencies, errors, per_user, server_cpu, client_cpu)


def upload_under_load(url: str, report: list[str]) -> Callable[[], None]:
    """Upload an article the way the page does (raw upload, then the upload event) and ask about it at once."""
    def go() -> None:
        from gradio_client import Client

        t0 = time.monotonic()
        paths = upload(url, [("verdict.txt", VERDICT)]).json()
        status, msg = join(url, fn_index(url, "upload"), [[{"path": paths[0], "orig_name": "verdict.txt",
                                                            "meta": {"_type": "gradio.FileData"}}]], timeout=120)
        added = "Added 1 article" in json.dumps(msg)
        took = time.monotonic() - t0
        text, cites = Client(url, verbose=False).predict("Who was found guilty by the jury in Santa Fe?",
                                                          api_name="/ask")
        found = "Gutierrez-Reed" in text and any(c["source"] == "verdict.txt" for c in cites)
        report.append(f"upload under load: {'added' if added else 'NOT added'} in {took:.1f} s; "
                      f"answerable right after: {'yes' if found else 'NO'}")
    return go


def run_load(users: Sequence[int], seconds: float) -> bool:
    """The load table (a fresh server per row, so one row's queue never spills into the next)."""
    print(f"\nload: gradio_client users asking /ask back to back for {seconds:g} s each, seeds index, "
          f"load average before: {os.getloadavg()[0]:.2f}\n{HEADER}", flush=True)
    ok, notes = True, []
    for n in users:
        index = SHARED._copy(f"load-{n}")
        server = Server(index, SHARED.dir / f"load-{n}.log").start()
        try:
            during = upload_under_load(server.url, notes) if n == min(users) else None
            result = load(server.url, n, seconds, during=during, server_pid=server.proc.pid)
        finally:
            server.stop()
        print(result.row(), flush=True)
        p50 = result.quantile(0.5)
        ok &= not result.errors and max(result.latencies, default=0) <= 10 * p50 and server.tracebacks() == 0
        for e in sorted(set(result.errors))[:5]:
            print(f"  error: {e}")
        if server.tracebacks():
            print(f"  {server.tracebacks()} traceback(s) in {server.log}")
    for line in notes:
        print(line)
        ok &= "NO" not in line and "NOT" not in line
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long each load row runs (default 60)")
    ap.add_argument("--users", default="10,25,50", help="concurrent users per load row (default 10,25,50)")
    ap.add_argument("--skip-load", action="store_true", help="run only the cases")
    ap.add_argument("--skip-cases", action="store_true", help="run only the load")
    args = ap.parse_args(argv)
    failed = 0 if args.skip_cases else run_cases()
    load_ok = True if args.skip_load else run_load([int(u) for u in args.users.split(",")], args.seconds)
    SHARED.close()
    print(f"\n{failed} case(s) failed; load {'met' if load_ok else 'did NOT meet'} its bounds "
          f"(0 errors, max <= 10x median, 0 tracebacks)")
    return 1 if failed or not load_ok else 0


if __name__ == "__main__":
    sys.exit(main())
