"""``OpenAIPolicy``: any OpenAI-compatible server (OpenAI, vLLM, ``transformers serve``).

Requests go through the ``openai`` async client with bounded concurrency, a per-request
timeout, and retries with exponential backoff on 429, 5xx, timeouts and dropped
connections, and on a 200 whose body is not a chat completion (malformed or cut-off
JSON, no choices). An answer far longer than ``max_tokens`` is cut (see
:func:`_to_completion`). Other failures (bad API key, unknown model, bad request) are not retried:
they raise :class:`PolicyError` with one clear line. Log-probs are requested with
``logprobs=True`` and returned when the server provides them (vLLM does; ``transformers
serve`` does not). The API key comes from ``api_key`` or ``$OPENAI_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from textgym.core import Completion, Conversation


class PolicyError(RuntimeError):
    """A policy cannot answer (server unreachable, bad key, unknown model, ...)."""


class OpenAIPolicy:
    """Answer conversations through an OpenAI-compatible chat-completions endpoint.

    Args:
        model: the model name the server knows.
        base_url: the server's ``/v1`` URL (None = the OpenAI API).
        api_key: the key; default ``$OPENAI_API_KEY`` (``"EMPTY"`` if unset, for local servers).
        temperature: sampling temperature.
        top_p: nucleus sampling mass.
        max_tokens: answer budget per request.
        concurrency: most requests in flight at once.
        timeout: seconds per request attempt.
        max_retries: further attempts after a retryable failure.
        backoff: first retry delay in seconds, doubled at every retry.
        logprobs: ask the server for per-token log-probs.
        seed: passed to the server (best effort).
        token_ids: ask the server for the exact prompt and completion token ids
            (``return_token_ids``, vLLM >= 0.10.2). With ``logprobs``, the completions then
            carry everything the trainer needs, so a vLLM server can do the rollouts of
            :mod:`textgym.trainers`; servers that ignore the flag just return text.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 64,
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        logprobs: bool = True,
        seed: int | None = None,
        token_ids: bool = False,
    ) -> None:
        if not model:
            raise ValueError("model must be a non-empty name")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        try:
            import openai  # noqa: F401
        except ImportError:
            raise ValueError(
                "OpenAIPolicy needs the openai package: pip install 'textgym[openai]'"
            ) from None
        self.model = model
        self.base_url = base_url
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.logprobs = logprobs
        self.seed = seed
        self.token_ids = token_ids
        self.attempts = 0
        """Requests sent so far, retries included."""

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """Answer every conversation (concurrently); raise :class:`PolicyError` on failure."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._complete_all(conversations))
        raise PolicyError(
            "OpenAIPolicy.complete cannot run inside a running event loop; "
            "await OpenAIPolicy.acomplete instead"
        )

    async def acomplete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """The async form of :meth:`complete`."""
        return await self._complete_all(conversations)

    async def _complete_all(self, conversations: Sequence[Conversation]) -> list[Completion]:
        import openai

        gate = asyncio.Semaphore(self.concurrency)
        async with openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout
        ) as client:

            async def one(conversation: Conversation) -> Completion:
                async with gate:
                    return await self._request(client, conversation)

            return list(await asyncio.gather(*(one(c) for c in conversations)))

    async def _request(self, client: Any, conversation: Conversation) -> Completion:
        import openai

        retryable = (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APITimeoutError,
            openai.APIConnectionError,
        )
        delay = self.backoff
        where = self.base_url or "the OpenAI API"
        for attempt in range(self.max_retries + 1):
            self.attempts += 1
            try:
                kwargs: dict[str, Any] = dict(
                    model=self.model,
                    messages=conversation,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    max_tokens=self.max_tokens,
                )
                if self.logprobs:
                    kwargs["logprobs"] = True
                if self.seed is not None:
                    kwargs["seed"] = self.seed
                if self.token_ids:
                    kwargs["extra_body"] = {"return_token_ids": True}
                try:
                    response = await client.chat.completions.create(**kwargs)
                except (ValueError, openai.APIResponseValidationError) as exc:
                    raise _Malformed(
                        f"a body that is not a chat completion ({_short(exc)})"
                    ) from None
                return _to_completion(response, self.max_tokens)
            except (*retryable, _Malformed) as exc:
                if attempt == self.max_retries:
                    raise PolicyError(
                        f"{where} failed after {attempt + 1} attempts: {_describe(exc)}"
                    ) from None
                await asyncio.sleep(delay)
                delay *= 2
            except openai.AuthenticationError:
                raise PolicyError(f"{where} rejected the API key (set OPENAI_API_KEY)") from None
            except openai.NotFoundError:
                raise PolicyError(f"{where} does not know model {self.model!r}") from None
            except openai.APIStatusError as exc:
                raise PolicyError(f"{where} refused the request: {_describe(exc)}") from None
        raise AssertionError("unreachable")


class _Malformed(Exception):
    """The server answered 200 with something that is not a usable chat completion."""


#: A server that ignores ``max_tokens`` is cut at this many characters per asked token
#: (no tokenizer needed; real tokens are rarely longer than 20 characters).
MAX_CHARS_PER_TOKEN = 32


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, _Malformed):
        return f"it answered {exc}"
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status:
        return f"{name} (HTTP {status})"
    cause = exc.__cause__ or exc.__context__
    return f"{name} ({_short(cause)})" if cause is not None else name


def _to_completion(response: Any, max_tokens: int) -> Completion:
    """The completion in ``response``; raises :class:`_Malformed` when it holds none.

    An answer longer than asked (a server that ignores ``max_tokens``: more than
    ``max_tokens`` ids or log-probs, or more than ``max_tokens * MAX_CHARS_PER_TOKEN``
    characters) is cut to that many characters, without ids and log-probs, and counts as
    stopped by the length limit.
    """
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise _Malformed("a response with no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise _Malformed("a choice with no message")
    text = getattr(message, "content", None) or ""
    if not isinstance(text, str):
        raise _Malformed("a message whose content is not text")
    logprobs = None
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if content:
        try:
            logprobs = [float(t.logprob) for t in content]
        except (AttributeError, TypeError, ValueError):
            raise _Malformed("log-probs that are not numbers") from None
    finish = "length" if getattr(choice, "finish_reason", None) == "length" else "stop"
    # vLLM's return_token_ids extension (absent elsewhere, hence getattr)
    prompt_ids = getattr(response, "prompt_token_ids", None) or []
    completion_ids = getattr(choice, "token_ids", None) or []
    try:
        prompt_ids = [int(i) for i in prompt_ids]
        completion_ids = [int(i) for i in completion_ids]
    except (TypeError, ValueError):
        raise _Malformed("token ids that are not integers") from None
    if logprobs is not None and completion_ids and len(logprobs) != len(completion_ids):
        completion_ids = []  # ids and log-probs that disagree are worse than none
    longest = max_tokens * MAX_CHARS_PER_TOKEN
    if len(text) > longest or len(completion_ids) > max_tokens or len(logprobs or ()) > max_tokens:
        # the cut text no longer matches the ids and log-probs: keep the text only
        text, finish, completion_ids, logprobs = text[:longest], "length", [], None
    return Completion(
        text=text,
        prompt_ids=prompt_ids,
        completion_ids=completion_ids,
        logprobs=logprobs,
        finish_reason=finish,
    )
