"""Browser sessions for the web UI, and the rate limit on signing in.

A session is created by ``POST /login`` with the API token; the browser keeps its id in an HttpOnly,
SameSite=Strict cookie (``COOKIE``) and every state-changing request authenticated by that cookie
must carry the session's CSRF token in the ``X-CSRF-Token`` header (or a ``csrf`` form field for the
log-out form): the synchronizer-token pattern of the OWASP CSRF Prevention Cheat Sheet. Sessions
live in this process's memory: a restart signs everyone out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

COOKIE = "lumina_session"
SESSION_TTL_S = 12 * 3600  # a working day; then sign in again
LOGIN_FAILURES_MAX = 5  # wrong tokens allowed per client address within LOGIN_WINDOW_S
LOGIN_WINDOW_S = 60.0


class Sessions:
    """Session id -> (CSRF token, expiry time); thread-safe."""

    def __init__(self, ttl_s: float = SESSION_TTL_S):
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def create(self) -> tuple[str, str]:
        """A new ``(session_id, csrf_token)``, each 32 random bytes, URL-safe base64."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[1] > now}  # drop expired ones
            self._items[sid] = (csrf, now + self.ttl_s)
        return sid, csrf

    def csrf(self, sid: str | None) -> str | None:
        """The CSRF token of a live session, or None (unknown or expired id)."""
        with self._lock:
            item = self._items.get(sid or "")
        return item[0] if item and item[1] > time.monotonic() else None

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._items.pop(sid or "", None)


class LoginLimiter:
    """At most ``max_failures`` wrong tokens per client address in a sliding ``window_s``."""

    def __init__(self, max_failures: int = LOGIN_FAILURES_MAX, window_s: float = LOGIN_WINDOW_S):
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after_s(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        with self._lock:
            q = self._failures.get(client)
            now = time.monotonic()
            while q and q[0] <= now - self.window_s:
                q.popleft()
            return int(q[0] + self.window_s - now) + 1 if q and len(q) >= self.max_failures else 0

    def fail(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(time.monotonic())
