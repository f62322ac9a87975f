"""What an asset says about itself: its embedded metadata, its AI-generated mark, and user ids.

Identifiability: a generated image or edited clip must say so in the file itself, so the mark
travels with the bytes wherever the catalog asset is copied. Images, preferred: the IPTC "digital source type" the
industry uses for AI output (``trainedAlgorithmicMedia``, the value C2PA and the major
platforms read) in an XMP packet. ``ai_marked_jpeg`` encodes a generated image with the packet
(Pillow writes it); ``mark_ai_generated`` marks an image that already exists without touching
its pixels (a JPEG APP1 segment spliced in: re-encoding would lose quality; a PNG re-saved with
an iTXt chunk, which is lossless). A plain "AI-generated" statement in a text field (EXIF
ImageDescription, PNG text, an MP4's comment tag: ``ai_clip_tags``) is accepted too. Repurposed frames and
covers must carry neither: they are real footage.

Privacy: a published asset must not name a user, neither in its key/file name nor in any
embedded metadata (EXIF, XMP, PNG text, JPEG comment, MP4 tags). User ids are matched as
whole tokens (``user-0007`` is not found in ``user-00071``), and only in text values.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Iterable

import numpy as np
from PIL import Image, PngImagePlugin

from generec_core.fidelity.checks import CheckResult
from generec_core.video.decode import open_container

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_SOURCE_TYPE = IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"
# IPTC codes that declare machine-made content (a composite that includes AI output counts too).
AI_SOURCE_CODES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                             "algorithmicMedia", "compositeSynthetic"})
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = "XML:com.adobe.xmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOURCE_TYPE_RE = re.compile(r"DigitalSourceType\s*(?:=\s*[\"']|>)\s*([^\"'<\s]+)")
_AI_TEXT_RE = re.compile(r"\bAI[- ]generated\b", re.IGNORECASE)
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.@+-]+")
_PART_RE = re.compile(r"[A-Za-z0-9+]+|[_.@-]")


def ai_xmp_packet(generator_id: str) -> bytes:
    """A minimal XMP packet declaring AI-generated content and the tool that made it."""
    tool = re.sub(r"[<>&\"']", "_", generator_id)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' Iptc4xmpExt:DigitalSourceType="{AI_SOURCE_TYPE}" xmp:CreatorTool="generec {tool}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    ).encode("utf-8")


AI_MARK = "AI-generated thumbnail"


def ai_marked_jpeg(pixels: np.ndarray, quality: int, generator_id: str) -> bytes:
    """A generated image as JPEG, marked as AI-made in its own metadata (IPTC DigitalSourceType in XMP,
    EXIF ImageDescription and Software); nothing about the user it was made for."""
    exif = Image.Exif()
    exif[0x010E] = f"{AI_MARK} ({generator_id})"
    exif[0x0131] = f"generec {generator_id}"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, optimize=True, exif=exif,
                                 xmp=ai_xmp_packet(generator_id))
    return buf.getvalue()


def ai_clip_tags(generator_id: str) -> dict[str, str]:
    """MP4 container tags that mark an edited clip as AI-made (the human-readable statement; MP4 has no XMP
    packet that players keep) and name the tool; nothing about the user it was made for."""
    tool = re.sub(r"[<>&\"']", "_", generator_id)
    return {"comment": f"AI-generated clip ({tool})", "encoder": f"generec {tool}"}


def mark_ai_generated(data: bytes, generator_id: str) -> bytes:
    """The same image with the AI-generated XMP mark added, pixels untouched (JPEG or PNG)."""
    packet = ai_xmp_packet(generator_id)
    if data[:2] == b"\xff\xd8":
        return _jpeg_with_app1(data, XMP_JPEG_HEADER + packet)
    if data[:8] == _PNG_SIGNATURE:
        return _png_with_xmp(data, packet.decode("utf-8"))
    raise ValueError("mark_ai_generated: only JPEG and PNG images can carry the mark "
                     f"(got bytes starting {data[:8]!r})")


def _jpeg_with_app1(data: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment after SOI and any APP0 (JFIF must stay the first segment)."""
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one JPEG segment")
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", data[4:6])[0]
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:pos] + segment + data[pos:]


def _png_with_xmp(data: bytes, packet: str) -> bytes:
    """The PNG re-saved (losslessly) with its text chunks, its ICC profile and the XMP packet as iTXt."""
    with Image.open(io.BytesIO(data)) as image:
        info = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            info.add_text(key, value)
        info.add_itxt(XMP_PNG_KEYWORD, packet)
        buf = io.BytesIO()
        image.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="ignore").replace("\x00", " ")
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        parts = [t for t in (_text(v) for v in value) if t]
        return " ".join(parts) if parts else None
    return None


def image_metadata(data: bytes) -> list[str]:
    """Every text value embedded in an image: EXIF (incl. the Exif IFD), XMP, PNG text, comments."""
    out: list[str] = []
    with Image.open(io.BytesIO(data)) as image:
        for key, value in image.info.items():
            if key == "exif":
                continue  # raw EXIF bytes: read decoded below
            text = _text(value)
            if text:
                out.append(f"{key}={text}")
        exif = image.getexif()
        for tag, value in [*exif.items(), *exif.get_ifd(0x8769).items()]:
            text = _text(value)
            if text:
                out.append(f"exif:{tag}={text}")
    return out


def clip_metadata(data: bytes) -> list[str]:
    """Container and stream tags of a clip (title, comment, encoder, handler names...)."""
    out: list[str] = []
    with open_container(bytes(data)) as container:
        out.extend(f"{k}={v}" for k, v in container.metadata.items())
        for stream in container.streams:
            out.extend(f"stream{stream.index}:{k}={v}" for k, v in stream.metadata.items())
    return out


def ai_marked(metadata: Iterable[str]) -> bool:
    """Whether the metadata declares the image AI-made: an IPTC digital source type in XMP, or a
    human-readable "AI-generated" statement in a text field (EXIF ImageDescription, PNG text)."""
    for text in metadata:
        if _AI_TEXT_RE.search(text):
            return True
        for code in _SOURCE_TYPE_RE.findall(text):
            if code.rsplit("/", 1)[-1] in AI_SOURCE_CODES:
                return True
    return False


def find_user_ids(texts: Iterable[str], user_ids: frozenset[str]) -> list[str]:
    """User ids that occur as whole tokens in any text (file names, metadata values)."""
    if not user_ids:
        return []
    exotic = [u for u in user_ids if not _TOKEN_RE.fullmatch(u)]
    found: set[str] = set()
    for text in texts:
        for token in _TOKEN_RE.findall(text):
            parts = _PART_RE.findall(token)
            for i in range(len(parts)):
                for j in range(i + 1, len(parts) + 1):
                    candidate = "".join(parts[i:j])
                    if candidate in user_ids:
                        found.add(candidate)
        found.update(u for u in exotic if u in text)
    return sorted(found)


def identifier_check(name: str, metadata: list[str], user_ids: frozenset[str]) -> CheckResult:
    """No user id in the asset's key/file name nor in its embedded metadata."""
    found = find_user_ids([name, *metadata], user_ids)
    return CheckResult.of("no_user_identifier", not found, float(len(found)), 0.0, "user identifier embedded")


def identifiability_check(metadata: list[str], generated: bool, row_marked: bool) -> CheckResult:
    """Generated: marked in its own metadata and in its catalog row. Repurposed: not marked."""
    marked = ai_marked(metadata)
    if generated:
        reason = "AI mark missing from the image" if not marked else "catalog row not marked as generated"
        return CheckResult.of("identifiability", marked and row_marked, float(marked), 1.0, reason)
    return CheckResult.of("identifiability", not marked, float(marked), 0.0, "real footage marked as AI-generated")
