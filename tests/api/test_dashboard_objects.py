"""The containers pages where the cloud has no object store (the fake drivers' stack has
no RADOS Gateway): the page says so and nothing else answers. The pages against a real
gateway are driven in a browser by ``tests/e2e/test_dashboard_browser.py``."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from dashboard.apiclient import ApiError
from dashboard.objects import _object_name, _parents
from tests.api.test_dashboard_app import csrf, sign_in, web
from tests.support.paas import stack

__all__ = ["stack", "web"]


def test_without_an_object_store_the_page_says_so(web: FlaskClient) -> None:
    sign_in(web, "alice")
    page = web.get("/containers")
    assert page.status_code == 200
    assert "This cloud has no object storage." in page.get_data(as_text=True)
    assert "Create a container" not in page.get_data(as_text=True)
    assert web.get("/containers/docs").status_code == 404
    made = web.post("/containers", data={"csrf": csrf(web), "name": "docs"})
    assert made.status_code == 404


def test_an_upload_is_named_under_the_folder_shown() -> None:
    assert _object_name("reports/", "", "C:\\\\Users\\\\me\\\\q3.pdf") == "reports/q3.pdf"
    assert _object_name("reports/", "reports/a.txt", "x") == "reports/a.txt"
    assert _object_name("", "a/b.txt", "x") == "a/b.txt"
    with pytest.raises(ApiError):
        _object_name("", "", "")
    assert _parents("a/b/") == [("a", "a/"), ("b", "a/b/")]
