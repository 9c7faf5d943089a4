"""Content checks that several dialects make on what a client sends.

The CRD's URL pattern (models.URL) lets control characters such as NUL or DEL through;
the dialects refuse them as well, naming the client's own field, and every dialect that
takes a URL decides it the same way.
"""

from __future__ import annotations

import re

from cronwright.core import models

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_http_url(value: str) -> bool:
    """An absolute http:// or https:// URL without control characters."""
    return bool(re.match(models.URL, value)) and not CONTROL.search(value)
