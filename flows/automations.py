"""The Prefect Automations shipped with Yearwheel (``deploy/automations.yaml``), applied
idempotently by ``yearwheel prefect apply``: each automation is found by its name and
updated when it differs, created when it is missing, left alone when it is the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ROOT = Path(__file__).resolve().parents[1]
AUTOMATIONS = ROOT / "deploy" / "automations.yaml"


class AutomationsInvalid(ValueError):
    pass


class _Shipped(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    trigger: dict[str, Any]
    notify: Literal["ops"]
    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    automations: list[_Shipped] = Field(min_length=1)


def shipped(path: Path = AUTOMATIONS) -> list[_Shipped]:
    from models.timeline.yamlsrc import YamlError
    from models.timeline.yamlsrc import load as load_yaml

    try:
        doc, _ = load_yaml(path.read_text(encoding="utf-8"))
        return list(_File.model_validate(doc).automations)
    except (OSError, YamlError, ValidationError) as exc:
        raise AutomationsInvalid(f"{path}: {exc}") from None


def build(spec: _Shipped, ops_block_id: Any):
    """The AutomationCore Prefect stores for one shipped automation."""
    from prefect.events.schemas.automations import AutomationCore

    action = {"type": "send-notification", "block_document_id": str(ops_block_id), "subject": spec.subject, "body": spec.body}
    return AutomationCore.model_validate(
        {"name": spec.name, "description": spec.description, "enabled": True, "trigger": spec.trigger, "actions": [action]}
    )


def _comparable(a) -> dict:
    return a.model_dump(mode="json", include={"name", "description", "enabled", "trigger", "actions"}, exclude_none=True)


def apply(ops_block: str, path: Path = AUTOMATIONS) -> list[tuple[str, str]]:
    """Create or update the shipped automations on the configured Prefect server; returns
    (name, "created" | "updated" | "unchanged") for each. ``ops_block``: the notification
    block the ops channel is reached by, as ``block-type-slug/block-name``."""
    from prefect.blocks.core import Block
    from prefect.client.orchestration import get_client

    specs = shipped(path)
    try:
        block = Block.load(ops_block)
    except (ValueError, KeyError) as exc:
        raise AutomationsInvalid(f"no Prefect block {ops_block!r} (give it as block-type-slug/block-name): {exc}") from None
    block_id = getattr(block, "_block_document_id", None)
    if block_id is None:
        raise AutomationsInvalid(f"the block {ops_block!r} is not saved on the Prefect server")
    out = []
    with get_client(sync_client=True) as client:
        for spec in specs:
            want = build(spec, block_id)
            have = client.read_automations_by_name(spec.name)
            if not have:
                client.create_automation(want)
                out.append((spec.name, "created"))
            elif _comparable(have[0]) == _comparable(want):
                out.append((spec.name, "unchanged"))
            else:
                client.update_automation(have[0].id, want)
                out.append((spec.name, "updated"))
    return out
