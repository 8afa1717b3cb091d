"""Dates of birth in tables: a header cell names the column, the rows below hold the dates.

CSV, TSV, semicolon exports and Markdown tables put the label ("DOB", "date_of_birth",
"Geburtsdatum") once in the header, far from each value, so the label-then-date rule of
pii_personal never sees them together. Here the header's column is found and the same cell of
each following row is read; only a plausible birth date in that cell counts.
"""

from __future__ import annotations

import re
from typing import Final

from middleware.guardrails.detectors.pii_context import Candidate
from middleware.guardrails.detectors.pii_personal import birth_date_in_cell

_DELIMITERS: Final = ("|", "\t", ";", ",")
_MAX_ROWS: Final = 8
# What may follow the label inside its header cell: spaces, quotes, a unit hint "(YYYY-MM-DD)".
_HEADER_REST: Final = re.compile(r"""[\s"'*_]*(?:\([^()|\t;,]{0,24}\)[\s"'*_]*)?""")
_CELL_PADDING: Final = " \t\"'*_"


def birth_column_dates(text: str, label_start: int, label_end: int, line_whole: bool) -> list[Candidate]:
    """The dates of birth in the column whose header cell is the birth label at ``label_start``.

    ``line_whole`` says whether ``text`` is known to hold the header line from its start (a slice
    cut inside the line would shift the column count).
    """
    line_start = text.rfind("\n", 0, label_start) + 1
    line_end = text.find("\n", label_end)
    if line_end < 0 or (line_start == 0 and not line_whole):
        return []
    header = text[line_start:line_end]
    delimiter = next((mark for mark in _DELIMITERS if mark in header), None)
    if delimiter is None:
        return []
    column = _header_column(header, delimiter, label_start - line_start, label_end - line_start)
    if column is None:
        return []
    found: list[Candidate] = []
    row_start = line_end + 1
    for _ in range(_MAX_ROWS):
        row_end = text.find("\n", row_start)
        row_end = len(text) if row_end < 0 else row_end
        if delimiter not in text[row_start:row_end]:
            break  # the table has ended
        cell = _cell_span(text, row_start, row_end, delimiter, column)
        if cell is not None and (date := birth_date_in_cell(text, *cell)) is not None:
            found.append(date)
        row_start = row_end + 1
    return found


def _header_column(header: str, delimiter: str, label_start: int, label_end: int) -> int | None:
    """The index of the cell that holds the label and nothing else (bar quotes, a format hint)."""
    cell_start = 0
    for index, cell in enumerate(header.split(delimiter)):
        cell_end = cell_start + len(cell)
        if cell_start <= label_start < cell_end:
            before = header[cell_start:label_start].strip(_CELL_PADDING)
            rest = _HEADER_REST.fullmatch(header, label_end, cell_end)
            return index if not before and rest is not None else None
        cell_start = cell_end + len(delimiter)
    return None


def _cell_span(
    text: str, row_start: int, row_end: int, delimiter: str, column: int
) -> tuple[int, int] | None:
    """Where cell ``column`` of the row lies, or None when the row is shorter."""
    cell_start = row_start
    for _ in range(column):
        next_delimiter = text.find(delimiter, cell_start, row_end)
        if next_delimiter < 0:
            return None
        cell_start = next_delimiter + len(delimiter)
    cell_end = text.find(delimiter, cell_start, row_end)
    return cell_start, row_end if cell_end < 0 else cell_end
