"""The optional LLM: off by default, OpenAI-compatible chat, never raises from summarise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from knowledge.llm import ChatProvider, LLMError, OpenAIChatProvider, get_llm, summarise
from tests.knowledge.openai_server import ServerState, openai_server


@pytest.fixture
def server() -> Iterator[ServerState]:
    with openai_server() as state:
        yield state


def test_it_is_off_by_default():
    assert get_llm() is None
    assert summarise("Summarise this incident", "import timeouts") is None


def test_it_summarises_through_chat_completions(server: ServerState):
    with override_settings(LLM_API_URL=server.url, LLM_MODEL="small-chat", LLM_API_KEY="sk-1"):
        llm = get_llm()
        assert isinstance(llm, ChatProvider)
        summary = summarise("Summarise this incident", "42 imports timed out after 300s")
    assert summary == server.reply
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-1"
    assert request["body"]["model"] == "small-chat"
    roles = [m["role"] for m in request["body"]["messages"]]
    assert roles == ["system", "user"]
    assert "42 imports timed out" in request["body"]["messages"][1]["content"]


def test_summarise_returns_none_when_the_server_fails(server: ServerState):
    server.mode = "error"
    with override_settings(LLM_API_URL=server.url):
        assert summarise("Summarise", "context") is None
    assert len(server.requests) == 2  # one retry, then give up


def test_summarise_returns_none_on_a_malformed_answer(server: ServerState):
    server.mode = "bad-payload"
    with override_settings(LLM_API_URL=server.url):
        assert summarise("Summarise", "context") is None


def test_summarise_returns_none_when_the_server_is_too_slow(server: ServerState):
    server.mode = "slow"
    server.slow_seconds = 3.0
    with override_settings(LLM_API_URL=server.url, LLM_TIMEOUT_SECONDS=1):
        assert summarise("Summarise", "context") is None


def test_provider_raises_llm_error_on_timeout(server: ServerState):
    server.mode = "slow"
    server.slow_seconds = 2.0
    provider = OpenAIChatProvider(server.url, model="m", timeout=0.2, retries=0)
    with pytest.raises(LLMError, match="Timeout"):
        provider.complete([{"role": "user", "content": "hi"}])


def test_summarise_returns_none_when_nothing_listens():
    with override_settings(LLM_API_URL="http://127.0.0.1:9", LLM_TIMEOUT_SECONDS=1):
        assert summarise("Summarise", "context") is None
