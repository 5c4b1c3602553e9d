"""A client of the Ollama HTTP API for captions (``POST /api/generate``, non-streaming).

Request: ``{"model", "prompt", "images": [base64 JPEG], "stream": false}``; answer: JSON with the
caption in ``"response"`` (Ollama API reference, "Generate a completion"). Any server speaking
that protocol works (Ollama, llama.cpp's and LocalAI's compatible servers).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

CAPTION_PROMPT = "Describe this photo in one short sentence."
RETRY_PAUSE_S = 0.5  # first pause between retries; doubled each time


class EndpointError(Exception):
    """The endpoint was unreachable, too slow, or answered something that is not a caption."""


def caption(endpoint: str, model: str, jpeg: bytes, timeout_s: float, retries: int) -> str:
    """One caption for one JPEG.

    Args:
        endpoint: base URL, e.g. ``http://127.0.0.1:11434``.
        jpeg: the image bytes (the preview thumbnail).
        timeout_s: per request; ``retries`` more attempts follow a failure (pauses 0.5 s, 1 s, ...).
    Returns:
        The first sentence of the answer, stripped, at most 300 characters.
    Raises:
        EndpointError: after the last attempt, with what went wrong.
    """
    body = json.dumps({"model": model, "prompt": CAPTION_PROMPT, "stream": False,
                       "images": [base64.b64encode(jpeg).decode("ascii")]}).encode()
    last = "no attempt"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(RETRY_PAUSE_S * 2 ** (attempt - 1))
        req = urllib.request.Request(endpoint.rstrip("/") + "/api/generate", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                raw = resp.read()
        except (urllib.error.URLError, OSError) as exc:  # refused, HTTP error status, timeout
            last = f"{endpoint}: {getattr(exc, 'reason', None) or exc}"
            continue
        try:
            text = json.loads(raw)["response"]
        except (ValueError, KeyError, TypeError):
            last = f"{endpoint}: answer is not Ollama JSON with a 'response' ({raw[:60]!r})"
            continue
        if not isinstance(text, str) or not text.strip():
            last = f"{endpoint}: empty caption"
            continue
        return text.strip().split("\n")[0][:300]
    raise EndpointError(last)
