"""An optional LLM behind one small interface: OpenAI-compatible chat completions.

Agents may ask for a narrative summary of a diagnosis or an incident; nothing in AI-Ops Core
requires one. The LLM is off unless ``LLM_API_URL`` is set, and ``summarise`` returns
``None`` (never raises) when it is off or the call fails, so callers fall back to their own
plain-text rendering.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol, runtime_checkable

import httpx
from django.conf import settings

from knowledge.embeddings import api_endpoint, post_json_with_retries

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the operations assistant of AI-Ops Core. Answer briefly and factually, using "
    "only the context given; say so when the context is not enough."
)
MAX_CONTEXT_CHARS = 12_000


class LLMError(RuntimeError):
    """The chat server failed after retries or answered with an unexpected payload."""


@runtime_checkable
class ChatProvider(Protocol):
    """What a chat provider offers: its model name and one completion call."""

    model: str

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 512) -> str:
        """Return the assistant's reply to ``messages`` (OpenAI role/content dicts)."""
        ...


class OpenAIChatProvider:
    """``POST {base}/v1/chat/completions`` on any OpenAI-compatible server.

    Short timeouts and few retries on purpose: a summary is a nicety, and an agent must not
    stall on a slow model while problems wait.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        retries: int = 1,
        backoff: float = 0.5,
        temperature: float = 0.2,
    ) -> None:
        self.url = api_endpoint(base_url, "chat/completions")
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.temperature = temperature
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout)

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 512) -> str:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
        }
        body = post_json_with_retries(
            self._client,
            self.url,
            payload,
            headers=self._headers,
            retries=self.retries,
            backoff=self.backoff,
            error=LLMError,
        )
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.url} returned an unexpected payload") from exc
        if not isinstance(content, str):
            raise LLMError(f"{self.url} returned no text content")
        return content.strip()


_llm: ChatProvider | None = None
_llm_key: tuple[str, ...] | None = None
_llm_lock = threading.Lock()


def get_llm() -> ChatProvider | None:
    """This process's chat provider, or ``None`` when ``LLM_API_URL`` is not set."""
    global _llm, _llm_key
    url = getattr(settings, "LLM_API_URL", "")
    if not url:
        return None
    key = (url, getattr(settings, "LLM_MODEL", ""), getattr(settings, "LLM_API_KEY", ""))
    with _llm_lock:
        if _llm is None or _llm_key != key:
            _llm = OpenAIChatProvider(
                url,
                model=key[1] or "gpt-4o-mini",
                api_key=key[2],
                timeout=float(getattr(settings, "LLM_TIMEOUT_SECONDS", 30)),
            )
            _llm_key = key
        return _llm


def summarise(prompt: str, context: str = "", *, max_tokens: int = 512) -> str | None:
    """Ask the LLM for a summary of ``context`` as instructed by ``prompt``.

    Returns ``None`` when no LLM is configured or the call fails (the failure is logged);
    callers must treat the summary as optional.
    """
    llm = get_llm()
    if llm is None:
        return None
    user = prompt if not context else f"{prompt}\n\nContext:\n{context[:MAX_CONTEXT_CHARS]}"
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]
    try:
        return llm.complete(messages, max_tokens=max_tokens) or None
    except LLMError as exc:
        logger.warning("LLM summary failed: %s", exc)
        return None
