"""The forms a calendar defines (what each assignee submits): fields of the one table of
field types (``models.fieldtypes``), tables of columns, bounds. Part of
:class:`models.timeline.spec.ProgrammeFile`, re-exported there."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .spec import FieldId, Id, IntOrParam, NumberOrParam, Source, Strict, Text


FieldType = Literal["text", "string", "integer", "number", "date", "boolean", "choice", "table"]


class FormField(Strict):
    id: FieldId
    label: Text = Field(description="the label shown to the bureau, in Chinese")
    type: FieldType
    required: bool = True
    help: Text | None = None
    unit: Text | None = None
    min: NumberOrParam | None = Field(None, description="integer/number: smallest allowed value")
    max: NumberOrParam | None = Field(None, description="integer/number: largest allowed value")
    max_length: int | None = Field(None, ge=1, le=100_000, description="text/string: most characters")
    choices: list[Text] | None = Field(None, min_length=1, description="choice: the allowed answers")
    columns: list[FormField] | None = Field(None, min_length=1, description="table: one field per column")
    min_rows: IntOrParam | None = None
    max_rows: IntOrParam | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        t = self.type
        if t == "choice" and not self.choices:
            raise ValueError("a choice field needs 'choices'")
        if t != "choice" and self.choices is not None:
            raise ValueError(f"'choices' only applies to choice fields, not {t}")
        if t == "table":
            if not self.columns:
                raise ValueError("a table field needs 'columns'")
            if any(c.type == "table" for c in self.columns):
                raise ValueError("a table column cannot itself be a table")
        else:
            for key in ("columns", "min_rows", "max_rows"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' only applies to table fields, not {t}")
        if t not in ("integer", "number") and (self.min is not None or self.max is not None):
            raise ValueError(f"'min'/'max' only apply to integer and number fields, not {t}")
        if t not in ("text", "string") and self.max_length is not None:
            raise ValueError(f"'max_length' only applies to text and string fields, not {t}")
        if isinstance(self.min, (int, float)) and isinstance(self.max, (int, float)) and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Form(Strict):
    id: Id
    title: Text
    attachment: int | None = Field(None, ge=1, description="attachment number in the source document")
    fields: list[FormField] = Field(min_length=1)
    source: Source | None = None
