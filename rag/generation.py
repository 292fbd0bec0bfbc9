"""Generation: optional answers from an OpenAI-compatible chat-completions server, checked against citations.

The reply streams; once complete, every sentence must carry a ``[n]`` that
points at a passage we sent, or it is dropped. Any failure falls back to the
extractive answer with a notice. The API key goes only into the request header.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from .answers import REFUSAL, Answer, Citation, LLMConfig
from .errors import LLMError
from .retrieval import Hit

__all__ = ["PROMPT", "build_messages", "generate_stream", "check_reply", "key_exposure"]

PROMPT = """You answer questions about news coverage using ONLY the numbered passages below.
Rules:
- Every sentence you write must end with the number of the passage that supports it, like [2].
- Use only facts stated in the passages. Do not add anything from your own knowledge.
- When passages from different dates disagree, say which is newer and give both dates.
- If the passages do not answer the question, reply exactly: The articles don't cover this.
- Answer in at most three sentences."""

_SENTENCE = re.compile(r"[^.!?]*?(?:[.!?]+[\"”’)]*)?(?:\s*\[\d+\])+[.!?]?|[^.!?]+[.!?]+[\"”’)]*|[^.!?]+$")
_MARK = re.compile(r"\[(\d+)\]")


def build_messages(question: str, hits: Sequence[Hit]) -> list[dict]:
    """The prompt: numbered passages, each with its file and publication date, then the question."""
    blocks = [
        f"[{n}] {h.source} (published {h.date or 'date unknown'}) — {h.title}\n{h.text}" for n, h in enumerate(hits, 1)
    ]
    return [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"},
    ]


def _where(llm: LLMConfig) -> str:
    return _origin(llm.base_url)


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}"


def key_exposure(base_url: str, api_key: str | None) -> str | None:
    """What an API key sent to ``base_url`` would be exposed to, or None: plain HTTP to a host off this machine.

    >>> key_exposure("http://10.0.0.5:8000/v1", "sk-1")
    'the LLM API key would travel in clear text to http://10.0.0.5:8000'
    >>> key_exposure("http://127.0.0.1:11434/v1", "sk-1"), key_exposure("https://api.openai.com/v1", "sk-1")
    (None, None)
    """
    u = urlsplit(base_url)
    if not api_key or u.scheme.lower() != "http":
        return None
    host = (u.hostname or "").lower()
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost" or host.endswith(".localhost")
    return None if local else f"the LLM API key would travel in clear text to {_origin(base_url)}"


def _stream_tokens(llm: LLMConfig, messages: list[dict]) -> Iterator[str]:
    import httpx

    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if llm.api_key:
        headers["Authorization"] = f"Bearer {llm.api_key}"
    url = llm.base_url.rstrip("/") + "/chat/completions"
    body = {"model": llm.model, "messages": messages, "stream": True, "temperature": 0}
    try:
        with httpx.Client(timeout=httpx.Timeout(llm.timeout, connect=min(llm.timeout, 10.0))) as client:
            with client.stream("POST", url, json=body, headers=headers) as r:
                if r.status_code != 200:
                    raise LLMError(f"HTTP {r.status_code} from the LLM server")
                ctype = r.headers.get("content-type", "")
                if "text/event-stream" not in ctype:  # a server that ignored stream=true
                    data = json.loads(r.read())
                    yield data["choices"][0]["message"]["content"]
                    return
                for line in r.iter_lines():
                    line = line.strip()
                    if not line or not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    delta = json.loads(payload)["choices"][0].get("delta", {})
                    if delta.get("content"):
                        yield delta["content"]
    except LLMError:
        raise
    except httpx.TimeoutException as e:
        raise LLMError(f"the LLM server did not answer within {llm.timeout:g}s") from e
    except httpx.HTTPError as e:
        raise LLMError(f"cannot reach the LLM server ({type(e).__name__})") from e
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise LLMError("the LLM server sent a reply that is not a chat completion") from e


def check_reply(reply: str, hits: Sequence[Hit]) -> tuple[str, tuple[Citation, ...], int]:
    """Keep the sentences whose every [n] names a passage we sent; return (text, citations, dropped)."""
    kept, used, dropped = [], [], 0
    for m in _SENTENCE.finditer(reply.strip()):
        sent = m.group().strip()
        if not sent:
            continue
        marks = [int(x) for x in _MARK.findall(sent)]
        if not marks or any(not 1 <= n <= len(hits) for n in marks):
            dropped += 1
            continue
        kept.append(sent)
        used.extend(n for n in marks if n not in used)
    cites = tuple(
        Citation(n, h.source, h.date, h.title, h.text, h.start, h.end, round(h.similarity, 4), (), h.publisher, h.url,
                 h.text, h.start)
        for n in sorted(used) for h in [hits[n - 1]]
    )
    return " ".join(kept), cites, dropped


def generate_stream(question: str, hits: Sequence[Hit], llm: LLMConfig, *, fallback: Answer) -> Iterator[Answer]:
    """Stream an LLM answer over ``hits``; on any failure, the extractive ``fallback`` with a notice."""
    text = ""
    try:
        for token in _stream_tokens(llm, build_messages(question, hits)):
            text += token
            yield dataclasses.replace(fallback, text=text, citations=(), notice="generating")
    except LLMError as e:
        yield dataclasses.replace(fallback, notice=f"{e} at {_where(llm)}; showing the extractive answer instead.")
        return
    if REFUSAL.rstrip(".").lower() in text.lower() and not _MARK.search(text):
        yield dataclasses.replace(fallback, text=REFUSAL, refused=True, citations=(), notice=None)
        return
    checked, cites, dropped = check_reply(text, hits)
    if not checked:
        yield dataclasses.replace(
            fallback, notice="the LLM's reply cited no passage it was given; showing the extractive answer instead."
        )
        return
    notice = f"dropped {dropped} sentence(s) of the LLM's reply that cited no given passage." if dropped else None
    yield dataclasses.replace(fallback, text=checked, citations=cites, refused=False, notice=notice)
