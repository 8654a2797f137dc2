"""Recording a submission from the intake with its evidence files: the files are
written to a staging folder inside the transaction and moved into place only once it
is committed, so a failed commit leaves no file behind."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import sessionmaker

from yearwheel import usecases as R

if TYPE_CHECKING:
    from .app import WebSettings


def record_submission(
    rt: R.Runtime, web: sessionmaker, settings: WebSettings, info: dict, payload: dict, stored: list[dict], client: str
) -> int:
    """Validate and record one submission (``usecases.submit_form``, on the web's own
    time-boxed sessions, its messages left to the background sender). Evidence is written
    to a staging folder inside the transaction and moved into place only once it is
    committed; on any failure the staging folder goes, so no orphan file is left behind."""
    staging = settings.attachment_dir / ".staging" / uuid.uuid4().hex

    def folder(task_id: int) -> Path:
        return settings.attachment_dir / str(task_id)

    def describe(task_id: int) -> list[dict[str, Any]]:
        return [{k: v for k, v in f.items() if k != "_data"} | {"path": str(folder(task_id) / f["sha256"])} for f in stored]

    def stage(_task_id: int) -> None:
        if stored:
            staging.mkdir(parents=True, exist_ok=True)
            for f in stored:
                (staging / f["sha256"]).write_bytes(f["_data"])

    try:
        done = R.submit_form(
            rt,
            info["programme"],
            info["year"],
            info["milestone"],
            info["participant"],
            payload,
            item=info["item_key"],
            at=settings.clock(),
            actor=f"{info['participant']} (web form)",
            source=f"web intake from {client}",
            attachments=describe,
            store=stage,
            send=False,
            sessions=web,
        )
        for f in stored:  # committed: now the files go where the ledger says they are
            target = folder(done.task_id) / f["sha256"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.replace(staging / f["sha256"], target)
        return done.version
    finally:
        shutil.rmtree(staging, ignore_errors=True)
