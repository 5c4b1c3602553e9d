"""The ``dates`` stage: every capture-time candidate with its source, the chosen capture time,
its UTC offset, a 0-100 confidence and flags.

Ranking (strongest first; base confidence in brackets):

=====================================  =====  ===============================================
source                                 conf.  notes
=====================================  =====  ===============================================
user override                          100    ``lumina set-date``; always wins
EXIF:DateTimeOriginal (+SubSecTime…)   95     the shutter time (EXIF 2.32, tag 0x9003)
QuickTime:CreationDate                 95     Apple's local capture time with offset
<any other group>:DateTimeOriginal     95     a maker note's or stream's shutter time, ranked with
                                              EXIF's (PictureInfo, CIFF, Reconyx, FLIR, Canon,
                                              Nikon, Sony…; QuickTime UserData; H264 for AVCHD)
<any other group>:CreationDate         95     QuickTime Keys/UserData ``creationdate``
XMP:DateTimeOriginal (file, sidecar)   90
<any other group>:ContentCreateDate    90     QuickTime ItemList/UserData ``©day``
Sony:SonyDateTime                      90     Sony maker notes' own clock
EXIF:CreateDate (DateTimeDigitized)    85     equals DateTimeOriginal on cameras; scan time on scanners
Composite:DateTimeOriginal             85     ExifTool's join of IPTC/XMP DateCreated+TimeCreated
QuickTime:CreateDate                   85     UTC by the QuickTime specification
XMP:CreateDate / XMP:DateCreated /     80
IPTC:DateCreated
Takeout:PhotoTakenTime                 80     Google Takeout sidecar JSON; UTC epoch seconds
GPS date/time (GPSDateStamp+TimeStamp) 70     UTC
file name (``FILE_NAME_PATTERNS``)     40     estimated
EXIF/XMP/QuickTime ModifyDate          35     an edit time: below every capture time
folder name (2019/07/14, 2019-07-14)   25     estimated
file mtime (never ctime)               20     estimated
=====================================  =====  ===============================================

Adjustments: local time with no known offset -10; offset borrowed from OffsetTime (the edit
time's offset) -5; offset from the GPS position's time zone -3; a UTC-only time with no zone -5;
conflicting strong sources -15; a suspicious chosen value is capped at 30.

UTC offset precedence for DateTimeOriginal: OffsetTimeOriginal, OffsetTimeDigitized, OffsetTime
(flag ``offset_borrowed``), the time zone of the GPS position (flag ``offset_from_gps_timezone``),
else unknown (``None``, never 0). Offsets are kept exactly when within UTC-12:00..UTC+14:00
(ITU/IANA range); ``-0300`` without a colon is read leniently and flagged ``nonstandard_offset``.
A UTC-only time (GPS, QuickTime) becomes local time when the GPS time zone is known; otherwise
it stays UTC with offset 0 and flag ``utc_only``.

Sources are ExifTool ``Group:Tag`` names: EXIF, XMP, IPTC and QuickTime tags by their family-0
group as before; tags of other blocks by their exact family-1 group (``PictureInfo:DateTimeOriginal``,
``UserData:DateTimeOriginal``), read by the metadata stage's grouped reading. File times keep the
source ``mtime``; names ``filename`` and ``folder``.

Zero (``0000:00:00 00:00:00``) and malformed values, and years outside date_min_year..next year,
are rejected candidates with a reason (an epoch of 0 in a Takeout sidecar too). Firmware default
dates (``FIRMWARE_DEFAULTS``, each with its source) and future dates are ``suspicious`` and lose to
any other candidate, a file name included. The photo is flagged ``suspicious`` only when the
chosen value is, or when a suspicious value outranked it; a default beside a sound, stronger
capture time is flagged ``default_date_ignored`` and neither lowers the confidence nor counts as
``conflicting``.

FILE_NAME_PATTERNS (examples; the time is local unless said otherwise):

==================================================  ================================================
pattern                                             examples
==================================================  ================================================
camera/phone date_time                              ``IMG_20241102_081542.jpg``, ``VID_20241102_081542.mp4``,
                                                    ``20241102_081542.jpg`` (Samsung)
Android screenshots (with milliseconds)             ``Screenshot_20241102-081542.png``,
                                                    ``Screenshot_2024-11-02-08-15-42-123_com.app.jpg``
Google Pixel, UTC with milliseconds                 ``PXL_20241102_071542123.jpg`` (offset 0)
macOS/iOS screenshots, 24 h or 12 h with AM/PM      ``Screenshot 2024-11-02 at 08.15.42.png``,
(space or narrow no-break space U+202F before PM)   ``Screen Shot 2019-05-21 at 9.07.13 PM.png``
Windows screenshots                                 ``Screenshot 2024-11-02 081542.png``
WhatsApp                                            ``WhatsApp Image 2024-11-02 at 08.15.42.jpeg``,
                                                    ``IMG-20241102-WA0001.jpg`` (date only)
Signal                                              ``signal-2024-11-02-081542.jpg``,
                                                    ``signal-2024-11-02-08-15-42-123.jpg``
Telegram                                            ``photo_2024-11-02_08-15-42.jpg``
Dropbox camera uploads                              ``2024-11-02 08.15.42.jpg``
folders (innermost first)                           ``2024/11/02``, ``2024-11``, ``DCIM/20241102``,
                                                    ``20241102 Birthday``
==================================================  ================================================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lumina.catalog.models import CaptureDate
from lumina.stages.base import AssetView, Stage, StageResult

# Capture-time tags read from every group (see ``_grouped_candidates``), with their base confidence.
# SonyDateTime: the capture time in Sony maker notes (ExifTool Sony.pm, tag SonyDateTime); equal to
# DateTimeOriginal on the corpus's Sony DSC-HX5V.
GROUPED_RANKS = {"DateTimeOriginal": 95, "CreationDate": 95, "ContentCreateDate": 90, "SonyDateTime": 90}

_DT = re.compile(r"(?a)^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9}))?"
                 r"\s*(Z|[+-]\d{1,2}:?\d{2})?\s*$")
_DATE = re.compile(r"(?a)^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})\s*$")
_OFFSET = re.compile(r"(?a)^\s*([+-])(\d{1,2})(:?)(\d{2})\s*$")
_ZERO = re.compile(r"^[\s0:\-.T+Z]*$")
_NAME_DT = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])[-_ T.]?"
                      r"([01]\d|2[0-3])[-_.:h]?([0-5]\d)[-_.:m]?([0-5]\d)(?:[-_.]?(\d{1,3}))?(?!\d)")
# "Screenshot 2024-11-02 at 08.15.42", "Screen Shot 2019-05-21 at 9.07.13 PM" (macOS, with a
# narrow no-break space U+202F before PM since macOS 13), "WhatsApp Image 2024-11-02 at 08.15.42".
_NAME_AT = re.compile(r"(?a)(?<!\d)((?:19|20)\d{2})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) at "
                      r"(\d{1,2})[.:]([0-5]\d)[.:]([0-5]\d)(?:[\s\u00a0\u202f]*([AaPp])\.?[Mm]\.?)?(?![\d])")
# Google Pixel: "PXL_20241102_071542123.jpg" holds the UTC time with milliseconds.
_NAME_PIXEL = re.compile(r"(?a)^PXL_((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])_"
                         r"([01]\d|2[0-3])([0-5]\d)([0-5]\d)(\d{3})?")
_NAME_DATE = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
_FOLDER_DATE = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_./](0[1-9]|1[0-2])(?:[-_./](0[1-9]|[12]\d|3[01]))?(?!\d)")
# A folder named by a compact date, whole or in front ("20241102", "20241102 Birthday").
_FOLDER_COMPACT = re.compile(r"(?a)(?:^|/)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=$|/|[ _-][^/\d])")
# Camera and phone clocks that were never set: a value equal to one of these is not a capture
# time, whatever the tag. Each entry with where it is reported.
FIRMWARE_DEFAULTS: dict[datetime, str] = {
    datetime(1970, 1, 1): "Unix epoch 0: clock never set or battery dead (RhetTbull/photos_time_warp#24)",
    datetime(1980, 1, 1): "DOS/FAT date 0, the earliest FAT time stamp (Microsoft FAT32 File System "
                          "Specification, 2000, section 'Date/Time format')",
    datetime(2000, 1, 1): "factory default of compact cameras (mrwes.net/camera-date-matters, 2009)",
    datetime(2001, 1, 1): "unset camera clocks start 1998-2001 on Jan 1 (exiftool/exiftool#374, 2025)",
    datetime(2002, 12, 8, 12, 0, 0): "Android camera HAL default CreateDate, Fairphone 2 and other phones "
                                     "(mapillary/mapillary_issues#2438, openbenches/openbenches.org#233)",
}
DEFAULT_DATES = set(FIRMWARE_DEFAULTS)
MIN_OFFSET, MAX_OFFSET = -12 * 60, 14 * 60


# An ISO 8601 date-time or any leading part of it (a year, a month, a day, an hour, ...), as the
# catalog stores capture times and as date-range filters take them.
ISO_PREFIX = re.compile(r"(?a)(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01])(?:T([01]\d|2[0-3])"
                        r"(?::([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,9}))?)?)?)?)?)?")
# Flags of a capture time known only to the month or day (folder and file-name dates), and the
# characters of its ISO value that are known (the rest is the start of the period:
# 2019-06-01T00:00:00 for "June 2019"). No source gives a year alone.
PERIOD_FLAGS = {"month_only": 7, "date_only": 10}
# The longest period a capture time can stand for: a month. Date-range queries look this far back
# from the range's start for periods that overlap it (a year here would make them read 12 times as
# many index entries; a flag for a longer period must raise it).
MAX_PERIOD = timedelta(days=31)


def iso_period(text: str) -> tuple[datetime, datetime | None]:
    """The local wall-clock period that an ISO 8601 prefix names: ``(start, end)``, naive datetimes,
    ``end`` exclusive and None after year 9999. ``2019`` is the year 2019, ``2019-02`` that month,
    ``2019-02-28`` that day, ``2019-02-28T10`` that hour, ``...T10:00:00`` that second,
    ``...T10:00:00.12`` those 10 ms; digits finer than a microsecond (the resolution of the
    catalog's timestamp columns, SQLite and PostgreSQL alike) are cut, and the period is then 1 µs.

    Raises:
        ValueError: not such a prefix (``YYYY[-MM[-DD[THH[:MM[:SS[.fff]]]]]]``), or a day that does
            not exist (2019-02-30).
    """
    m = ISO_PREFIX.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time (YYYY[-MM[-DD[THH[:MM[:SS]]]]])")
    fields = [int(g) for g in m.groups()[:6] if g is not None]
    fraction = m.group(7) or ""
    try:
        start = datetime(*fields, *[1] * (3 - len(fields))) + timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date that exists ({exc})") from None
    if fraction:
        step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    elif len(fields) <= 2:  # a year or a month: calendar steps
        months = fields[0] * 12 + (fields[1] - 1 if len(fields) == 2 else 0) + (12 if len(fields) == 1 else 1)
        year, month = divmod(months, 12)
        return start, datetime(year, month + 1, 1) if year <= 9999 else None
    else:
        step = {3: timedelta(days=1), 4: timedelta(hours=1), 5: timedelta(minutes=1), 6: timedelta(seconds=1)}[len(fields)]
    try:
        return start, start + step
    except OverflowError:
        return start, None


def capture_period(capture_time: str | None, flags: list[str] | None) -> tuple[datetime | None, datetime | None]:
    """The local wall-clock period a chosen capture time stands for, ``(start, end)`` with ``end``
    exclusive (see ``iso_period``): the value's own precision, or the day, month or year when
    ``flags`` say that is all the source gave (``PERIOD_FLAGS``). ``(None, None)`` without a time or
    for a value that is not ISO 8601 (never written by the dates stage)."""
    if not capture_time:
        return None, None
    known = next((n for flag, n in PERIOD_FLAGS.items() if flag in (flags or ())), None)
    try:
        return iso_period(capture_time[:known] if known else capture_time)
    except ValueError:
        return None, None


class Rejected(ValueError):
    """A date value that cannot be used; the message is the recorded reason."""


@dataclass
class Candidate:
    source: str
    kind: str  # capture | utc | edit | estimate | user
    confidence: int
    local: datetime | None = None  # wall-clock time (naive)
    subsec: str = ""  # sub-second digits exactly as given
    offset: int | None = None  # minutes east of UTC
    offset_source: str | None = None
    status: str = "candidate"
    reason: str | None = None
    flags: list[str] = field(default_factory=list)
    raw: Any = None

    def reject(self, reason: str) -> None:
        """Mark this candidate unusable, with the reason recorded (flag ``zero_date`` or ``malformed_date``)."""
        self.status, self.reason, self.offset, self.offset_source = "rejected", reason, None, None
        self.flags.append("zero_date" if reason == "zero date" else "malformed_date")

    def iso(self) -> str | None:
        if self.local is None:
            return None
        return self.local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{self.subsec}" if self.subsec else "")

    def instant(self) -> datetime | None:
        """UTC instant; local time taken as UTC when the offset is unknown."""
        if self.local is None:
            return None
        return self.local - timedelta(minutes=self.offset or 0)

    def doc(self) -> dict[str, Any]:
        return {"source": self.source, "value": self.iso(), "raw": self.raw if isinstance(self.raw, (str, int, float))
                else None, "utc_offset_minutes": self.offset, "offset_source": self.offset_source,
                "kind": self.kind, "status": self.status, "reason": self.reason, "flags": self.flags}


def parse_offset(value: Any) -> tuple[int | None, str | None]:
    """(minutes east of UTC, problem) from an EXIF OffsetTime* value such as ``"-05:30"``.

    Returns ``(None, None)`` for blanks, ``(None, reason)`` for invalid values, and
    ``(minutes, "nonstandard_offset")`` for lenient forms such as ``"-0300"``.
    """
    if value is None:
        return None, None
    s = str(value).strip()
    if s in ("", ":") or set(s) <= set(" :"):
        return None, None
    if s.upper() == "Z":
        return 0, None
    m = _OFFSET.match(s)
    if not m:
        return None, f"malformed offset {s!r}"
    sign, hours, colon, minutes = m.groups()
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60:
        return None, f"malformed offset {s!r}"
    total = -total if sign == "-" else total
    if not MIN_OFFSET <= total <= MAX_OFFSET:
        return None, f"offset {s} outside UTC-12:00..UTC+14:00"
    return total, (None if colon and len(hours) == 2 else "nonstandard_offset")


def parse_datetime(value: Any, min_year: int) -> tuple[datetime, str, int | None]:
    """(wall-clock time, sub-second digits, offset minutes or None) from an EXIF/XMP/QuickTime value.

    Raises:
        Rejected: for zero dates, malformed values and implausible years (message = reason).
    """
    s = str(value).strip() if value is not None else ""
    if not s or _ZERO.match(s):
        raise Rejected("zero date" if s else "empty")
    m = _DT.match(s)
    if not m:
        d = _DATE.match(s)
        if not d:
            raise Rejected(f"malformed date {s!r}")
        y, mo, da = (int(x) for x in d.groups())
        h = mi = sec = 0
        subsec, off = "", None
    else:
        y, mo, da, h, mi = (int(m.group(i)) for i in range(1, 6))
        sec = int(m.group(6) or 0)
        subsec = m.group(7) or ""
        off = None
        if m.group(8):
            off, problem = parse_offset(m.group(8))
            if problem and off is None:
                raise Rejected(problem)
    if y == 0 or mo == 0 or da == 0:
        raise Rejected("zero date")
    if not min_year <= y <= datetime.now().year + 1:
        raise Rejected(f"implausible year {y}")
    try:
        return datetime(y, mo, da, h, mi, sec), subsec, off
    except ValueError as exc:
        raise Rejected(f"malformed date {s!r}: {exc}") from None


def _subsec(value: Any) -> str:
    digits = re.sub(r"\D", "", str(value)) if value is not None else ""
    return digits


def _tag_candidates(tags: dict, prefix: str, min_year: int) -> list[Candidate]:
    """Candidates from one ExifTool tag dict; ``prefix`` renames XMP sources from a sidecar."""
    out: list[Candidate] = []

    def add(source: str, kind: str, conf: int, value: Any, subsec_tag: str | None = None,
            offset_tags: tuple[str, ...] = (), utc: bool = False) -> None:
        if value is None:
            return
        c = Candidate(prefix + source if prefix else source, kind, conf, raw=value)
        try:
            c.local, c.subsec, c.offset = parse_datetime(value, min_year)
        except Rejected as exc:
            c.reject(str(exc))
            out.append(c)
            return
        if subsec_tag and not c.subsec:
            c.subsec = _subsec(tags.get(subsec_tag))
        if utc:
            c.offset, c.offset_source = 0, "UTC by specification"
        elif c.offset is not None:
            c.offset_source = "in value"
        else:
            for i, tag in enumerate(offset_tags):
                off, problem = parse_offset(tags.get(tag))
                if problem == "nonstandard_offset":
                    c.flags.append("nonstandard_offset")
                elif problem:
                    c.flags.append(f"invalid_offset:{tag}")
                if off is not None:
                    c.offset, c.offset_source = off, tag
                    if tag == "EXIF:OffsetTime":
                        c.flags.append("offset_borrowed")
                        c.confidence -= 5
                    break
        out.append(c)

    if not prefix:
        add("EXIF:DateTimeOriginal", "capture", 95, tags.get("EXIF:DateTimeOriginal"), "EXIF:SubSecTimeOriginal",
            ("EXIF:OffsetTimeOriginal", "EXIF:OffsetTimeDigitized", "EXIF:OffsetTime"))
        add("QuickTime:CreationDate", "capture", 95, tags.get("QuickTime:CreationDate"))
    add("XMP:DateTimeOriginal", "capture", 90, tags.get("XMP:DateTimeOriginal"))
    if not prefix:
        add("EXIF:CreateDate", "capture", 85, tags.get("EXIF:CreateDate"), "EXIF:SubSecTimeDigitized",
            ("EXIF:OffsetTimeDigitized", "EXIF:OffsetTimeOriginal", "EXIF:OffsetTime"))
        add("QuickTime:CreateDate", "utc", 85, tags.get("QuickTime:CreateDate"), utc=True)
    add("XMP:CreateDate", "capture", 80, tags.get("XMP:CreateDate"))
    add("XMP:DateCreated", "capture", 80, tags.get("XMP:DateCreated"))
    iptc = tags.get("IPTC:DateCreated")
    if iptc is not None:
        t = tags.get("IPTC:TimeCreated")
        add("IPTC:DateCreated", "capture", 80, f"{iptc} {t}" if t else iptc)
    if not prefix:
        gps = tags.get("Composite:GPSDateTime")
        if gps is None and tags.get("EXIF:GPSDateStamp") and tags.get("EXIF:GPSTimeStamp") is not None:
            gps = f"{tags['EXIF:GPSDateStamp']} {tags['EXIF:GPSTimeStamp']}"
        if isinstance(gps, str):
            gps = gps.rstrip("Z")
        add("GPS:GPSDateTime", "utc", 70, gps, utc=True)
        add("EXIF:ModifyDate", "edit", 35, tags.get("EXIF:ModifyDate"), "EXIF:SubSecTime", ("EXIF:OffsetTime",))
        add("QuickTime:ModifyDate", "edit", 35, tags.get("QuickTime:ModifyDate"), utc=True)
    add("XMP:ModifyDate", "edit", 35, tags.get("XMP:ModifyDate"))
    if not prefix:
        add("Composite:DateTimeOriginal", "capture", 85, tags.get("Composite:DateTimeOriginal"))
        out += _grouped_candidates(tags, out, min_year)
    return out


# Family-0 groups that hold several blocks; a family-1 name of the same tag and value is exact.
_CONTAINERS = ("MakerNotes", "QuickTime", "APP")
_READ_ABOVE = ("EXIF", "ExifIFD", "IFD0", "IFD1", "SubIFD", "GPS", "XMP", "IPTC", "Composite", "System", "File")


def _grouped_candidates(tags: dict, known: list[Candidate], min_year: int) -> list[Candidate]:
    """Capture times of any other group: maker notes (Olympus PictureInfo, Canon CIFF, Reconyx,
    FLIR, Sony …), QuickTime UserData/Keys/ItemList atoms, H.264 streams (``GROUPED_RANKS``).

    A (tag, value) pair already read under another name is not read twice; a family-1 name
    (``PictureInfo:DateTimeOriginal``) is preferred to a family-0 one (``APP12:DateTimeOriginal``).
    """
    seen = {(c.source.rsplit(":", 1)[-1], str(c.raw)) for c in known}
    keys = sorted((k for k in tags if ":" in k and k.rsplit(":", 1)[1] in GROUPED_RANKS
                   and not k.split(":", 1)[0].startswith(_READ_ABOVE)),
                  key=lambda k: k.startswith(_CONTAINERS))
    out: list[Candidate] = []
    for key in keys:
        tag, value = key.rsplit(":", 1)[1], tags[key]
        if (tag, str(value)) in seen:
            continue
        seen.add((tag, str(value)))
        c = Candidate(key, "capture", GROUPED_RANKS[tag], raw=value)
        try:  # H.264 streams append " DST" to an offset that already includes it (ExifTool H264.pm)
            c.local, c.subsec, c.offset = parse_datetime(re.sub(r"\s*DST$", "", str(value)), min_year)
        except Rejected as exc:
            c.reject(str(exc))
        c.offset_source = "in value" if c.offset is not None else None
        out.append(c)
    return out


def _takeout_candidates(tags: dict, min_year: int) -> list[Candidate]:
    """``photoTakenTime`` of a Google Takeout sidecar: seconds since 1970 in UTC."""
    raw = tags.get("Takeout:PhotoTakenTimeTimestamp")
    if raw is None:
        return []
    c = Candidate("Takeout:PhotoTakenTime", "utc", 80, raw=raw, offset=0, offset_source="UTC by specification")
    try:
        epoch = int(str(raw).strip())
        if epoch <= 0:
            raise Rejected("epoch 0 (1970-01-01): Takeout's placeholder for no time")
        when = datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)
        if not min_year <= when.year <= datetime.now().year + 1:
            raise Rejected(f"implausible year {when.year}")
        c.local = when
    except (ValueError, OverflowError, OSError) as exc:
        c.reject(str(exc) if isinstance(exc, Rejected) else f"malformed epoch {raw!r}")
    return [c]


def _plausible(parts: list[int], min_year: int) -> datetime | None:
    """The date-time of (year, month, day[, hour, minute, second]) when it exists and its year lies
    in min_year..next year; else ``None``."""
    if not min_year <= parts[0] <= datetime.now().year + 1:
        return None
    try:
        return datetime(*parts)
    except ValueError:
        return None


def _name_candidates(path: bytes, min_year: int) -> list[Candidate]:
    """File-name and folder dates (patterns: ``FILE_NAME_PATTERNS`` in the module docstring)."""
    out = []
    name = os.path.splitext(os.path.basename(os.fsdecode(path)))[0]
    if (m := _NAME_PIXEL.search(name)) is not None:
        if when := _plausible([int(x) for x in m.groups()[:6]], min_year):
            out.append(Candidate("filename", "estimate", 40, when, subsec=m.group(7) or "", raw=name,
                                 offset=0, offset_source="UTC by the Pixel camera's naming", flags=["utc_only"]))
    elif (m := _NAME_AT.search(name)) is not None:
        hour, half = int(m.group(4)), (m.group(7) or "").upper()
        day = [int(m.group(i)) for i in (1, 2, 3)]
        if half:  # 12-hour clock: 12 AM is 00, 12 PM is 12; hours beyond 12 make the time unusable
            hour = hour % 12 + (12 if half == "P" else 0) if 1 <= hour <= 12 else 24
        if hour < 24 and (when := _plausible(day + [hour, int(m.group(5)), int(m.group(6))], min_year)):
            out.append(Candidate("filename", "estimate", 40, when, raw=name))
        elif when := _plausible(day, min_year):
            out.append(Candidate("filename", "estimate", 40, when, raw=name, flags=["date_only"]))
    elif (m := _NAME_DT.search(name)) is not None:
        if when := _plausible([int(x) for x in m.groups()[:6]], min_year):
            out.append(Candidate("filename", "estimate", 40, when, subsec=m.group(7) or "", raw=name))
    elif (m := _NAME_DATE.search(name)) is not None:
        if when := _plausible([int(x) for x in m.groups()], min_year):
            out.append(Candidate("filename", "estimate", 40, when, raw=name, flags=["date_only"]))
    folders = "/".join(os.fsdecode(path).split("/")[-4:-1])
    found = [(m.start(), [int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)], bool(m.group(3)))
             for m in _FOLDER_DATE.finditer(folders)]
    found += [(m.start(), [int(g) for g in m.groups()], True) for m in _FOLDER_COMPACT.finditer(folders)]
    for _, parts, full in sorted(found, reverse=True):  # the innermost folder first
        if when := _plausible(parts, min_year):
            out.append(Candidate("folder", "estimate", 25, when, raw=folders, flags=["date_only" if full else "month_only"]))
            break
    return out


def _mtime_candidate(mtime_ns: int) -> Candidate:
    """The file's modification time in the system time zone (``TZ``); ctime is never used."""
    local = datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
    off = int(local.utcoffset().total_seconds() // 60)
    return Candidate("mtime", "estimate", 20, local.replace(tzinfo=None, microsecond=0), offset=off,
                     offset_source="system time zone", raw=mtime_ns)


def _zone(tz: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _is_suspicious(c: Candidate, now: datetime) -> str | None:
    if c.kind != "user" and c.local in FIRMWARE_DEFAULTS:
        return f"camera default date {c.local.isoformat(sep=' ')}: {FIRMWARE_DEFAULTS[c.local]}"
    if c.instant() is not None and c.instant() > now + timedelta(days=1):
        return "in the future"
    return None


def choose(candidates: list[Candidate], tz: str | None, conflict_s: float,
           now: datetime | None = None) -> tuple[Candidate | None, list[str]]:
    """Pick the capture time among ``candidates`` (mutated: status, offsets, confidence).

    Returns:
        (chosen candidate or None, flags of the choice).
    """
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    flags: list[str] = []
    usable = [c for c in candidates if c.status != "rejected"]
    for c in candidates:
        for f in c.flags:
            if f in ("zero_date", "malformed_date") and f not in flags:
                flags.append(f)
    for c in usable:
        why = _is_suspicious(c, now)
        if why:
            c.flags.append("suspicious")
            c.reason = why
    order = {id(c): i for i, c in enumerate(candidates)}
    usable.sort(key=lambda c: ("suspicious" in c.flags, -c.confidence, order[id(c)]))
    if not usable:
        return None, flags
    chosen = usable[0]
    # Suspicious only when the choice is, or when it fell back below a default date that outranked
    # it: a default CreateDate beside a sound DateTimeOriginal is noted, and costs nothing.
    if "suspicious" in chosen.flags or any("suspicious" in c.flags and c.confidence > chosen.confidence
                                           for c in usable if c.kind in ("capture", "utc")):
        flags.append("suspicious")
    elif any("suspicious" in c.flags for c in usable if c.kind in ("capture", "utc")):
        flags.append("default_date_ignored")
    zone = _zone(tz)
    if tz and zone is None:
        flags.append("invalid_timezone")
    if chosen.kind == "utc" or (chosen.offset is None and chosen.kind != "user"):
        if zone is not None:  # local time from the GPS position's time zone
            if chosen.kind == "utc":
                aware = chosen.local.replace(tzinfo=timezone.utc).astimezone(zone)
                chosen.local, offset = aware.replace(tzinfo=None), aware.utcoffset()
            else:
                offset = zone.utcoffset(chosen.local)
            chosen.offset, chosen.offset_source = int(offset.total_seconds() // 60), "GPS time zone"
            flags.append("offset_from_gps_timezone")
            chosen.confidence -= 3
        else:
            flags.append("utc_only" if chosen.kind == "utc" else "offset_unknown")
            chosen.confidence -= 5 if chosen.kind == "utc" else 10
    strong = [c for c in usable if c.kind in ("capture", "utc") and "suspicious" not in c.flags]
    instants = [c.instant() for c in strong if c.instant() is not None]
    if instants and (max(instants) - min(instants)).total_seconds() > conflict_s:
        flags.append("conflicting")
        if chosen.kind != "user":
            chosen.confidence -= 15
    file_dto = next((c for c in usable if c.source == "EXIF:DateTimeOriginal"), None)
    side_dto = next((c for c in usable if c.source == "sidecar XMP:DateTimeOriginal"), None)
    if file_dto and side_dto and abs((file_dto.local - side_dto.local).total_seconds()) > 1:
        flags.append("conflicting")
        flags.append("sidecar_conflict")
    if chosen.kind == "estimate":
        flags.append("estimated")
    if chosen.kind == "edit":
        flags.append("edit_time")
    if chosen.kind == "user":
        flags.append("user_override")
    for f in chosen.flags:
        if f in ("nonstandard_offset", "offset_borrowed", "date_only", "month_only", "utc_only") and f not in flags:
            flags.append(f)
    if "suspicious" in chosen.flags:
        chosen.confidence = min(chosen.confidence, 30)
    chosen.status = "chosen"
    chosen.confidence = max(0, min(100, chosen.confidence))
    return chosen, list(dict.fromkeys(flags))


ESTIMATED_SOURCES = {"mtime": "estimated from file time", "folder": "estimated from folder name"}


def date_basis(source: str | None) -> str | None:
    """What a chosen capture time rests on: ``"user"``, ``"sidecar"`` (an XMP or Takeout sidecar),
    ``"filename"``, ``"folder"``, ``"mtime"``, or ``"metadata"`` (a tag of the file itself);
    ``None`` when there is no capture time. Only ``folder`` and ``mtime`` are estimates that the
    gap report does not count as coverage."""
    if source is None:
        return None
    if source in ("user", "filename", "folder", "mtime"):
        return source
    return "sidecar" if source.startswith(("sidecar ", "Takeout:")) else "metadata"


def offset_is_known(source: str | None, offset_minutes: int | None, flags: list[str]) -> bool:
    """Whether a chosen capture time's UTC offset comes from the metadata, the GPS position's
    time zone or the user (not from the system time zone of a file time, and not a UTC-only
    time whose local offset is unknown)."""
    return (offset_minutes is not None and date_basis(source) not in (None, "mtime", "folder")
            and "utc_only" not in flags)


class DatesStage(Stage):
    name = "dates"
    version = 2
    requires = ("metadata", "geo")
    setting_names = ("date_min_year", "date_conflict_s")
    table = CaptureDate

    def run(self, asset: AssetView) -> StageResult:
        min_year = int(self.settings["date_min_year"])
        meta = asset.inputs.get("metadata") or {}
        geo = asset.inputs.get("geo") or {}
        candidates: list[Candidate] = []
        override = asset.inputs.get("overrides", {}).get("capture_time")
        if override:
            c = Candidate("user", "user", 100, raw=override.get("value"))
            c.local, c.subsec, c.offset = parse_datetime(override["value"], 1)
            if override.get("utc_offset_minutes") is not None:
                c.offset = int(override["utc_offset_minutes"])
            c.offset_source = "user" if c.offset is not None else None
            candidates.append(c)
        candidates += _tag_candidates(meta.get("tags") or {}, "", min_year)
        if meta.get("sidecar_tags"):
            candidates += _tag_candidates(meta["sidecar_tags"], "sidecar ", min_year)
            candidates += _takeout_candidates(meta["sidecar_tags"], min_year)
        candidates += _name_candidates(asset.path, min_year)
        candidates.append(_mtime_candidate(asset.mtime_ns))
        chosen, flags = choose(candidates, geo.get("timezone"), float(self.settings["date_conflict_s"]))
        values: dict[str, Any] = {"capture_time": None, "capture_time_utc": None, "capture_start_local": None,
                                  "capture_end_local": None, "capture_time_source": None,
                                  "capture_time_confidence": None, "utc_offset_minutes": None,
                                  "utc_offset_source": None, "flags": flags,
                                  "candidates": [c.doc() for c in candidates]}
        if chosen is not None:
            utc = chosen.instant() if chosen.offset is not None else None
            values.update(capture_time=chosen.iso(), capture_time_source=chosen.source,
                          capture_time_confidence=chosen.confidence, utc_offset_minutes=chosen.offset,
                          utc_offset_source=chosen.offset_source,
                          capture_time_utc=utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{chosen.subsec}" if chosen.subsec
                                                                                else "") + "Z" if utc else None)
        values["capture_start_local"], values["capture_end_local"] = capture_period(values["capture_time"], flags)
        return StageResult("ok", values)
