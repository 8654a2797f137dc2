"""The Prefect Automations shipped with Yearwheel (``deploy/automations.yaml``), applied
idempotently by ``yearwheel prefect apply``: each automation is found by its name and
updated when it differs, created when it is missing, left alone when it is the same.

An automation that notifies ``ops`` is one automation, through the ops block. One that
notifies ``coordinator`` is one automation per programme whose calendar asks for it
(``overdue_alert:``), through that programme's coordinator block; ``{programme}`` in its
trigger is the programme's id, and its name ends with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Sequence

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
    notify: Literal["ops", "coordinator"]
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


def build(spec: _Shipped, block_id: Any, programme: str | None = None):
    """The AutomationCore Prefect stores for one shipped automation (for ``programme``, when
    it is made per programme)."""
    from prefect.events.schemas.automations import AutomationCore

    trigger = spec.trigger
    if programme is not None:
        trigger = json.loads(json.dumps(trigger, ensure_ascii=False).replace("{programme}", programme))
    action = {"type": "send-notification", "block_document_id": str(block_id), "subject": spec.subject, "body": spec.body}
    return AutomationCore.model_validate(
        {
            "name": _name(spec, programme),
            "description": spec.description,
            "enabled": True,
            "trigger": trigger,
            "actions": [action],
        }
    )


def _name(spec: _Shipped, programme: str | None) -> str:
    return spec.name if programme is None else f"{spec.name}：{programme}"


def _comparable(a) -> dict:
    return a.model_dump(mode="json", include={"name", "description", "enabled", "trigger", "actions"}, exclude_none=True)


def _block_id(ref: str) -> Any:
    from prefect.blocks.core import Block

    try:
        block = Block.load(ref)
    except (ValueError, KeyError) as exc:
        raise AutomationsInvalid(f"no Prefect block {ref!r} (give it as block-type-slug/block-name): {exc}") from None
    block_id = getattr(block, "_block_document_id", None)
    if block_id is None:
        raise AutomationsInvalid(f"the block {ref!r} is not saved on the Prefect server")
    return block_id


def apply(
    ops_block: str,
    path: Path = AUTOMATIONS,
    *,
    alerting: Sequence[str] = (),
    coordinator_blocks: dict[str, str] | None = None,
) -> list[tuple[str, str, str]]:
    """Create or update the shipped automations on the configured Prefect server; returns
    (name, "created" | "updated" | "unchanged" | "skipped", why) for each. ``ops_block``:
    the notification block the ops channel is reached by, as ``block-type-slug/block-name``;
    ``alerting``: the programmes whose calendars set ``overdue_alert``;
    ``coordinator_blocks``: programme id (or ``*``, any other) → its coordinator's block."""
    from prefect.client.orchestration import get_client

    specs = shipped(path)
    blocks = coordinator_blocks or {}
    block_ids = {ops_block: _block_id(ops_block)}  # each block looked up once
    wanted: list[tuple[str, Any]] = []  # (name, the automation) — or (name, why it is skipped)
    for spec in specs:
        if spec.notify == "ops":
            wanted.append((spec.name, build(spec, block_ids[ops_block])))
            continue
        for programme in alerting:
            ref = blocks.get(programme) or blocks.get("*")
            if ref is None:
                wanted.append((_name(spec, programme), f"no --coordinator-block for {programme}"))
            else:
                if ref not in block_ids:
                    block_ids[ref] = _block_id(ref)
                wanted.append((_name(spec, programme), build(spec, block_ids[ref], programme)))
    out = []
    with get_client(sync_client=True) as client:
        for name, want in wanted:
            if isinstance(want, str):
                out.append((name, "skipped", want))
                continue
            have = client.read_automations_by_name(name)
            if not have:
                client.create_automation(want)
                out.append((name, "created", ""))
            elif _comparable(have[0]) == _comparable(want):
                out.append((name, "unchanged", ""))
            else:
                client.update_automation(have[0].id, want)
                out.append((name, "updated", ""))
    return out
