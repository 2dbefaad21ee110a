"""Local case-management records from files and folders: JSON, NDJSON and CSV, streamed.

``iter_records(paths)`` yields one ``SourceRecord`` per record found, in a stable order, with
where it came from (for reject reports) and any parse problem; whether the record conforms to
its format (``profiles/local/``) is the pipeline's question, not the reader's.

Paths and files
    A folder is read recursively, its files in sorted path order; hidden entries (``.name``)
    and Office lock files (``~$name``) are skipped, and so is any file that is not a record file
    (``README.md``, notes): only ``.json``, ``.ndjson``/``.jsonl`` and ``.csv`` are records.
    A path named explicitly that is missing, unreadable or not a record file is reported as an
    error; so is a folder that cannot be listed. A file reached twice is read once. All text is
    UTF-8; a leading byte-order mark is tolerated (Excel writes one in "CSV UTF-8").

``.json``: one record, or an array of records
    An array is streamed: ``json.JSONDecoder.raw_decode`` over 64 KiB chunks decodes one item at
    a time, so memory stays at one record whatever the file size. The source of an item is
    ``file.json[3]`` (0-based index). JSON does not allow resynchronising after a syntax error,
    so an invalid item ends the file: it is reported with its line and column, and the items
    before it stand. NaN and Infinity are refused.

``.ndjson`` / ``.jsonl``: one record per line
    Source ``file.ndjson:17`` (1-based line). Blank lines are skipped; a line that is not JSON
    (or not UTF-8) is an error for that line only.

``.csv``: the flat record types only (consumer, staff, organization)
    Line 1 is the header; each header says where its cell goes in the record:

    - ``type`` (required): the record type of the row.
    - A dotted path into the record: ``id``, ``birth_date``, ``name.family``,
      ``identifiers.agency_number``, ``guardian.name.given``. Underscores belong to field names;
      only dots separate levels.
    - A number indexes a list of objects: ``addresses.0.lines``, ``addresses.0.city``,
      ``eligibility.1.group``. Filled entries keep their index order; gaps close up.
    - Contacts by kind: ``contacts.<kind>`` or ``contacts.<kind>.<use>`` (kind: phone, sms,
      email, fax; use: home, work, mobile), at any level (``guardian.contacts.phone.home``).
      Each value becomes ``{kind, value, use}``, in column order. The general form
      ``contacts.0.kind`` / ``contacts.0.value`` / ``contacts.0.use`` also works; a file uses
      one form or the other for a given ``contacts``.
    - Headers that are empty or start with ``#`` are ignored (notes columns).

    Cells: empty (or blank) means absent, and surrounding spaces are trimmed. Lists of strings
    (``name.given``, ``roles``, ``credentials``, ``languages``, ``skills``,
    ``addresses.0.lines``) and contact cells are semicolon-separated (``María;José``; ``\\;``
    is a literal semicolon). Booleans are true/false, yes/no, y/n or 1/0 in any case; integers
    and numbers are typed per the schema; everything else is text as written, so dates must
    be ``YYYY-MM-DD`` (in Excel, format date columns as text). A column the schema does not
    know is kept as text, so the record check names it as an unknown field.

    A comma is the delimiter unless the header line has none and has tabs or semicolons. The
    source of a row is ``file.csv:N``, N the line the row starts on (the header is line 1):
    the spreadsheet row unless a quoted cell spans lines. A bad header (no ``type`` column, a
    duplicate, ``name`` beside ``name.family``, an unknown contact kind) rejects the whole file
    at ``file.csv:1``; a bad cell rejects its row, with the row's cells as the record.

``record_from_columns`` applies the same column convention to one row from elsewhere (a
database query), and ``csv_cells`` writes a record as a row under a given header.

Modules: ``folders`` (paths, folders, dispatch by suffix, counting), ``json_files`` (the streaming
decoder), ``ndjson_files``, ``csv_files`` (reading, cells typed per the schemas,
``record_from_columns``) and ``columns`` (the column convention: headers, lists in cells,
``csv_cells``).
"""
from __future__ import annotations

from gateway.adapters.local_files.columns import (
    CONTACT_KINDS,
    CONTACT_USES,
    ColumnError,
    ColumnLayout,
    PathPart,
    column_layout,
    csv_cells,
    join_list,
    split_list,
)
from gateway.adapters.local_files.csv_files import record_from_columns
from gateway.adapters.local_files.folders import (
    CSV_SUFFIXES,
    JSON_SUFFIXES,
    NDJSON_SUFFIXES,
    RECORD_SUFFIXES,
    count_records,
    iter_records,
)
from gateway.local.sources import SourceRecord

__all__ = [
    "CONTACT_KINDS",
    "CONTACT_USES",
    "CSV_SUFFIXES",
    "JSON_SUFFIXES",
    "NDJSON_SUFFIXES",
    "RECORD_SUFFIXES",
    "ColumnError",
    "ColumnLayout",
    "PathPart",
    "SourceRecord",
    "column_layout",
    "count_records",
    "csv_cells",
    "iter_records",
    "join_list",
    "record_from_columns",
    "split_list",
]
