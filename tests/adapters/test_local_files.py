"""Reading local records from files and folders: JSON, NDJSON and CSV."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters import local_files
from gateway.adapters.local_files import (
    column_layout,
    count_records,
    csv_cells,
    iter_records,
    record_from_columns,
)
from gateway.local.schemas import record_problems
from gateway.local.sources import SourceRecord

CONSUMER = {"type": "consumer", "id": "C-1", "updated_at": "2026-03-01T10:00:00Z",
            "name": {"family": "Martínez", "given": ["Elena", "Rosa"]},
            "birth_date": "1988-04-12", "identifiers": {"agency_number": "100001"}}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read(*paths: Path | str) -> list[SourceRecord]:
    return list(iter_records(paths))


# -- JSON ------------------------------------------------------------------------------------------

def test_json_file_with_one_record(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", json.dumps(CONSUMER, indent=2))
    assert read(path) == [SourceRecord(str(path), CONSUMER, None)]


def test_json_array_items_are_numbered_from_zero(tmp_path: Path) -> None:
    records = [dict(CONSUMER, id=f"C-{n}") for n in range(3)]
    path = write(tmp_path / "many.json", json.dumps(records, indent=1))
    assert read(path) == [SourceRecord(f"{path}[{n}]", records[n], None) for n in range(3)]


def test_empty_json_array_has_no_records(tmp_path: Path) -> None:
    assert read(write(tmp_path / "none.json", " [ \n ] \n")) == []


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_json_array_is_streamed_across_chunk_boundaries(tmp_path: Path, chunk: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny chunks cut strings, escapes, numbers and literals at every possible place.
    monkeypatch.setattr(local_files.json_files, "CHUNK_CHARS", chunk)
    items = [CONSUMER, {"n": 123456789, "f": -1.5e-3, "t": True, "f2": False, "z": None},
             "caf\\u00e9 \"quoted\"", 42, [1, [2, {"x": "ü"}]], {"long": "x" * 500}]
    text = "\r\n[\n" + ",\r\n  ".join(json.dumps(item, ensure_ascii=False) for item in items) \
        + "\n]\n"
    path = write(tmp_path / "chunked.json", text)
    assert [r.record for r in read(path)] == json.loads(text)
    assert all(r.error is None for r in read(path))


def test_json_array_is_not_loaded_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every item is decoded out of a buffer of about one chunk, never the whole file.
    monkeypatch.setattr(local_files.json_files, "CHUNK_CHARS", 256)
    largest = 0
    original = local_files.json_files._JsonStream._more

    def spy(self: local_files.json_files._JsonStream) -> bool:
        nonlocal largest
        more = original(self)
        largest = max(largest, len(self.buffer))
        return more

    monkeypatch.setattr(local_files.json_files._JsonStream, "_more", spy)
    path = write(tmp_path / "big.json", json.dumps([dict(CONSUMER, id=f"C-{n}")
                                                   for n in range(2000)]))
    assert len(read(path)) == 2000
    assert path.stat().st_size > 300_000 and largest < 1024


def test_invalid_json_item_ends_the_file_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '[\n {"id": "a"},\n {"id": "b",,},\n {"id": "c"}\n]')
    first, second = read(path)
    assert first == SourceRecord(f"{path}[0]", {"id": "a"}, None)
    assert second.source == f"{path}[1]" and second.record is None
    assert "line 3" in second.error and "the rest of the file was not read" in second.error


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ('{"a": 1} {"b": 2}', "more after the record"),
    ('[{"a": 1}] x', "more after the array"),
    ('[{"a": 1}', "ends inside the array"),
    ('[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
    ('[{"a": NaN}]', "NaN is not allowed"),
])
def test_json_file_problems(tmp_path: Path, text: str, message: str) -> None:
    records = read(write(tmp_path / "x.json", text))
    assert records[-1].error is not None and message in records[-1].error


def test_json_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.json", b"\xef\xbb\xbf" + json.dumps([CONSUMER]).encode())
    assert read(path) == [SourceRecord(f"{path}[0]", CONSUMER, None)]


def test_json_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.json", '[{"family": "Martínez"}]'.encode("latin-1"))
    [record] = read(path)
    assert record.error is not None and "not UTF-8" in record.error


# -- NDJSON ----------------------------------------------------------------------------------------

def test_ndjson_bad_line_is_reported_by_number_and_others_still_read(tmp_path: Path) -> None:
    lines = [json.dumps(CONSUMER), "", "   ", '{"id": "broken"', json.dumps({"id": "after"})]
    path = write(tmp_path / "records.ndjson", "\n".join(lines) + "\n")
    records = read(path)
    assert [r.source for r in records] == [f"{path}:1", f"{path}:4", f"{path}:5"]
    assert records[0] == SourceRecord(f"{path}:1", CONSUMER, None)
    assert records[1].record == '{"id": "broken"' and "invalid JSON" in records[1].error
    assert records[2] == SourceRecord(f"{path}:5", {"id": "after"}, None)


def test_jsonl_crlf_bom_and_a_line_not_utf8(tmp_path: Path) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(CONSUMER).encode() + b"\r\n" \
        + b'{"family": "Mart\xednez"}\r\n' + b'{"ok": true}'
    path = write(tmp_path / "r.jsonl", body)
    records = read(path)
    assert records[0] == SourceRecord(f"{path}:1", CONSUMER, None)
    assert records[1].source == f"{path}:2" and "not UTF-8" in records[1].error
    assert records[2] == SourceRecord(f"{path}:3", {"ok": True}, None)


# -- CSV -------------------------------------------------------------------------------------------

HEADER = ("type,id,updated_at,name.family,name.given,birth_date,gender,interpreter_needed,"
          "identifiers.agency_number,contacts.phone.mobile,contacts.email,"
          "addresses.0.lines,addresses.0.city,addresses.0.state,addresses.0.postal_code,"
          "eligibility.0.group,eligibility.1.group,guardian.name.family,guardian.relationship,"
          "guardian.contacts.phone.home,active,# notes")


def test_csv_header_convention(tmp_path: Path) -> None:
    row = ('consumer,C-1,2026-03-01T10:00:00Z,Martínez,Elena;Rosa,1988-04-12,female,Yes,'
           '100001,555-0142;555-0143,elena@example.org,"12 Elm St;Apt 3",Lansing,MI,48912,'
           'mental-illness,,Martínez,mother,555-0190,FALSE,called twice')
    path = write(tmp_path / "consumers.csv", f"{HEADER}\n{row}\n")
    [record] = read(path)
    assert record.source == f"{path}:2" and record.error is None
    assert record.record == {
        "type": "consumer", "id": "C-1", "updated_at": "2026-03-01T10:00:00Z",
        "name": {"family": "Martínez", "given": ["Elena", "Rosa"]},
        "birth_date": "1988-04-12", "gender": "female", "interpreter_needed": True,
        "identifiers": {"agency_number": "100001"},
        "contacts": [{"kind": "phone", "value": "555-0142", "use": "mobile"},
                     {"kind": "phone", "value": "555-0143", "use": "mobile"},
                     {"kind": "email", "value": "elena@example.org"}],
        "addresses": [{"lines": ["12 Elm St", "Apt 3"], "city": "Lansing", "state": "MI",
                       "postal_code": "48912"}],
        "eligibility": [{"group": "mental-illness"}],
        "guardian": {"name": {"family": "Martínez"}, "relationship": "mother",
                     "contacts": [{"kind": "phone", "value": "555-0190", "use": "home"}]},
        "active": False,
    }
    assert record_problems(record.record) == []


def test_csv_empty_cells_are_absent_and_numbers_are_typed(tmp_path: Path) -> None:
    # An organization has no numbers; the schema's kinds still decide every cell's type.
    path = write(tmp_path / "orgs.csv",
                 "type,id,updated_at,name,kind,identifiers.npi,active,addresses.1.city\n"
                 "organization,ORG-1,2026-01-02T00:00:00Z,Cedar Clinic,primary-care,"
                 "1234567893,,\n"
                 "organization,ORG-2,2026-01-02T00:00:00Z,  Court  ,court,,0,Mason\n")
    first, second = (r.record for r in read(path))
    assert first == {"type": "organization", "id": "ORG-1", "updated_at": "2026-01-02T00:00:00Z",
                     "name": "Cedar Clinic", "kind": "primary-care",
                     "identifiers": {"npi": "1234567893"}}
    assert second["name"] == "Court" and second["active"] is False
    assert second["addresses"] == [{"city": "Mason"}]  # gaps in list indexes close up
    assert (local_files.csv_files._scalar("3", "integer") == 3
            and local_files.csv_files._scalar("1.5", "number") == 1.5)
    with pytest.raises(ValueError, match="whole number"):
        local_files.csv_files._scalar("1.5", "integer")


def test_csv_semicolon_lists_with_escapes(tmp_path: Path) -> None:
    path = write(tmp_path / "staff.csv",
                 "type,id,updated_at,name.family,roles,skills,organization\n"
                 "staff,S-1,2026-01-02T00:00:00Z,Okafor,case-manager; supervisor ;,"
                 "a\\;b;c,ORG-1\n")
    [record] = read(path)
    assert record.record["roles"] == ["case-manager", "supervisor"]
    assert record.record["skills"] == ["a;b", "c"]


def test_csv_from_excel_bom_semicolons_crlf_and_multiline_cells(tmp_path: Path) -> None:
    text = ("type;id;updated_at;name;kind\r\n"
            'organization;ORG-1;2026-01-02T00:00:00Z;"Two\r\nlines";school\r\n'
            "\r\n"
            "organization;ORG-2;2026-01-02T00:00:00Z;Walnut Hill;school\r\n")
    path = write(tmp_path / "orgs.csv", b"\xef\xbb\xbf" + text.encode())
    records = read(path)
    assert [r.source for r in records] == [f"{path}:2", f"{path}:5"]
    assert records[0].record["type"] == "organization"  # no BOM glued to the first header
    assert records[0].record["name"] == "Two\r\nlines"


def test_csv_bad_cells_reject_their_row_only(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv",
                 "type,id,interpreter_needed,name\n"
                 "consumer,C-1,maybe,x\n"
                 "plan,P-1,,\n"
                 ",C-3,,\n"
                 "consumer,C-4,no,\n"
                 "consumer,C-5,no,,extra\n")
    records = read(path)
    assert [r.source for r in records] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]
    assert "'maybe' is not a boolean" in records[0].error
    assert records[0].record == {"type": "consumer", "id": "C-1", "interpreter_needed": "maybe",
                                 "name": "x"}
    assert "only consumer, staff, organization" in records[1].error
    assert "type cell is empty" in records[2].error
    assert records[3].error is None and records[3].record["interpreter_needed"] is False
    assert "5 cells but the header only 4" in records[4].error
    # A column naming an object as a whole is a row problem with a hint.
    assert "name.<field>" in records[0].error


@pytest.mark.parametrize(("header", "message"), [
    ("id,name", "no 'type' column"),
    ("type,id,id", "appears twice"),
    ("type,name,name.family", "both fill name"),
    ("type,contacts.phone,contacts.0.value", "both fill contacts"),
    ("type,contacts.pager", "contacts.<kind>"),
    ("type,addresses.0.city,addresses.city", "a list index and a field name"),
    ("type,name..family", "empty name between dots"),
    ("type,0.x", "starts with a list index"),
])
def test_csv_bad_header_rejects_the_file(tmp_path: Path, header: str, message: str) -> None:
    path = write(tmp_path / "c.csv", f"{header}\nconsumer,x,y\nconsumer,z,w\n")
    [record] = read(path)
    assert record.source == f"{path}:1" and message in record.error


def test_csv_not_utf8_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "type,id,name.family\nconsumer,C-1,Martínez\n"
                 .encode("cp1252"))
    [record] = read(path)
    assert "CSV UTF-8" in record.error


def test_csv_cells_round_trip() -> None:
    header = HEADER.split(",")
    record = {
        "type": "consumer", "id": "C-9", "updated_at": "2026-03-01T10:00:00Z",
        "name": {"family": "Nguyễn", "given": ["Bảo", "a;b"]}, "interpreter_needed": False,
        "contacts": [{"kind": "phone", "value": "555-0100", "use": "mobile"},
                     {"kind": "email", "value": "b@example.org"}],
        "eligibility": [{"group": "developmental-disability"}],
    }
    cells = csv_cells(record, header)
    assert record_from_columns(dict(zip(header, cells, strict=True))) == (record, None)
    with pytest.raises(ValueError, match="no column for language"):
        csv_cells(dict(record, language="vi"), header)
    with pytest.raises(ValueError, match="no column for contacts"):
        csv_cells(dict(record, contacts=[{"kind": "fax", "value": "1"}]), header)


def test_record_from_columns_takes_database_values() -> None:
    from datetime import date

    record, problem = record_from_columns(
        {"id": "C-1", "birth_date": date(1990, 1, 2), "interpreter_needed": 1,
         "name.given": ["A", "B"], "name.family": "X", "identifiers.agency_number": 7,
         "active": None}, "consumer")
    assert problem is None
    assert record == {"type": "consumer", "id": "C-1", "birth_date": "1990-01-02",
                      "interpreter_needed": True, "name": {"given": ["A", "B"], "family": "X"},
                      "identifiers": {"agency_number": "7"}}
    assert record_from_columns({"type": "staff", "id": "S"}, "consumer")[1] is not None
    assert record_from_columns({"id": "x"})[1] == "no type column, and no record type given"
    # Columns may carry any record type, not only the flat ones CSV files are limited to.
    record, problem = record_from_columns(
        {"member.staff": "S-1", "start": "2026-01-01", "chosen_by": "consumer"}, "assignment")
    assert problem is None and record["member"] == {"staff": "S-1"}


def test_column_layout_is_cached_and_ignores_notes() -> None:
    layout = column_layout(("type", "", "# note", "id"))
    assert [c.header for c in layout.columns] == ["type", "id"]
    assert column_layout(("type", "", "# note", "id")) is layout


# -- folders, files and counts ---------------------------------------------------------------------

def test_folders_are_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path / "b.ndjson", '{"n": "b"}\n')
    write(tmp_path / "a" / "z.json", '{"n": "a/z"}')
    write(tmp_path / "a" / "b" / "y.jsonl", '{"n": "a/b/y"}\n')
    write(tmp_path / "c.CSV", "type,id\nstaff,S-1\n")
    write(tmp_path / "README.md", "# not records")
    write(tmp_path / "notes.txt", "ignored")
    write(tmp_path / ".hidden.json", '{"n": "hidden"}')
    write(tmp_path / ".git" / "x.json", '{"n": "hidden folder"}')
    write(tmp_path / "~$c.csv", "lock file")
    records = read(tmp_path)
    assert [r.record.get("n") or r.record.get("id") for r in records] == \
        ["a/b/y", "a/z", "b", "S-1"]
    assert all(r.error is None for r in records)


def test_explicit_paths_keep_their_order_and_are_read_once(tmp_path: Path) -> None:
    b = write(tmp_path / "b.json", '{"n": "b"}')
    a = write(tmp_path / "a.json", '{"n": "a"}')
    assert [r.record["n"] for r in read(b, tmp_path, a, str(b))] == ["b", "a"]


def test_unknown_and_missing_files_named_explicitly_are_errors(tmp_path: Path) -> None:
    readme = write(tmp_path / "README.md", "# hi")
    missing = tmp_path / "missing.json"
    records = read(readme, missing)
    assert records[0] == SourceRecord(str(readme), None, records[0].error)
    assert "not a record file" in records[0].error
    assert records[1].source == str(missing) and "no such file" in records[1].error


def test_unreadable_files_and_folders_are_reported(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated, so the test means the same when run as root.
    secret = write(tmp_path / "secret.ndjson", '{"n": 1}\n')
    locked = tmp_path / "locked"
    write(locked / "x.json", "{}")
    write(tmp_path / "z.json", '{"n": 2}')
    real_open, real_scandir = Path.open, os.scandir

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == secret:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    def scandir(path: Any) -> Any:
        if Path(os.fsdecode(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "open", open_)
    monkeypatch.setattr(os, "scandir", scandir)
    records = read(tmp_path)
    assert [(r.source, r.error) for r in records] == [
        (str(locked), "cannot read folder: Permission denied"),
        (str(secret), "cannot read file: Permission denied"),
        (str(tmp_path / "z.json"), None),
    ]


def test_count_records_estimates_cheaply(tmp_path: Path) -> None:
    write(tmp_path / "a.ndjson", '{"a": 1}\n\n{"a": 2}\n')
    write(tmp_path / "b.csv", "type,id\nstaff,S-1\nstaff,S-2")
    write(tmp_path / "c.json", json.dumps([CONSUMER] * 5))
    write(tmp_path / "d.json", '{"type": "x"}')
    write(tmp_path / "README.md", "x")
    assert count_records([tmp_path]) == 2 + 2 + 5 + 1
    assert count_records([tmp_path / "nope.json"]) == 1  # the error it will yield
