"""The service layer's own guarantees: upload paths stay in their folder, and the HTTP status of a service error
follows its type, never its text."""

from __future__ import annotations

import pytest

from mora_agents.errors import MoraError
from mora_agents.serve.body_limit import RequestTooLarge
from mora_agents.serve.errors import error_response
from mora_agents.services.errors import Conflict, JobNotFound, SessionNotFound, VideoNotFound, VideoNotReady
from mora_agents.services.uploads import Uploads


@pytest.mark.parametrize("owner", ["", ".", "..", "../x", "a/b", "/abs", "nul\x00"])
def test_an_upload_folder_is_one_plain_name(tmp_path, owner):
    uploads = Uploads(tmp_path)
    with pytest.raises(MoraError, match="one plain name"):
        uploads.folder(owner)
    with pytest.raises(MoraError, match="one plain name"):
        uploads.source_video(owner, b"not read")
    assert not (tmp_path / "uploads").exists()


def test_an_upload_refused_by_content_leaves_nothing(tmp_path):
    uploads = Uploads(tmp_path)
    with pytest.raises(MoraError, match="input_reference"):
        uploads.reference_image("video_1", "a.png", b"not an image")
    assert not (tmp_path / "uploads").exists()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (JobNotFound("any words"), 404, "not_found"),
        (VideoNotFound("any words"), 404, "not_found"),
        (SessionNotFound("any words"), 404, "not_found"),
        (VideoNotReady("any words"), 409, "video_not_ready"),
        (Conflict("any words"), 409, "conflict"),
        (RequestTooLarge(10, 20), 413, "request_too_large"),
        (MoraError("no job job_1"), 400, None),  # the text says "no job", the type does not: 400
    ],
)
def test_the_status_of_an_error_follows_its_type(error, status, code):
    response = error_response(error)
    assert response.status_code == status
    assert b'"code":' + (f'"{code}"'.encode() if code else b"null") in response.body
