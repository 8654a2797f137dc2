"""Small valid calendars built in code, for tests that need one milestone and nothing else."""

from __future__ import annotations

from models.timeline import ProgrammeFile


def one_milestone_programme(milestone: dict, *, first: int = 2022, last: int = 2024, id: str = "p") -> ProgrammeFile:
    """A programme with one city and one workstream holding ``milestone`` (a milestone's
    YAML mapping; ``title``, ``kind`` and ``source`` default to placeholders)."""
    m = {"title": milestone["id"], "kind": "meeting", "source": {"clause": "一"}, **milestone}
    return ProgrammeFile.model_validate(
        {
            "version": 1,
            "programme": {"id": id, "title": "t", "issuer": "i", "years": {"first": first, "last": last}},
            "participants": [{"id": "city-a", "name": "甲市", "kind": "city"}],
            "workstreams": [{"id": "ws", "title": "w", "lead": ["city-a"], "milestones": [m]}],
        }
    )
