"""JSON schemas of the calendar file formats, generated from the pydantic models.

Editors use them for completion and checking (the calendars name them in their first
line); ``yearwheel schema`` writes them and a test fails when the committed copies are stale.
"""

from __future__ import annotations

import json

from .spec import ProgrammeFile, WorkdaysFile

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def render_schemas() -> dict[str, str]:
    """File name → JSON text."""
    out = {}
    for name, model in (("programme.schema.json", ProgrammeFile), ("workdays.schema.json", WorkdaysFile)):
        schema = {"$schema": _DRAFT, **model.model_json_schema()}
        out[name] = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out
