"""XLSX row counting: how long a spreadsheet far over the record limit takes to be refused.

Builds the XLSX with the most rows the upload caps allow (one short number per row, as many as fit
the decompressed-size cap, varied enough to pass the compression-ratio check), then times
`parse_upload` refusing it with the seed's "Maximum 500 records. File has N." and, as a floor, a
raw streaming scan of the same zip member: inflating it and counting its row end tags.

    .venv/bin/python bench/xlsx_count.py [--repeat 5]
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHEET = "xl/worksheets/sheet1.xml"
SHEET_START = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
               b'<row><c t="inlineStr"><is><t>Email</t></is></c></row>')
SHEET_END = b"</sheetData></worksheet>"
ROW_BYTES = len(b"<row><c><v>10</v></c></row>")


def largest_xlsx_within_the_caps(seed: int) -> tuple[bytes, int]:
    """The workbook, and its number of data rows."""
    from openpyxl import Workbook

    from enrichment.parsing import MAX_UNCOMPRESSED_BYTES

    skeleton = io.BytesIO()
    Workbook().save(skeleton)
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        others = [member for member in source.infolist() if member.filename != SHEET]
        budget = MAX_UNCOMPRESSED_BYTES - sum(member.file_size for member in others) - len(SHEET_START + SHEET_END)
        rows = budget // ROW_BYTES
        for member in others:
            target.writestr(member, source.read(member))
        with target.open(SHEET, "w") as sheet:
            sheet.write(SHEET_START)
            for start in range(0, rows, 100_000):
                sheet.write(b"".join(b"<row><c><v>%d</v></c></row>" % rng.randrange(10, 100)
                                     for _ in range(min(100_000, rows - start))))
            sheet.write(SHEET_END)
    return buffer.getvalue(), rows


def raw_scan_seconds(content: bytes) -> float:
    started = time.perf_counter()
    with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open(SHEET) as member:
        while chunk := member.read(1024 * 1024):
            chunk.count(b"</row>")
    return time.perf_counter() - started


def counting_seconds(content: bytes, expected: str) -> float:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from ecore.exceptions import ValidationFailed
    from enrichment.parsing import parse_upload

    upload = SimpleUploadedFile("contacts.xlsx", content)
    started = time.perf_counter()
    try:
        parse_upload(upload)
    except ValidationFailed as refusal:
        elapsed = time.perf_counter() - started
        assert refusal.body == {"error": expected}, refusal.body
        return elapsed
    raise AssertionError("the workbook was not refused")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecore.settings")
    import django

    django.setup()
    from django.conf import settings

    from enrichment.parsing import MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES

    content, rows = largest_xlsx_within_the_caps(args.seed)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
        sheet = archive.getinfo(SHEET)
    ratio = sheet.file_size / sheet.compress_size
    assert len(content) <= settings.ENRICHMENT_MAX_UPLOAD_BYTES and unpacked <= MAX_UNCOMPRESSED_BYTES
    assert ratio <= MAX_COMPRESSION_RATIO
    print(f"workbook: {len(content) / 1e6:.1f} MB, {unpacked / 1e6:.1f} MB unpacked, {rows:,} one-cell rows, "
          f"sheet compressed {ratio:.0f}:1 (caps: {settings.ENRICHMENT_MAX_UPLOAD_BYTES / 1e6:.1f} MB, "
          f"{MAX_UNCOMPRESSED_BYTES / 1e6:.1f} MB unpacked, {MAX_COMPRESSION_RATIO}:1)")

    expected = f"Maximum {settings.ENRICHMENT_HARD_LIMIT} records. File has {rows}."
    counting = [counting_seconds(content, expected) for _ in range(args.repeat)]
    raw = [raw_scan_seconds(content) for _ in range(args.repeat)]
    print(f"refused with {expected!r}")
    print(f"parse_upload: median {statistics.median(counting):.2f} s, best {min(counting):.2f} s")
    print(f"raw scan of the sheet (inflate, count </row>): median {statistics.median(raw):.2f} s, "
          f"best {min(raw):.2f} s")


if __name__ == "__main__":
    main()
