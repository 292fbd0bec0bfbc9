"""The optional LLM path against a real chat-completions server on loopback, streaming included."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag import REFUSAL, Index, LLMConfig, Settings, answer, answer_stream
from rag.generation import PROMPT, build_messages
from tests.conftest import GUN

KEY = "sk-test-very-secret-123"
GUN_Q = "Who handed Alec Baldwin the gun?"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_POST(self):
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        mode, reply = srv.mode, srv.reply
        if mode == "http500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "boom"}')
            return
        if mode == "slow":
            time.sleep(3)
        if mode == "json":
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode == "malformed":
            self.wfile.write(b"data: {not json at all\n\n")
            return
        for tok in re.findall(r"\S+\s*", reply):
            chunk = {"choices": [{"delta": {"content": tok}, "index": 0}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.requests, srv.mode, srv.reply = [], "stream", ""
    srv.handle_error = lambda *a: None  # the client hanging up on the slow reply is the point of that test
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


@pytest.fixture(scope="module")
def idx(seed_index, real_embedder):
    return Index.open(seed_index, embedder=real_embedder, settings=Settings(index=seed_index))


def _llm(server, timeout=10.0):
    return LLMConfig(f"http://127.0.0.1:{server.server_address[1]}/v1", "scripted", api_key=KEY, timeout=timeout)


def _run(idx, server, mode, reply="", timeout=10.0):
    server.mode, server.reply = mode, reply
    return list(answer_stream(GUN_Q, index=idx, settings=idx.settings, llm=_llm(server, timeout)))


def test_good_reply_streams_and_keeps_the_answer_shape(idx, server, caplog):
    caplog.set_level(logging.DEBUG)
    reply = "First assistant director Dave Halls handed him the prop weapon [1]. He said it was a cold gun [1]."
    steps = _run(idx, server, "stream", reply)
    assert len(steps) > 5, "tokens arrive one by one"
    partial = [s.text for s in steps[:-1]]
    assert all(b.startswith(a) for a, b in zip(partial, partial[1:]))
    final = steps[-1]
    assert final.text == reply and not final.refused and final.notice is None
    assert [c.n for c in final.citations] == [1] and final.citations[0].source == GUN
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["body"]["stream"] is True
    assert req["auth"] == f"Bearer {KEY}"
    prompt = req["body"]["messages"][1]["content"]
    assert req["body"]["messages"][0]["content"] == PROMPT
    assert f"[1] {GUN} (published 2021-12-02)" in prompt and GUN_Q in prompt
    assert KEY not in caplog.text and all(KEY not in (s.notice or "") + s.text for s in steps)


def test_citation_of_a_passage_that_does_not_exist_is_dropped(idx, server):
    reply = "Dave Halls handed him the prop weapon [1]. The moon is made of cheese [9]. Unsupported claim."
    final = _run(idx, server, "stream", reply)[-1]
    assert final.text == "Dave Halls handed him the prop weapon [1]."
    assert "[9]" not in final.text and "cheese" not in final.text
    assert "dropped 2 sentence(s)" in final.notice
    assert {c.n for c in final.citations} == {1}


def test_reply_with_no_valid_citation_falls_back(idx, server):
    extractive = answer(GUN_Q, index=idx, settings=idx.settings)
    final = _run(idx, server, "stream", "Somebody did it [4] [12].")[-1]
    assert final.text == extractive.text and final.citations == extractive.citations
    assert "cited no passage" in final.notice


def test_non_streaming_server_and_refusal(idx, server):
    final = _run(idx, server, "json", "Dave Halls handed him the prop weapon [1].")[-1]
    assert final.text == "Dave Halls handed him the prop weapon [1]."
    final = _run(idx, server, "stream", "The articles don't cover this.")[-1]
    assert final.refused and final.text == REFUSAL and final.citations == ()


@pytest.mark.parametrize("mode, needle, timeout", [
    ("http500", "HTTP 500", 10.0),
    ("malformed", "not a chat completion", 10.0),
    ("slow", "did not answer within 1s", 1.0),
])
def test_failures_fall_back_to_the_extractive_answer(idx, server, mode, needle, timeout, capsys):
    extractive = answer(GUN_Q, index=idx, settings=idx.settings)
    final = _run(idx, server, mode, "irrelevant", timeout)[-1]
    assert final.text == extractive.text and final.citations == extractive.citations
    assert needle in final.notice and "extractive answer" in final.notice and KEY not in final.notice
    assert KEY not in capsys.readouterr().out


def test_connection_refused_falls_back(idx):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens here
    llm = LLMConfig(f"http://127.0.0.1:{port}/v1", "m", api_key=KEY, timeout=5)
    final = answer(GUN_Q, index=idx, settings=idx.settings, llm=llm)
    assert "cannot reach the LLM server" in final.notice and final.citations
    assert KEY not in final.notice and KEY not in repr(llm)


def test_prompt_numbers_passages_with_file_and_date(idx):
    hits = idx.search(GUN_Q, k=3)
    msgs = build_messages(GUN_Q, hits)
    for n, h in enumerate(hits, 1):
        assert f"[{n}] {h.source} (published {h.date})" in msgs[1]["content"]
