"""The served app under hostile use: real ``rag serve`` processes on loopback, driven over HTTP and gradio_client.

Each finding of the hardening issue has a test here: the raw upload route, sign-in
attempts, API arguments of the wrong type or number, the LLM key over plain HTTP,
and what the descriptive routes reveal. The servers' own output is their log; the
last test reads it for tracebacks left by everything before it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from rag import Index, LLMError, Settings
from tests.conftest import GUN, ROOT
from tests.test_ui import GUN_QUESTION, free_port
from ui.app import serve
from ui.guard import Limits, sweep
from ui.middleware import UNUSED_ROUTES

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")
PASSWORD = "correct-Horse-battery-9"
KEY = "sk-test-key-never-shown"
WHERE = ("config", "gradio_api/info", "gradio_api/info?all_endpoints=true", "gradio_api/queue/status",
         "gradio_api/app_id", "gradio_api/user", "gradio_api/token", "manifest.json", "info", "openapi.json",
         "gradio_api/openapi.json", "gradio_api/runs", "gradio_api/deep_link?session_hash=x", "monitoring")


@dataclass
class Served:
    url: str
    index: Path
    log: Path

    def incoming(self) -> list[Path]:
        return [p for p in (self.index / ".incoming").rglob("*") if p.is_file()]


@contextlib.contextmanager
def rag_serve(seed_index: Path, tmp: Path, *args: str, **env: str) -> Iterator[Served]:
    """``python -m rag serve`` over a copy of the seed index, its output captured as the server log."""
    index, log, port = tmp / "index", tmp / "server.log", free_port()
    shutil.copytree(seed_index, index)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATELINE_", "GRADIO_"))}
    with open(log, "w") as out:
        cmd = [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port), *args]
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**clean, **env}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code in (200, 401):
                    break
            time.sleep(0.2)
        yield Served(url, index, log)
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory):
    with rag_serve(seed_index, tmp_path_factory.mktemp("plain")) as s:
        yield s


@pytest.fixture(scope="module")
def authed(seed_index, tmp_path_factory):
    """With --auth, and an LLM key set for a loopback server (which is not running: answers fall back)."""
    with rag_serve(seed_index, tmp_path_factory.mktemp("authed"), "--auth", f"editor:{PASSWORD}",
                   DATELINE_LLM_URL=f"http://127.0.0.1:{free_port()}/v1", DATELINE_LLM_MODEL="m",
                   DATELINE_LLM_API_KEY=KEY) as s:
        yield s


def call(url: str, api: str, data: list, cookies: dict | None = None) -> tuple[int, str]:
    """POST /gradio_api/call/API and read the result stream: (status of the POST, its reply or the stream)."""
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, cookies=cookies)
    if r.status_code != 200:
        return r.status_code, r.text
    return 200, httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", cookies=cookies, timeout=60).text


def join(url: str, fn_index: int, data: list, session: str | None = None) -> dict:
    """One page event as the browser runs it: queue/join, then the session's stream until it completes."""
    session = session or uuid.uuid4().hex[:11]
    r = httpx.post(f"{url}gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session})
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60) as s:
        for line in s.iter_lines():
            if line.startswith("data:") and '"process_completed"' in line:
                return json.loads(line[5:])
    raise AssertionError("the event never completed")


def event_number(url: str, name: str) -> int:
    return next(d["id"] for d in httpx.get(f"{url}config").json()["dependencies"] if d.get("api_name") == name)


def upload(url: str, *files: tuple[str, bytes], **kw) -> httpx.Response:
    return httpx.post(f"{url}gradio_api/upload", files=[("files", f) for f in files], **kw)


# -- API arguments ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, shown", [("abc", '\\"abc\\"'), (None, "null"), ([], "[]"), (3.5, "3.5"), (True, "true"),
                                      (0, "0"), (101, "101")])
def test_search_names_k_when_it_is_not_a_whole_number_in_range(server, k, shown):
    status, body = call(server.url, "search", [GUN_QUESTION, k, None, None])
    assert status == 200 and "event: error" in body
    assert f"k must be a whole number from 1 to 100, not {shown}" in body


def test_gradio_client_sees_the_same_message(server):
    with pytest.raises(Exception, match="k must be a whole number from 1 to 100"):
        Client(server.url, verbose=False).predict("gun", k="abc", api_name="/search")
    with pytest.raises(Exception, match="since must be text or null, not 5"):
        Client(server.url, verbose=False).predict("gun", since=5, api_name="/ask")


@pytest.mark.parametrize("api, data, name, says", [
    ("ask", [GUN_QUESTION, None, None, "extra"], "(extra)",
     "/ask takes 3 arguments (question, since, until); 4 were given"),
    ("ask", [GUN_QUESTION], "since", "/ask takes 3 arguments (question, since, until); 1 was given"),
    ("search", [GUN_QUESTION, 3], "since", "/search takes 4 arguments (query, k, since, until); 2 were given"),
])
def test_a_call_with_the_wrong_number_of_arguments_is_refused_before_it_runs(server, api, data, name, says):
    status, body = call(server.url, api, data)
    assert status == 422
    assert json.loads(body)["detail"] == [{"__type__": "validate", "is_valid": False, "parameter_name": name,
                                           "message": says}]


def test_call_v2_names_an_unknown_argument(server):
    r = httpx.post(f"{server.url}gradio_api/call/v2/ask", json={"question": GUN_QUESTION, "sinse": "2021-01-01"})
    assert r.status_code == 422 and "/ask has no argument 'sinse'; it takes question, since, until" in r.text


@pytest.mark.parametrize("path, body, says", [
    ("gradio_api/call/nosuch", {"data": []}, "there is no API endpoint /nosuch; this server offers /ask, /search"),
    ("gradio_api/call/upload", {"data": [None]}, "there is no API endpoint /upload"),  # private page event
    ("gradio_api/queue/join", {"data": [], "fn_index": 999, "session_hash": "s"}, "there is no event number 999"),
])
def test_events_that_do_not_exist_or_are_private_are_not_found(server, path, body, says):
    r = httpx.post(server.url + path, json=body)
    assert r.status_code == 404 and says in r.json()["detail"]


def test_nothing_runs_outside_the_queue(server):
    r = httpx.post(f"{server.url}gradio_api/run/ask", json={"data": [GUN_QUESTION, None, None]})
    assert r.status_code == 404 and "He claims" not in r.text


def test_an_oversized_call_is_refused_unread(server):
    r = httpx.post(f"{server.url}gradio_api/call/ask", json={"data": ["x" * 3_000_000, None, None]})
    assert r.status_code == 413 and "at most 2 MB" in r.text


@pytest.mark.parametrize("history", ["not a list", [{"role": "wizard", "content": "x"}], [[1, 2, 3]]])
def test_a_chat_history_of_the_wrong_shape_is_refused_with_a_message(server, history):
    msg = join(server.url, event_number(server.url, "chat"), [GUN_QUESTION, history, None, None, [], []])
    assert msg["success"] is False
    assert msg["output"]["error"].startswith("the input could not be read")


def test_the_upload_event_will_not_read_a_file_nobody_uploaded(server):
    data = [[{"path": "/etc/passwd", "orig_name": "passwd.txt", "meta": {"_type": "gradio.FileData"}}]]
    msg = join(server.url, event_number(server.url, "upload"), data)
    assert msg["success"] is False and "root:" not in json.dumps(msg)


# -- the raw upload route ---------------------------------------------------------------------------------
@pytest.mark.parametrize("files, status, says", [
    ([("evil.svg", b"<svg onload=alert(1)/>")], 415, "evil.svg: Dateline reads only .warc.gz"),
    ([("ok.txt", b" date 2024-01-01 ok\n\nok"), ("evil.svg", b"<svg onload=alert(1)/>"), ("evil.exe", b"MZ")],
     415, "evil.svg, evil.exe: Dateline reads only"),
    ([(f"f{i}.txt", b"x") for i in range(21)], 413, "an upload may hold at most 20 files"),
    ([("big.txt", b"x" * 5_000_001)], 413, "maximum allowed size of 5000000 bytes"),
])
def test_refused_uploads_keep_nothing(server, files, status, says):
    before = set(server.incoming())
    r = upload(server.url, *files)
    assert (r.status_code, says in r.text) == (status, True), r.text
    assert set(server.incoming()) == before


def test_an_upload_must_state_its_size(server):
    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nabc\r\n--b--\r\n'
    r = httpx.post(f"{server.url}gradio_api/upload", content=body(),
                   headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 411


def test_an_accepted_upload_lands_inside_the_index_whatever_its_name(server):
    r = upload(server.url, ("../../../etc/Report.JSONL", b'{"title": "t", "body": "b", "published_at": "2024-01-01"}'))
    (path,) = map(Path, r.json())
    assert path.name == "Report.JSONL" and path.resolve().is_relative_to((server.index / ".incoming").resolve())


def test_the_upload_event_claims_its_files_and_the_article_is_answerable(server):
    verdict = (b" date 2024-03-06 Rust armorer found guilty\n\nA jury in Santa Fe found the armorer Hannah "
               b"Gutierrez-Reed guilty of involuntary manslaughter on Wednesday.\n")
    (path,) = upload(server.url, ("verdict.txt", verdict)).json()
    msg = join(server.url, event_number(server.url, "upload"),
               [[{"path": path, "orig_name": "verdict.txt", "meta": {"_type": "gradio.FileData"}}]])
    assert "Added 1 article from verdict.txt" in json.dumps(msg)
    assert not Path(path).exists()  # claimed: copied into <index>/uploads/, so the raw upload is gone
    text, cites = Client(server.url, verbose=False).predict("Who was found guilty by the jury in Santa Fe?",
                                                           api_name="/ask")
    assert "Gutierrez-Reed" in text and cites[0]["source"] == "verdict.txt"


def test_one_client_may_upload_50_mb_an_hour(authed):
    """On the signed-in server, whose upload counts nothing else touches."""
    cookies = dict(httpx.post(f"{authed.url}login", data={"username": "editor", "password": PASSWORD}).cookies)
    statuses = [upload(authed.url, (f"part{i}.txt", b"x" * 4_900_000), cookies=cookies).status_code for i in range(11)]
    assert statuses[:10] == [200] * 10  # 49 MB of files (and their multipart framing) fit in 50 MB
    refused = upload(authed.url, ("one-more.txt", b"x" * 1_000_000), cookies=cookies)  # 50 MB and a bit
    assert statuses[10] == refused.status_code == 429
    assert "upload limit reached: 50 MB or 200 files per hour" in refused.text and refused.headers["retry-after"]


# -- the upload folder is swept ---------------------------------------------------------------------------
def test_sweep_removes_old_files_and_empty_folders(tmp_path):
    old, new = tmp_path / "a" / "old.txt", tmp_path / "b" / "new.txt"
    for p in (old, new):
        p.parent.mkdir()
        p.write_text("x")
    os.utime(old, (time.time() - 700, time.time() - 700))
    assert sweep(tmp_path, older_than=600) == 1
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["b", "b/new.txt"]


def test_a_server_starts_with_an_empty_upload_folder_and_sweeps_it(seed_index, real_embedder, tmp_path):
    root = tmp_path / "index"
    shutil.copytree(seed_index, root)
    cfg = Settings(index=root, port=free_port())
    leftover = root / ".incoming" / str(cfg.port) / "abc" / "left-by-a-crash.txt"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("x")
    saved = os.environ.pop("GRADIO_TEMP_DIR", None)
    demo, url = serve(cfg, index=Index.open(root, settings=cfg, embedder=real_embedder), block=False,
                      limits=Limits(incoming_ttl=0.5, sweep_every=0.2))
    try:
        assert not leftover.exists()
        (path,) = upload(url, ("unclaimed.txt", b" date 2024-01-01 x\n\ny")).json()
        assert Path(path).exists()
        deadline = time.monotonic() + 10
        while Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(path).exists()
    finally:
        demo.close()
        os.environ.pop("GRADIO_TEMP_DIR", None)
        if saved is not None:
            os.environ["GRADIO_TEMP_DIR"] = saved


# -- sign-in ----------------------------------------------------------------------------------------------
def test_wrong_passwords_lock_the_client_out_for_longer_each_time(authed):
    login = f"{authed.url}login"
    wrong = [httpx.post(login, data={"username": "editor", "password": f"nope-{i}"}) for i in range(6)]
    assert [r.status_code for r in wrong] == [400] * 5 + [429]
    assert wrong[5].headers["retry-after"] == "1" and "too many wrong passwords" in wrong[5].json()["detail"]
    assert httpx.post(login, data={"username": "editor", "password": PASSWORD}).status_code == 429  # even the right one
    time.sleep(1.1)
    assert httpx.post(login, data={"username": "editor", "password": "nope-6"}).status_code == 400
    locked = httpx.post(login, data={"username": "editor", "password": PASSWORD})
    assert locked.status_code == 429 and locked.headers["retry-after"] == "2"  # doubled
    time.sleep(2.1)
    assert httpx.post(login, data={"username": "editor", "password": PASSWORD}).status_code == 200
    log = authed.log.read_text()
    assert "sign-in failed from 127.0.0.1 (6 in a row); locked out for 2 s" in log
    assert PASSWORD not in log and "nope-" not in log


def test_the_api_needs_the_password(authed):
    assert httpx.get(f"{authed.url}config").status_code == 401
    assert httpx.post(f"{authed.url}gradio_api/call/ask", json={"data": ["q", None, None]}).status_code == 401
    assert upload(authed.url, ("a.txt", b"x")).status_code == 401


# -- what the routes reveal -------------------------------------------------------------------------------
def _revealed(served: Served, cookies: dict | None) -> list[str]:
    question = f"Who told the tester {uuid.uuid4().hex[:8]} about the gun?"
    call(served.url, "ask", [question, None, None], cookies)
    Client(served.url, verbose=False, auth=("editor", PASSWORD) if cookies else None).predict(
        question + " again", [], None, None, [], [], api_name="/chat")
    found = []
    for path in WHERE:
        text = httpx.get(served.url + path, cookies=cookies).text
        found += [f"{path}: {s}" for s in (question, PASSWORD, KEY, str(ROOT)) if s in text]
        found += [f"{path}: {w}" for w in text.replace('"', " ").split()
                  if w.startswith(("/tmp", "/work", "/home", "/etc")) and not Path(w).is_relative_to(served.index)]
    return found


def test_no_route_reveals_a_question_a_path_or_a_secret(server):
    assert _revealed(server, None) == []


def test_signed_in_no_route_reveals_a_question_a_path_or_a_secret(authed):
    cookies = dict(httpx.post(f"{authed.url}login", data={"username": "editor", "password": PASSWORD}).cookies)
    assert _revealed(authed, cookies) == []
    assert "answers by m" in httpx.get(f"{authed.url}config", cookies=cookies).text  # the key's server is configured


@pytest.mark.parametrize("route", UNUSED_ROUTES)
def test_routes_dateline_does_not_use_are_gone(server, route):
    r = httpx.get(server.url + route.lstrip("/") + ("x" if route.endswith("=") else ""))
    assert r.status_code == 404


def test_the_api_lists_only_ask_and_search(server):
    assert set(httpx.get(f"{server.url}gradio_api/info").json()["named_endpoints"]) == {"/ask", "/search"}


# -- the LLM key ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, refused", [
    ("http://10.0.0.5:8000/v1", True), ("http://llm.example.org/v1", True),
    ("https://llm.example.org/v1", False), ("http://127.0.0.1:11434/v1", False), ("http://localhost:8080/v1", False),
    ("http://[::1]:8080/v1", False),
])
def test_the_llm_key_never_goes_in_clear_text_to_another_machine(url, refused):
    if refused:
        with pytest.raises(LLMError, match="the LLM API key would travel in clear text to http://"):
            Settings(llm_url=url, llm_model="m", llm_api_key=KEY)
        assert Settings(llm_url=url, llm_model="m", llm_api_key=KEY, allow_insecure_llm=True).llm_url == url
    else:
        assert Settings(llm_url=url, llm_model="m", llm_api_key=KEY).llm_url == url
    assert Settings(llm_url=url, llm_model="m").llm_url == url  # no key, nothing to leak


def test_rag_ask_and_rag_serve_refuse_it_and_say_how_to_allow_it(seed_index):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DATELINE_")}, "DATELINE_LLM_API_KEY": KEY}
    for cmd in (["ask", GUN_QUESTION, "--llm-url", "http://192.0.2.10:8000/v1", "--llm-model", "m"],
                ["serve", "--port", str(free_port())]):
        run_env = env if cmd[0] == "ask" else {**env, "DATELINE_LLM_URL": "http://192.0.2.10:8000/v1"}
        r = subprocess.run([sys.executable, "-m", "rag", *cmd, "--index", str(seed_index)], cwd=ROOT, env=run_env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and r.stdout == ""
        assert "error: refusing to use the LLM server: the LLM API key would travel in clear text to " \
               "http://192.0.2.10:8000" in r.stderr and "--allow-insecure-llm" in r.stderr
        assert KEY not in r.stderr and "Traceback" not in r.stderr


# -- load: per-client share and a bound on waiting --------------------------------------------------------
class GatedIndex(Index):
    """An index whose searches wait at a gate: calls pile up in the queue as long as the test wants."""

    gate = threading.Event()

    def search(self, *args, **kwargs):
        self.gate.wait(30)
        return super().search(*args, **kwargs)


def test_a_client_gets_its_share_and_nobody_waits_without_bound(seed_index, real_embedder, tmp_path):
    root = tmp_path / "index"
    shutil.copytree(seed_index, root)
    cfg = Settings(index=root, port=free_port())
    good = Index.open(root, settings=cfg, embedder=real_embedder)
    saved = os.environ.pop("GRADIO_TEMP_DIR", None)
    GatedIndex.gate.set()
    demo, url = serve(cfg, index=GatedIndex(good.store, good.embedder, good.settings), block=False,
                      limits=Limits(client_calls=3, max_wait=1.0))
    search = event_number(url, "search")

    def post(session: str) -> httpx.Response:
        return httpx.post(f"{url}gradio_api/queue/join", json={"data": ["gun", 1, None, None], "fn_index": search,
                                                                "session_hash": session})
    try:
        GatedIndex.gate.clear()
        first = [post("alice").status_code for _ in range(4)]
        assert first == [200, 200, 200, 429]  # 2 running, 1 waiting: her 4th call exceeds her share of 3
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # a burst sent at once gets the same share
            burst = sorted(pool.map(lambda _: post("bob").status_code, range(8)))
        assert burst == [200] * 3 + [429] * 5
        assert [post(f"user{i}").status_code for i in range(3)] == [200, 200, 200]  # others still get in line
        time.sleep(1.2)  # the head of the line has now waited longer than max_wait
        busy = post("user9")
        assert busy.status_code == 503 and busy.headers["retry-after"]
        # the head of the line has waited 1.2 s and more (how much more depends on the machine's load)
        waited = re.search(r"busy: questions are waiting (\d+) s for an answer now; try again", busy.json()["detail"])
        assert waited and int(waited.group(1)) >= 2, busy.json()["detail"]
        GatedIndex.gate.set()
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}gradio_api/queue/status").json()["queue_size"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert join(url, search, ["gun", 1, None, None])["success"]  # the line has moved on: calls get in again
    finally:
        GatedIndex.gate.set()
        demo.close()
        os.environ.pop("GRADIO_TEMP_DIR", None)
        if saved is not None:
            os.environ["GRADIO_TEMP_DIR"] = saved


# -- last: the log ----------------------------------------------------------------------------------------
def test_all_the_bad_input_above_left_no_traceback_in_the_server_logs(server, authed):
    for served in (server, authed):
        log = served.log.read_text()
        assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]
