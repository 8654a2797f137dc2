"""Evidence files checked by what they are, all the way through — not by their first bytes,
their name or the type the browser declared.

    check_upload(data, declared_type, filename) -> Verdict
    safe_display_name(name, fallback="附件") -> str

The content decides the type (PDF, PNG, JPEG, Word .docx, Excel .xlsx); the declared type
and the file name's extension must then agree with it. Each format is parsed far enough to
refuse polyglots and active content:

* PDF   header ``%PDF-1.0…1.7|2.0`` at offset 0, ``startxref … %%EOF`` at the end (trailing
        whitespace allowed), at least one object; no JavaScript, launch actions, embedded
        files or rich media (names are read with their ``#xx`` escapes decoded, and inside
        compressed object streams too).
* PNG   every chunk from the signature to IEND: lengths, CRCs, IHDR first and sane, PLTE
        where needed, IDAT present and contiguous, no unknown critical chunk, nothing after
        IEND.
* JPEG  the marker segments walked from SOI through SOF and SOS (entropy-coded data
        skipped) to EOI. After EOI only further complete JPEG images may follow (the
        multi-picture / gain-map images phones append); any other trailer is refused.
* docx/xlsx  a well-formed zip starting at offset 0 with nothing after its end record; no
        encrypted members, no absolute / ``..`` / backslash / duplicate member names, only
        stored or deflated members, bounded total and per-member ratio (zip bombs), every
        member's CRC checked; ``[Content_Types].xml`` (parsed only after refusing any
        DOCTYPE/ENTITY) declaring exactly one main part of the right type, present in the
        zip and named by ``_rels/.rels``; no macros (``vbaProject.bin``, macroEnabled or VBA
        content types), ActiveX, HTML/MHTML/script members, scripted SVG, remote templates,
        frames or OLE objects (Follina-style) or ``javascript:``/``mhtml:`` targets.
* Every file: no HTML/script markup anywhere in its bytes (``<html``, ``<script``,
  ``<body``, ``<iframe``, ``<svg``, ``javascript:``, ``<?php`` …).

Nothing is executed, rendered or fetched; standard library only.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass

__all__ = [
    "ACCEPTED_TYPES",
    "DOCX",
    "EXTENSIONS",
    "JPEG",
    "LABEL_ZH",
    "PDF",
    "PNG",
    "TYPE_ZH",
    "XLSX",
    "Verdict",
    "check_upload",
    "safe_display_name",
]

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPTED_TYPES = (PDF, PNG, JPEG, DOCX, XLSX)

# The extensions a file of each type may carry (lower case, compared case-insensitively).
EXTENSIONS = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
}
LABEL_ZH = {PDF: "PDF 文件", PNG: "PNG 图片", JPEG: "JPEG 图片", DOCX: "Word（.docx）文件", XLSX: "Excel（.xlsx）文件"}
TYPE_ZH = "PDF、PNG、JPEG、Word（.docx）、Excel（.xlsx）"

# Declared types that name an accepted type by another spelling.
TYPE_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG, "application/x-pdf": PDF}
# Declared types that say nothing (browsers send these when they do not know the extension).
UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
# … and, for docx/xlsx only, the generic zip types some systems send.
ZIP_GENERIC = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip"})

# zip-bomb and work bounds
MAX_UNZIPPED = 50 * 1024 * 1024  # all members together, uncompressed
MAX_RATIO = 100  # uncompressed / compressed, per member …
RATIO_FLOOR = 1024 * 1024  # … for members larger than this (tiny parts compress wildly)
MAX_MEMBERS = 10_000
MAX_XML_PART = 4 * 1024 * 1024  # [Content_Types].xml, .rels, .svg read into memory
MAX_PDF_INFLATE = 64 * 1024 * 1024  # PDF object streams inflated, all together
MAX_JPEG_IMAGES = 16  # a primary image plus appended (MPF / gain-map) images


@dataclass(frozen=True)
class Verdict:
    """What ``check_upload`` decided.

    content_type  the accepted type (one of ACCEPTED_TYPES), or None when refused
    code          "accepted", or a short refusal code (see ``CODES``)
    reason_zh     for the bureau: a full Chinese sentence ("" when accepted)
    reason_log    for the log, English, always set (what was found, where)
    detected      the type the content was recognised as, even when refused (else None)
    """

    content_type: str | None
    code: str
    reason_zh: str
    reason_log: str
    detected: str | None = None

    @property
    def ok(self) -> bool:
        return self.content_type is not None


CODES = {
    "accepted": "the file is accepted as content_type",
    "empty": "no bytes",
    "unsupported": "not one of the accepted types (or not recognisable as one)",
    "type_mismatch": "the content is one accepted type, the declared type another",
    "extension_mismatch": "the name's extension is missing or does not fit the content",
    "markup": "HTML / script markup inside the file (polyglot)",
    "executable": "a program (PE, ELF, Mach-O, shebang script)",
    "legacy_office": "an OLE2 container: .doc/.xls, or an encrypted Office file",
    "corrupt": "the structure of the recognised type is broken, truncated or padded",
    "pdf_active": "PDF JavaScript, launch action, embedded file or rich media",
    "encrypted": "encrypted content that cannot be inspected",
    "zip_bomb": "too large once uncompressed, or an abnormal compression ratio",
    "zip_path": "an absolute, parent-relative, duplicate or otherwise unsafe member name",
    "xml_dtd": "a DOCTYPE / ENTITY declaration in a package XML part",
    "macro": "macros (VBA) or ActiveX controls",
    "active_member": "an HTML/MHTML/script/program member or scripted SVG inside the package",
    "external": "remote templates, frames, OLE objects or script targets in relationships",
    "internal": "the checker itself failed (a bug): refused to be safe",
}


class _Refuse(Exception):
    def __init__(self, code: str, zh: str, log: str, detected: str | None = None) -> None:
        super().__init__(log)
        self.code, self.zh, self.log, self.detected = code, zh, log, detected


def _corrupt(kind: str, log: str) -> _Refuse:
    return _Refuse("corrupt", f"{LABEL_ZH[kind]}已损坏、不完整或含有多余内容，请重新导出后上传。", log, kind)


ZH_MARKUP = "文件中含有网页或脚本内容，不予接收。"
ZH_UNSUPPORTED = f"文件类型不允许（仅限 {TYPE_ZH}）。"

# --------------------------------------------------------------------------- markup

# HTML/script markers, anywhere in the bytes, case-insensitively. Tag names must end like a
# tag (space, "/" or ">"), which keeps random compressed bytes from matching.
_MARKUP = re.compile(
    rb"<(?:html|head|body|script|iframe|frame|frameset|svg|img|object|embed|meta|link|style|form|base)[\s/>]"
    rb"|<!doctype\s+html|<\?php|javascript:|vbscript:",
    re.IGNORECASE,
)


def _scan_markup(data: bytes) -> None:
    m = _MARKUP.search(data)
    if m:
        raise _Refuse("markup", ZH_MARKUP, f"HTML/script marker {m.group(0)[:20]!r} at offset {m.start()}")


# --------------------------------------------------------------------------- PDF

_PDF_HEADER = re.compile(rb"%PDF-(?:1\.[0-7]|2\.0)(?![0-9A-Za-z.])")
_PDF_TAIL = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF\Z")
_PDF_OBJ = re.compile(rb"(?<![0-9])\d{1,10}\s+\d{1,5}\s+obj\b")
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]{1,127})")
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<![A-Za-z0-9])stream(?:\r\n|\n|\r)")
# Action / content keys that make a PDF run or carry something: refused wherever they are.
_PDF_ACTIVE = frozenset({b"JavaScript", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia"})
# /JS (the script of an action) is short enough to occur by chance in binary stream data:
# looked for outside stream bodies and inside inflated object streams.
_PDF_ACTIVE_SHORT = frozenset({b"JS"})
_WS = b" \t\r\n\x0c\x00"


def _pdf_names(chunk: bytes):
    for m in _PDF_NAME.finditer(chunk):
        raw = m.group(1)
        yield _PDF_HEX.sub(lambda h: bytes([int(h.group(1), 16)]), raw) if b"#" in raw else raw


def _pdf_active(chunk: bytes, keys: frozenset[bytes], where: str) -> None:
    for name in _pdf_names(chunk):
        if name in keys:
            raise _Refuse(
                "pdf_active",
                "PDF 文件中含有脚本、附件或自动执行的动作，不予接收；请重新导出或打印为普通 PDF 后上传。",
                f"PDF name /{name.decode('latin-1')} {where}",
                PDF,
            )


def _check_pdf(data: bytes) -> str:
    if not _PDF_HEADER.match(data):
        raise _corrupt(PDF, "PDF header is not %PDF-1.0…1.7 or %PDF-2.0 at offset 0")
    body = data.rstrip(_WS)
    tail = _PDF_TAIL.search(body[-1024:])
    if not tail:
        raise _corrupt(PDF, "PDF does not end with 'startxref <offset> %%EOF' (plus whitespace)")
    if int(tail.group(1)) >= len(data):
        raise _corrupt(PDF, "PDF startxref points past the end of the file")
    if not _PDF_OBJ.search(data):
        raise _corrupt(PDF, "PDF holds no object")
    _pdf_active(data, _PDF_ACTIVE, "in the file")

    # Split into stream bodies and the rest; /JS outside streams, object streams inflated.
    outside: list[bytes] = []
    budget = MAX_PDF_INFLATE
    encrypted = b"/Encrypt" in data
    pos = 0
    while True:
        m = _PDF_STREAM.search(data, pos)
        if not m:
            outside.append(data[pos:])
            break
        outside.append(data[pos : m.start()])
        end = data.find(b"endstream", m.end())
        if end < 0:
            raise _corrupt(PDF, f"PDF stream at offset {m.start()} has no endstream")
        obj = data.rfind(b"obj", pos, m.start())
        head = data[obj if obj >= 0 else pos : m.start()]
        names = list(_pdf_names(head))
        if b"ObjStm" in names:
            filters = [n for n in names if n.endswith(b"Decode")]
            raw = data[m.end() : end]
            if not filters and not encrypted:
                plain = raw
            elif filters == [b"FlateDecode"]:
                inflater = zlib.decompressobj()
                try:
                    plain = inflater.decompress(raw, budget + 1)
                except zlib.error:
                    plain = None
                if plain is None or not (inflater.eof or inflater.unconsumed_tail or len(plain) > budget):
                    if encrypted:
                        raise _Refuse(
                            "encrypted",
                            "PDF 文件已加密，无法检查其内容；请取消加密（密码或权限保护）后重新上传。",
                            f"PDF object stream at offset {m.start()} cannot be inflated (encrypted PDF)",
                            PDF,
                        )
                    raise _corrupt(PDF, f"PDF object stream at offset {m.start()} does not inflate")
                budget -= len(plain)
                if budget < 0 or inflater.unconsumed_tail:
                    raise _Refuse(
                        "zip_bomb", "PDF 文件解压后过大，不予接收。", "PDF object streams inflate beyond the bound", PDF
                    )
            else:
                raise _Refuse(
                    "encrypted" if encrypted else "corrupt",
                    "PDF 文件的结构无法检查（压缩方式不常见或已加密），请取消加密或重新导出后上传。",
                    f"PDF object stream at offset {m.start()} uses filters {filters!r}",
                    PDF,
                )
            _pdf_active(plain or b"", _PDF_ACTIVE | _PDF_ACTIVE_SHORT, f"in the object stream at offset {m.start()}")
        pos = end + len(b"endstream")
    _pdf_active(b"\n".join(outside), _PDF_ACTIVE_SHORT, "outside stream bodies")
    return PDF


# --------------------------------------------------------------------------- PNG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})


def _check_png(data: bytes) -> str:
    pos, n = len(PNG_SIGNATURE), len(data)
    seen: list[bytes] = []
    idat_runs = 0
    while True:
        if pos + 12 > n:
            raise _corrupt(PNG, f"PNG truncated at offset {pos} (no IEND)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if length > 0x7FFFFFFF or pos + 12 + length > n:
            raise _corrupt(PNG, f"PNG chunk at offset {pos} claims {length} bytes, past the end")
        if not ctype.isalpha() or not ctype.isascii():
            raise _corrupt(PNG, f"PNG chunk type {ctype!r} at offset {pos} is not four letters")
        chunk = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(ctype + chunk) & 0xFFFFFFFF != crc:
            raise _corrupt(PNG, f"PNG chunk {ctype!r} at offset {pos}: bad CRC")
        name = ctype.decode("ascii")
        if not seen:
            if ctype != b"IHDR" or length != 13:
                raise _corrupt(PNG, f"PNG first chunk is {name} ({length} bytes), not a 13-byte IHDR")
            width, height, depth, colour, compression, filt, interlace = struct.unpack(">IIBBBBB", chunk)
            if (
                not (0 < width <= 0x7FFFFFFF and 0 < height <= 0x7FFFFFFF)
                or depth not in _PNG_DEPTHS.get(colour, ())
                or compression
                or filt
                or interlace > 1
            ):
                raise _corrupt(
                    PNG,
                    f"PNG IHDR is not sane: {width}x{height} depth {depth} colour {colour} "
                    f"compression {compression} filter {filt} interlace {interlace}",
                )
        elif ctype == b"IHDR":
            raise _corrupt(PNG, f"PNG has a second IHDR at offset {pos}")
        elif ctype[0:1].isupper() and ctype not in _PNG_CRITICAL:
            raise _corrupt(PNG, f"PNG has an unknown critical chunk {name} at offset {pos}")
        if ctype == b"IDAT":
            if not seen or seen[-1] != b"IDAT":
                idat_runs += 1
        elif ctype == b"PLTE" and b"IDAT" in seen:
            raise _corrupt(PNG, "PNG PLTE after IDAT")
        seen.append(ctype)
        pos += 12 + length
        if ctype == b"IEND":
            break
    if length != 0:
        raise _corrupt(PNG, "PNG IEND is not empty")
    if idat_runs != 1:
        raise _corrupt(PNG, f"PNG has {idat_runs} runs of IDAT chunks (exactly one contiguous run expected)")
    if colour == 3 and b"PLTE" not in seen:
        raise _corrupt(PNG, "PNG palette image without PLTE")
    if pos != n:
        raise _corrupt(PNG, f"PNG has {n - pos} bytes after IEND")
    return PNG


# --------------------------------------------------------------------------- JPEG

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_image(data: bytes, pos: int) -> int:
    """Walk one JPEG image starting at ``pos`` (its SOI); the offset just after its EOI."""
    n = len(data)
    if data[pos : pos + 3] != b"\xff\xd8\xff":
        raise _corrupt(JPEG, f"JPEG image at offset {pos} does not start with FF D8 FF")
    pos += 2
    seen_sof = seen_sos = False
    while True:
        if pos >= n:
            raise _corrupt(JPEG, "JPEG truncated: no EOI")
        if data[pos] != 0xFF:
            raise _corrupt(JPEG, f"JPEG: byte {data[pos]:#04x} at offset {pos} where a marker belongs")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise _corrupt(JPEG, "JPEG truncated inside a marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            if not seen_sos:
                raise _corrupt(JPEG, "JPEG EOI before any scan")
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker in (0x00, 0xD8):
            raise _corrupt(JPEG, f"JPEG: marker FF {marker:02X} at offset {pos - 2} is not allowed here")
        if pos + 2 > n:
            raise _corrupt(JPEG, "JPEG truncated inside a segment length")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise _corrupt(JPEG, f"JPEG segment FF {marker:02X} at offset {pos - 2}: bad length {length}")
        seg = data[pos + 2 : pos + length]
        if marker in _JPEG_SOF:
            if len(seg) < 6 or seg[5] == 0 or length != 8 + 3 * seg[5] or struct.unpack(">H", seg[3:5])[0] == 0:
                raise _corrupt(JPEG, f"JPEG frame header at offset {pos - 2} is not sane")
            seen_sof = True
        pos += length
        if marker == 0xDA:
            if not seen_sof:
                raise _corrupt(JPEG, "JPEG scan before any frame header")
            if not seg or seg[0] == 0 or length != 6 + 2 * seg[0]:
                raise _corrupt(JPEG, f"JPEG scan header at offset {pos - length - 2} is not sane")
            seen_sos = True
            # entropy-coded data: up to the next marker that is neither a stuffed 00 nor RSTn
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    raise _corrupt(JPEG, "JPEG truncated inside entropy-coded data")
                nxt = data[pos + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    pos += 2
                elif nxt == 0xFF:
                    pos += 1
                else:
                    break


def _check_jpeg(data: bytes) -> str:
    pos, images = 0, 0
    while pos < len(data):
        if images and data[pos : pos + 3] != b"\xff\xd8\xff":
            raise _corrupt(JPEG, f"JPEG has {len(data) - pos} bytes after EOI that are not another JPEG image")
        if images >= MAX_JPEG_IMAGES:
            raise _corrupt(JPEG, f"JPEG holds more than {MAX_JPEG_IMAGES} images")
        pos = _jpeg_image(data, pos)
        images += 1
    return JPEG


# --------------------------------------------------------------------------- docx / xlsx

_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_OTHER_MAINS = {  # recognised, but not accepted
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": "a Word template (.dotx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "an Excel template (.xltx)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "a PowerPoint file (.pptx)",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": "a PowerPoint show (.ppsx)",
}
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "message/rfc822",
        "multipart/related",
        "application/x-mimearchive",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "text/vbscript",
        "application/hta",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-sh",
        "application/x-php",
        "text/x-php",
    }
)
_ACTIVE_EXTENSIONS = frozenset(
    {
        ".htm",
        ".html",
        ".xhtml",
        ".xht",
        ".mht",
        ".mhtml",
        ".hta",
        ".js",
        ".mjs",
        ".vbs",
        ".vbe",
        ".wsf",
        ".wsh",
        ".ps1",
        ".bat",
        ".cmd",
        ".com",
        ".exe",
        ".dll",
        ".scr",
        ".msi",
        ".jar",
        ".php",
        ".sh",
        ".lnk",
    }
)
_MACRO_EXTENSIONS = (".docm", ".dotm", ".xlsm", ".xltm", ".xlsb", ".xlam", ".pptm", ".potm", ".ppsm", ".ppam")
_REMOTE_RELATIONSHIPS = ("/attachedtemplate", "/oleobject", "/frame", "/subdocument", "/afchunk", "/package")
_BAD_SCHEMES = re.compile(r"^\s*(?:javascript|vbscript|mhtml|data|ms-[a-z0-9-]+|search-ms|jar):", re.IGNORECASE)
_SVG_ACTIVE = re.compile(
    rb"<script[\s/>]|javascript:|vbscript:|<foreignobject[\s/>]|<iframe[\s/>]|<!entity|<!doctype|\son[a-z]+\s*=|data:text/html",
    re.IGNORECASE,
)
_XML_DECL = re.compile(r"\A\s*<\?xml[^>]*\?>")
_XML_DANGER = re.compile(r"<!(?!--|\[CDATA\[)", re.IGNORECASE)

ZH_NOT_OOXML = "文件不是有效的 Word（.docx）或 Excel（.xlsx）文件，请用 Office 或 WPS 另存后上传。"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _safe_xml(raw: bytes, member: str) -> ET.Element:
    """Parse a package XML part; a DOCTYPE/ENTITY (any ``<!`` but comments/CDATA) is refused first."""
    try:
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8")
        elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {member!r} is not UTF-8/UTF-16 XML") from None
    if _XML_DANGER.search(text):
        raise _Refuse(
            "xml_dtd",
            "文件内部含有不允许的 XML 声明（DOCTYPE/ENTITY），不予接收。",
            f"zip member {member!r} holds a DOCTYPE/ENTITY/markup declaration",
        )
    try:
        return ET.fromstring(_XML_DECL.sub("", text, count=1))
    except ET.ParseError as exc:
        raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {member!r} is not well-formed XML: {exc}") from None


def _part(name: str) -> str:
    """A part name / relationship target as a zip member name, for case-insensitive lookup."""
    return urllib.parse.unquote(name.strip()).lstrip("/").lower()


def _zip_end_ok(data: bytes) -> bool:
    """The end-of-central-directory record (with its comment) ends the file exactly."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if at < 0 or at + 22 > len(data):
        return False
    (comment,) = struct.unpack("<H", data[at + 20 : at + 22])
    return at + 22 + comment == len(data)


def _check_ooxml(data: bytes) -> str:
    if not _zip_end_ok(data):
        raise _Refuse("corrupt", ZH_NOT_OOXML, "zip: the end record does not end the file (truncated or trailing data)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ValueError,
        OSError,
        EOFError,
        struct.error,
        NotImplementedError,
        UnicodeDecodeError,
        IndexError,
        KeyError,
    ) as exc:
        raise _Refuse("corrupt", ZH_NOT_OOXML, f"not a readable zip: {exc!r}") from None
    with zf:
        infos = zf.infolist()
        if not infos or len(infos) > MAX_MEMBERS:
            raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip with {len(infos)} members")
        if min(i.header_offset for i in infos) != 0 or len({i.header_offset for i in infos}) != len(infos):
            raise _Refuse("corrupt", ZH_NOT_OOXML, "zip members do not start at offset 0 or overlap (prepended data)")
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            parts = name.split("/")
            if (
                not name
                or name.startswith("/")
                or "\\" in name
                or "\x00" in name
                or ":" in parts[0]
                or any(p in ("", ".", "..") for p in parts[:-1])
                or parts[-1] in (".", "..")
            ):
                raise _Refuse("zip_path", "文件内部包含异常的路径，不予接收。", f"zip member name {name!r} is unsafe")
            if name.lower() in members:
                raise _Refuse("zip_path", "文件内部包含异常的路径，不予接收。", f"zip member {name!r} appears twice")
            members[name.lower()] = info
            if info.flag_bits & 0x1:
                raise _Refuse(
                    "encrypted",
                    "文件已加密或设有密码，无法检查其内容；请取消密码后重新上传。",
                    f"zip member {name!r} is encrypted",
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {name!r} uses compression method {info.compress_type}")
            total += info.file_size
            if total > MAX_UNZIPPED or (info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
                raise _Refuse(
                    "zip_bomb",
                    "文件解压后过大或压缩比异常，不予接收。",
                    f"zip member {name!r}: {info.file_size} bytes from {info.compress_size}; "
                    f"{total} bytes uncompressed so far (bounds {MAX_UNZIPPED}, ratio {MAX_RATIO})",
                )

        def read(info: zipfile.ZipInfo, limit: int | None = None) -> bytes:
            if limit is not None and info.file_size > limit:
                raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {info.filename!r} is too large to be a package part")
            try:
                with zf.open(info) as fh:
                    out = fh.read(info.file_size + 1)
            except (
                zipfile.BadZipFile,
                zlib.error,
                ValueError,
                OSError,
                EOFError,
                struct.error,
                NotImplementedError,
                UnicodeDecodeError,
            ) as exc:
                raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {info.filename!r} does not read: {exc!r}") from None
            if len(out) != info.file_size:
                raise _Refuse("corrupt", ZH_NOT_OOXML, f"zip member {info.filename!r} has the wrong size")
            return out

        if "[content_types].xml" not in members:
            raise _Refuse("unsupported", ZH_NOT_OOXML, "zip without [Content_Types].xml: not an Office Open XML package")
        types = _safe_xml(read(members["[content_types].xml"], MAX_XML_PART), "[Content_Types].xml")
        if _local(types.tag) != "Types":
            raise _Refuse("corrupt", ZH_NOT_OOXML, f"[Content_Types].xml root is <{types.tag}>, not <Types>")
        defaults: dict[str, str] = {}
        overrides: dict[str, str] = {}
        for el in types:
            tag, ct = _local(el.tag), (el.get("ContentType") or "").strip().lower()
            if tag == "Default":
                defaults["." + (el.get("Extension") or "").lower()] = ct
            elif tag == "Override":
                overrides[_part(el.get("PartName") or "")] = ct
        all_types = set(defaults.values()) | set(overrides.values())

        # macros and ActiveX: by member name or by any declared content type
        for key, info in members.items():
            base = key.rsplit("/", 1)[-1]
            if (
                base in ("vbaproject.bin", "vbadata.xml")
                or base.startswith("activex")
                or "/activex/" in f"/{key}"
                or base.endswith(_MACRO_EXTENSIONS)
            ):
                raise _Refuse(
                    "macro",
                    "文件中含有宏或控件，不予接收；请另存为不含宏的 .docx 或 .xlsx 后上传。",
                    f"zip member {info.filename!r} (VBA / ActiveX)",
                )
        for ct in all_types:
            if "macroenabled" in ct or "vba" in ct or "activex" in ct:
                raise _Refuse(
                    "macro",
                    "文件中含有宏或控件，不予接收；请另存为不含宏的 .docx 或 .xlsx 后上传。",
                    f"content type {ct!r} (macros / ActiveX)",
                )

        # the one main part
        mains = [(part, _MAIN_TYPES[ct]) for part, ct in overrides.items() if ct in _MAIN_TYPES]
        if not mains:
            other = next((what for ct, what in _OTHER_MAINS.items() if ct in all_types), None)
            if other:
                raise _Refuse("unsupported", ZH_UNSUPPORTED, f"the package is {other}")
            raise _Refuse("unsupported", ZH_NOT_OOXML, "[Content_Types].xml declares no docx/xlsx main part")
        if len(mains) > 1:
            raise _Refuse("corrupt", ZH_NOT_OOXML, f"[Content_Types].xml declares several main parts: {mains!r}")
        main, kind = mains[0]
        if main not in members:
            raise _Refuse("corrupt", ZH_NOT_OOXML, f"main part {main!r} is declared but missing", kind)
        if "_rels/.rels" not in members:
            raise _Refuse("corrupt", ZH_NOT_OOXML, "zip without _rels/.rels", kind)

        # every member: readable (CRC), no HTML/script/programs, SVG without scripts
        for key, info in members.items():
            if key.endswith("/"):
                continue
            ext = "." + key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else ""
            ct = overrides.get(key) or defaults.get(ext, "")
            if ct in _ACTIVE_TYPES or ext in _ACTIVE_EXTENSIONS:
                raise _Refuse(
                    "active_member", ZH_MARKUP, f"zip member {info.filename!r} ({ct or ext}) is HTML/script/program", kind
                )
            if ct == "image/svg+xml" or ext in (".svg", ".svgz"):
                raw = read(info, MAX_XML_PART)
                if ext == ".svgz" or _SVG_ACTIVE.search(raw):
                    raise _Refuse("active_member", ZH_MARKUP, f"zip member {info.filename!r} is an SVG with script", kind)
            elif not key.endswith(".rels"):
                read(info)

        # relationships: the main part reached from the root; nothing remote that loads by itself
        office_document = False
        for key, info in members.items():
            if not key.endswith(".rels"):
                continue
            rels = _safe_xml(read(info, MAX_XML_PART), info.filename)
            for rel in rels:
                if _local(rel.tag) != "Relationship":
                    continue
                rtype, target = (rel.get("Type") or "").strip().lower(), rel.get("Target") or ""
                external = (rel.get("TargetMode") or "").strip().lower() == "external"
                if _BAD_SCHEMES.match(target) or (external and rtype.endswith(_REMOTE_RELATIONSHIPS)):
                    raise _Refuse(
                        "external",
                        "文件中含有外部模板、外部对象或脚本链接，不予接收。",
                        f"relationship in {info.filename!r}: {rtype.rsplit('/', 1)[-1]} -> {target[:80]!r}"
                        f"{' (external)' if external else ''}",
                        kind,
                    )
                if key == "_rels/.rels" and rtype.endswith("/officedocument") and not external and _part(target) == main:
                    office_document = True
        if not office_document:
            raise _Refuse("corrupt", ZH_NOT_OOXML, f"_rels/.rels does not point to the main part {main!r}", kind)
    return kind


# --------------------------------------------------------------------------- the verdict

_EXECUTABLE = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _inspect(data: bytes) -> str:
    """The accepted type this content is; otherwise _Refuse."""
    _scan_markup(data)
    if data.startswith(b"%PDF-"):
        return _check_pdf(data)
    if data.startswith(PNG_SIGNATURE):
        return _check_png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _check_jpeg(data)
    if data.startswith(b"PK\x03\x04"):
        return _check_ooxml(data)
    if data.startswith(_EXECUTABLE):
        raise _Refuse("executable", "文件是可执行程序或脚本，不予接收。", f"executable signature {data[:4]!r}")
    if data.startswith(_OLE2):
        raise _Refuse(
            "legacy_office",
            "文件是旧版 Office 格式（.doc/.xls）或已加密的 Office 文件；请另存为 .docx 或 .xlsx 并取消密码后上传。",
            "OLE2 compound file (legacy Office or encrypted OOXML)",
        )
    if 0 < data.find(b"%PDF-", 0, 1024):
        raise _Refuse(
            "corrupt",
            "PDF 文件开头有多余内容，不予接收；请重新导出后上传。",
            f"%PDF- at offset {data.find(b'%PDF-', 0, 1024)}, not 0",
            PDF,
        )
    raise _Refuse("unsupported", ZH_UNSUPPORTED, f"unrecognised content starting {data[:8]!r}")


def _declared(declared_type: str | None) -> str:
    value = (declared_type or "").split(";", 1)[0].strip().lower()
    return TYPE_ALIASES.get(value, value)


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""


def check_upload(data: bytes, declared_type: str, filename: str) -> Verdict:
    """Decide one evidence file: accepted (``Verdict.content_type``) or refused (reasons).

    ``data`` the whole file; ``declared_type`` the part's Content-Type as sent (parameters
    and case ignored; empty or ``application/octet-stream`` claims nothing); ``filename``
    as sent (only its last part counts; see ``safe_display_name``). Never raises.
    """
    try:
        data = bytes(data or b"")
        declared = _declared(declared_type if isinstance(declared_type, str) else "")
        ext = _extension(safe_display_name(filename if isinstance(filename, str) else "", fallback=""))
        if not data:
            return Verdict(None, "empty", "文件为空，请重新选择文件。", "empty file")
        try:
            kind = _inspect(data)
        except _Refuse as r:
            zh, code = r.zh, r.code
            if r.code == "unsupported" and declared in ACCEPTED_TYPES:
                code = "type_mismatch"
                zh = f"文件内容与类型不符：声明为{LABEL_ZH[declared]}，但内容不是有效的{LABEL_ZH[declared]}。"
            found = f" ({r.code} content)" if code != r.code else ""
            return Verdict(
                None,
                code,
                zh,
                f"refused ({code}){found}: {r.log}; declared {declared or '-'!r}, extension {ext or '-'!r}",
                r.detected,
            )
        label = LABEL_ZH[kind]
        claimed_ok = declared == kind or declared in UNDECLARED or (kind in (DOCX, XLSX) and declared in ZIP_GENERIC)
        if not claimed_ok:
            said = f"上传时声明为{LABEL_ZH[declared]}" if declared in LABEL_ZH else "上传时声明的是其他类型"
            return Verdict(
                None,
                "type_mismatch",
                f"文件内容与类型不符：文件内容是{label}，但{said}。请确认选择了正确的文件。",
                f"refused (type_mismatch): content is {kind}, declared {declared!r}",
                kind,
            )
        if ext not in EXTENSIONS[kind]:
            wanted = " 或 ".join(EXTENSIONS[kind][:2])
            if not ext:
                zh = f"文件名缺少扩展名：文件内容是{label}，文件名应以 {wanted} 结尾，请改正文件名后重新上传。"
            else:
                zh = f"文件内容与扩展名不符：文件内容是{label}，但文件名以 {ext} 结尾（应为 {wanted}），请改正文件名后重新上传。"
            return Verdict(
                None, "extension_mismatch", zh, f"refused (extension_mismatch): content is {kind}, extension {ext or '-'!r}", kind
            )
        return Verdict(kind, "accepted", "", f"accepted as {kind} ({len(data)} bytes; declared {declared or '-'!r})", kind)
    except Exception as exc:  # noqa: BLE001 — a checker bug must refuse, never crash the request
        return Verdict(
            None, "internal", "文件无法检查，不予接收；请重新导出后上传。", f"refused (internal): the checker failed: {exc!r}"
        )


# --------------------------------------------------------------------------- display names

_SLASH_LOOKALIKES = str.maketrans({"\uff0f": "_", "\uff3c": "_", "\u2215": "_", "\u2044": "_", "\u29f8": "_", "\u29f9": "_"})
_DRIVE = re.compile(r"\A[A-Za-z]:")
MAX_NAME = 120
MAX_EXTENSION = 16


def _keep(ch: str) -> bool:
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return False
    cp = ord(ch)
    return not (0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE)


def safe_display_name(name: str, fallback: str = "附件") -> str:
    """A file name fit to store and show: the last path part (``/`` or ``\\``), NFC, without
    control/format characters (bidi overrides and isolates, LRM/RLM, zero-width characters,
    BOM, surrogates, noncharacters), whitespace collapsed to single spaces, no leading dots,
    at most 120 characters with the extension kept; ``fallback`` when nothing is left.
    Slash look-alikes (／ ＼ ∕ ⁄) become "_"."""
    text = name if isinstance(name, str) else ""
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or _keep(ch))
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_SLASH_LOOKALIKES)
    parts = [p.strip() for p in re.split(r"[/\\]", text)]
    text = next((p for p in reversed(parts) if p), "")
    text = re.sub(r" +", " ", text).strip()
    previous = None
    while text != previous:  # "C:.C:x" → "x"
        previous, text = text, _DRIVE.sub("", text).lstrip(". ")
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        ext = dot + ext
        if stem and 1 < len(ext) <= MAX_EXTENSION and " " not in ext:
            text = stem[: MAX_NAME - len(ext)].rstrip(" .") + ext
        else:
            text = text[:MAX_NAME].rstrip()
    return text or fallback
