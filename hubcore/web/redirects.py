"""The one check for where a ``next`` parameter may send someone: a path on this site.

Browsers are forgiving when they read a URL (the WHATWG URL standard): they
drop tabs and newlines anywhere, trim spaces and control characters at the
ends, and read a backslash as a slash, so ``"/\\t/evil.example"`` and
``"/\\\\evil.example"`` both mean ``//evil.example``, another site. Rather
than imitate every such rule, anything that a browser would rewrite is
refused, and what is left must be a plain absolute path: one leading slash,
no scheme, no host. Every view that follows a ``next`` uses ``safe_next``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2000


def is_safe_path(target: object) -> bool:
    """True for a path on this site ("/account?tab=1"); False for anything else."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return False
    if not target.isprintable() or "\\" in target or target != target.strip():
        return False  # control characters, tabs, newlines, backslashes, edge spaces
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: object, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (a path the caller built)."""
    return target if is_safe_path(target) else default
