"""What every page module answers with after a change."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse


def go(endpoint: str, **args: Any) -> WerkzeugResponse:
    """Redirect to ``endpoint`` with the given (non-empty) query arguments. A form sent
    with htmx (an upload, for its progress bar) gets ``HX-Redirect`` instead, so that the
    whole page moves on, as it does after a plain form post."""
    url = url_for(endpoint, **{k: v for k, v in args.items() if v})
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url)
