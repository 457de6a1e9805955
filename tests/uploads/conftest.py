"""The staged-upload story: the support team sends a large snapshot of its refund policy in batches."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from freshness.models import Snapshot, Upload, UploadDocument
from freshness.runtime import Runtime
from tests.conftest import Api, register


def doc(n: int, topic: str = "refunds") -> dict:
    return {"id": f"doc-{n:03d}", "title": f"Part {n}",
            "text": f"Part {n} of the {topic} policy: customers may return an unused item within {n + 10} days."}


def docs(first: int, count: int, topic: str = "refunds") -> list[dict]:
    return [doc(n, topic) for n in range(first, first + count)]


class Uploads:
    """The upload endpoints as a publisher calls them, with the key of `api`."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def open(self, source_id: str, expect: int = 201, **body) -> dict:
        response = self.api.post(f"/v1/sources/{source_id}/uploads", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def add(self, upload_id: str, documents: list[dict], expect: int = 200) -> dict:
        response = self.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": documents})
        assert response.status_code == expect, response.text
        return response.json()

    def commit(self, upload_id: str, expect: int = 201) -> dict:
        response = self.api.post(f"/v1/uploads/{upload_id}/commit")
        assert response.status_code == expect, response.text
        return response.json()

    def abandon(self, upload_id: str, expect: int = 200) -> dict:
        response = self.api.delete(f"/v1/uploads/{upload_id}")
        assert response.status_code == expect, response.text
        return response.json()


@pytest.fixture
def runtime(admin) -> Runtime:
    return admin.client.app.state.runtime


@pytest.fixture
def uploads(support) -> Uploads:
    return Uploads(support)


@pytest.fixture
def refund_policy(admin) -> str:
    register(admin, "refund-policy")
    return "refund-policy"


def stored(runtime: Runtime, upload_id: str | None = None) -> tuple[int, int]:
    """(uploads, staged documents) in the database, of one upload or of all."""
    with runtime.sessions() as session:
        uploads = select(func.count()).select_from(Upload)
        documents = select(func.count()).select_from(UploadDocument)
        if upload_id is not None:
            uploads = uploads.where(Upload.id == upload_id)
            documents = documents.where(UploadDocument.upload_id == upload_id)
        return session.scalar(uploads) or 0, session.scalar(documents) or 0


def snapshot_count(runtime: Runtime, source_id: str) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Snapshot).where(Snapshot.source_id == source_id)) or 0
