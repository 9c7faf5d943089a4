"""Content checks that several dialects make on what a client sends.

The CRD's URL pattern (models.URL) does not refuse control characters; the dialects refuse
them as well, so that what a client sends is refused with its own field's name rather than
by the API server, and every dialect that takes a URL decides it the same way.
"""

from __future__ import annotations

import re

from cronwright.core import models

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_http_url(value: str) -> bool:
    """An absolute http:// or https:// URL without control characters."""
    return bool(re.match(models.URL, value)) and not CONTROL.search(value)
