"""The form field types, in one table: what each is called for the bureau, how the web form
asks for it, what check Excel puts on its cell, and how typed text becomes its value.
The calendar schema (``spec.FieldType``), the validator (``forms``), the text parser
(``formtext``), the web form and the Excel templates all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldKind:
    id: str
    zh: str  # what the bureau is asked for
    control: str  # the web form's control: "input", "textarea", "select", "table"
    input_type: str = "text"  # for control "input"
    inputmode: str | None = None  # the keyboard a phone shows
    excel: str | None = None  # the Excel data validation: "whole", "decimal", "date", "list", "textLength"
    numeric: bool = False  # typed text is read as a number (thousands separators dropped)
    text: bool = False  # a string value, its length bounded by max_length
    one_line: bool = False  # text without line breaks
    multiline: bool = False  # shown and printed wrapped


FIELD_TYPES: dict[str, FieldKind] = {
    k.id: k
    for k in (
        FieldKind("text", "文字（可多行）", "textarea", excel="textLength", text=True, multiline=True),
        FieldKind("string", "文字（一行）", "input", excel="textLength", text=True, one_line=True),
        FieldKind("integer", "整数", "input", inputmode="numeric", excel="whole", numeric=True),
        FieldKind("number", "数字", "input", inputmode="decimal", excel="decimal", numeric=True),
        FieldKind("date", "日期（如 2023-12-25）", "input", input_type="date", excel="date"),
        FieldKind("boolean", "是或否", "select", excel="list"),
        FieldKind("choice", "从选项中选择", "select", excel="list"),
        FieldKind("table", "表格（逐行填写）", "table"),
    )
}


def kind(field_type: str) -> FieldKind:
    return FIELD_TYPES[field_type]
