"""The ``dates`` stage: every capture-time candidate with its source, the chosen capture time,
its UTC offset, a 0-100 confidence and flags.

Ranking (strongest first; base confidence in brackets):

=====================================  =====  ===============================================
source                                 conf.  notes
=====================================  =====  ===============================================
user override                          100    ``lumina set-date``; always wins
EXIF:DateTimeOriginal (+SubSecTime…)   95     the shutter time (EXIF 2.32, tag 0x9003)
QuickTime:CreationDate                 95     Apple's local capture time with offset
XMP:DateTimeOriginal (file, sidecar)   90
EXIF:CreateDate (DateTimeDigitized)    85     equals DateTimeOriginal on cameras; scan time on scanners
QuickTime:CreateDate                   85     UTC by the QuickTime specification
XMP:CreateDate / XMP:DateCreated /     80
IPTC:DateCreated
GPS date/time (GPSDateStamp+TimeStamp) 70     UTC
file name (IMG_20190714_100000 …)      40     estimated
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

Zero (``0000:00:00 00:00:00``) and malformed values, and years outside date_min_year..next year,
are rejected candidates with a reason. Camera default dates (1970-01-01, 1980-01-01, 2000-01-01,
2001-01-01 at midnight) and future dates are ``suspicious`` and lose to any other candidate.
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

_DT = re.compile(r"(?a)^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9}))?"
                 r"\s*(Z|[+-]\d{1,2}:?\d{2})?\s*$")
_DATE = re.compile(r"(?a)^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})\s*$")
_OFFSET = re.compile(r"(?a)^\s*([+-])(\d{1,2})(:?)(\d{2})\s*$")
_ZERO = re.compile(r"^[\s0:\-.T+Z]*$")
_NAME_DT = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])[-_ T.]?"
                      r"([01]\d|2[0-3])[-_.:h]?([0-5]\d)[-_.:m]?([0-5]\d)(\d{0,3})(?!\d)")
_NAME_DATE = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
_FOLDER_DATE = re.compile(r"(?a)(?<!\d)((?:18|19|20)\d{2})[-_./](0[1-9]|1[0-2])(?:[-_./](0[1-9]|[12]\d|3[01]))?(?!\d)")
DEFAULT_DATES = {datetime(1970, 1, 1), datetime(1980, 1, 1), datetime(2000, 1, 1), datetime(2001, 1, 1)}
MIN_OFFSET, MAX_OFFSET = -12 * 60, 14 * 60


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
            c.status, c.reason = "rejected", str(exc)
            c.flags.append("zero_date" if str(exc) == "zero date" else "malformed_date")
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
    return out


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
    out = []
    name = os.path.splitext(os.path.basename(os.fsdecode(path)))[0]
    if (m := _NAME_DT.search(name)) is not None:
        if when := _plausible([int(x) for x in m.groups()[:6]], min_year):
            out.append(Candidate("filename", "estimate", 40, when, subsec=m.group(7) or "", raw=name))
    elif (m := _NAME_DATE.search(name)) is not None:
        if when := _plausible([int(x) for x in m.groups()], min_year):
            out.append(Candidate("filename", "estimate", 40, when, raw=name, flags=["date_only"]))
    folders = "/".join(os.fsdecode(path).split("/")[-4:-1])
    for m in reversed(list(_FOLDER_DATE.finditer(folders))):
        if when := _plausible([int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)], min_year):
            out.append(Candidate("folder", "estimate", 25, when, raw=folders,
                                 flags=["date_only" if m.group(3) else "month_only"]))
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
    if c.local in DEFAULT_DATES:
        return f"camera default date {c.local.date()}"
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
    if any("suspicious" in c.flags for c in usable if c.kind in ("capture", "utc")) or "suspicious" in chosen.flags:
        flags.append("suspicious")
    zone = _zone(tz)
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
        if f in ("nonstandard_offset", "offset_borrowed", "date_only", "month_only") and f not in flags:
            flags.append(f)
    if "suspicious" in chosen.flags:
        chosen.confidence = min(chosen.confidence, 30)
    chosen.status = "chosen"
    chosen.confidence = max(0, min(100, chosen.confidence))
    return chosen, list(dict.fromkeys(flags))


class DatesStage(Stage):
    name = "dates"
    version = 1
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
        candidates += _name_candidates(asset.path, min_year)
        candidates.append(_mtime_candidate(asset.mtime_ns))
        chosen, flags = choose(candidates, geo.get("timezone"), float(self.settings["date_conflict_s"]))
        values: dict[str, Any] = {"capture_time": None, "capture_time_utc": None, "capture_time_source": None,
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
        return StageResult("ok", values)
