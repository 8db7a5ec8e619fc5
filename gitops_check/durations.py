"""Durations read exactly as Argo Rollouts reads them, so the harness never prices a value the controller
rejects, nor rejects one it accepts.

Argo Rollouts (v1alpha1) has two kinds of duration field:

* `RolloutPause.duration` is int-or-string and read by `DurationSeconds()`: an integer as is; a string
  first as a base-10 32-bit integer (`strconv.ParseInt(s, 10, 32)`: "120", "+120", "-0" are seconds),
  else as a Go duration converted with `int32(d.Seconds())`; a string that is neither gives -1 (and
  validation rejects anything below 0). See `pause_seconds` (and `read_pause`, which keeps Go's error).
* `DurationString` fields (a metric's `interval` and `initialDelay`, an experiment step's `duration`)
  are Go durations, read by `time.ParseDuration` and nothing else: "30" has no unit and is an error.
  See `duration_string_seconds`.

`parse_duration_ns` is a port of Go's `time.ParseDuration` (Go 1.26 `time/format.go`), byte for byte on
the UTF-8 text: an optional sign, then one or more `[0-9]*(\\.[0-9]*)?unit` with units ns, us, µs (U+00B5),
μs (U+03BC), ms, s, m and h; a bare "0" (signed or not) is zero; ".5m" and "5.m" are valid; no spaces, no
other digits than ASCII, no "d"; values beyond int64 nanoseconds are an error. Errors carry Go's text
(`time: unknown unit "d" in duration "1d"`), so a message can quote what the controller would say.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "DurationError", "parse_duration_ns", "parse_duration", "read_pause", "pause_seconds", "duration_string_seconds",
]

_NS = 1
_UNITS = {
    b"ns": _NS,
    b"us": 1_000 * _NS,
    "µs".encode(): 1_000 * _NS,  # U+00B5 micro sign
    "μs".encode(): 1_000 * _NS,  # U+03BC Greek small letter mu
    b"ms": 1_000_000 * _NS,
    b"s": 1_000_000_000 * _NS,
    b"m": 60 * 1_000_000_000 * _NS,
    b"h": 3600 * 1_000_000_000 * _NS,
}
_SECOND = 1_000_000_000
_MAX_U63 = 1 << 63
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_DIGITS = b"0123456789"


class DurationError(ValueError):
    """A duration Argo Rollouts cannot read; str() is Go's error text."""


def _quote(raw: bytes) -> str:
    """Go's time.quote: double quotes, \\" and \\\\ escaped, every byte of a non-ASCII or control rune as \\xNN."""
    out = ['"']
    for char in raw.decode("utf-8", errors="surrogateescape"):
        code = ord(char)
        if code >= 0x80 or code < 0x20:
            data = char.encode("utf-8", errors="surrogateescape")
            out.extend(f"\\x{b:02x}" for b in data)
        else:
            if char in '"\\':
                out.append("\\")
            out.append(char)
    out.append('"')
    return "".join(out)


def _error(message: str, orig: bytes) -> DurationError:
    return DurationError(f"time: {message} {_quote(orig)}")


def _leading_int(s: bytes) -> tuple[int, bytes] | None:
    """Go's leadingInt: the leading [0-9]* as an integer, None on overflow past 1<<63."""
    x, i = 0, 0
    while i < len(s) and s[i] in _DIGITS:
        if x > _MAX_U63 // 10:
            return None
        x = x * 10 + (s[i] - 0x30)
        if x > _MAX_U63:
            return None
        i += 1
    return x, s[i:]


def _leading_fraction(s: bytes) -> tuple[int, float, bytes]:
    """Go's leadingFraction: the leading [0-9]*, stopping to gain precision (not failing) on overflow."""
    x, scale, i, overflow = 0, 1.0, 0, False
    while i < len(s) and s[i] in _DIGITS:
        digit = s[i] - 0x30
        i += 1
        if overflow:
            continue
        if x > (_MAX_U63 - 1) // 10:
            overflow = True
            continue
        y = x * 10 + digit
        if y > _MAX_U63:
            overflow = True
            continue
        x = y
        scale *= 10
    return x, scale, s[i:]


def parse_duration_ns(text: str) -> int:
    """Go's time.ParseDuration: nanoseconds (an int64), or DurationError with Go's message."""
    if not isinstance(text, str):
        raise DurationError(f"time: invalid duration {_quote(str(text).encode())}")
    orig = s = text.encode("utf-8", errors="surrogateescape")
    d = 0
    neg = False
    if s and s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if not s:
        raise _error("invalid duration", orig)
    while s:
        if not (s[0] == 0x2E or s[0] in _DIGITS):  # [0-9.]
            raise _error("invalid duration", orig)
        before = len(s)
        lead = _leading_int(s)
        if lead is None:
            raise _error("invalid duration", orig)
        v, s = lead
        pre = before != len(s)
        f, scale, post = 0, 1.0, False
        if s and s[0] == 0x2E:
            s = s[1:]
            before = len(s)
            f, scale, s = _leading_fraction(s)
            post = before != len(s)
        if not pre and not post:
            raise _error("invalid duration", orig)
        i = 0
        while i < len(s) and not (s[i] == 0x2E or s[i] in _DIGITS):
            i += 1
        if i == 0:
            raise _error("missing unit in duration", orig)
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise _error(f"unknown unit {_quote(unit_text)} in duration", orig)
        if v > _MAX_U63 // unit:
            raise _error("invalid duration", orig)
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))  # uint64(float64): truncation of a non-negative value
            if v > _MAX_U63:
                raise _error("invalid duration", orig)
        d += v
        if d > _MAX_U63:
            raise _error("invalid duration", orig)
    if neg:
        return -d
    if d > _MAX_U63 - 1:
        raise _error("invalid duration", orig)
    return d


def _go_seconds(ns: int) -> float:
    """Go's Duration.Seconds(): whole seconds plus the nanosecond remainder (both truncated toward zero)."""
    sec = abs(ns) // _SECOND * (1 if ns >= 0 else -1)
    nsec = ns - sec * _SECOND
    return float(sec) + float(nsec) / 1e9


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration(text).Seconds(); DurationError when Go rejects the text."""
    return _go_seconds(parse_duration_ns(text))


def _int32(value: float) -> int:
    """Go's int32(float64) on amd64: truncation toward zero; out of range gives math.MinInt32."""
    t = math.trunc(value)
    return t if _INT32_MIN <= t <= _INT32_MAX else _INT32_MIN


def parse_int(text: str, bits: int) -> int | None:
    """strconv.ParseInt(text, 10, BITS): an optional sign and ASCII digits within a signed BITS-bit integer, else
    None. Leading zeros are read as Go reads them (int() counts them against its 4,300 digits)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    digits = body.lstrip("0") or "0"
    if not body or any(c not in "0123456789" for c in body) or len(digits) > len(str(1 << bits)):
        return None  # (beyond the range either way)
    value = -int(digits) if text[0] == "-" else int(digits)
    return value if -(1 << (bits - 1)) <= value < (1 << (bits - 1)) else None


def read_pause(value: Any) -> int:
    """A pause duration as `RolloutPause.DurationSeconds()` reads it, without folding a parse failure into
    -1: the seconds (possibly negative: "-5" and -5 read fine, and Argo Rollouts rejects them), or
    DurationError with Go's text when neither strconv.ParseInt nor time.ParseDuration reads the string,
    or when the value is neither an integer nor a string (it does not decode as int-or-string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise DurationError(f"not an integer or a string but {value!r}: write whole seconds (120) or a Go duration (2m)")
    whole = parse_int(value, 32)
    if whole is not None:
        return whole
    return _int32(parse_duration(value))


def pause_seconds(value: Any) -> int:
    """v1alpha1.RolloutPause.DurationSeconds(): the seconds a pause lasts, or -1 when the controller cannot
    read it (Argo Rollouts rejects any result below 0). An integer is taken as is; a string is a base-10
    int32 ("120", "+120", "-0") or else a Go duration truncated to whole seconds (".5m" is 30, "-0.5s" is
    0, "1000000h" overflows int32 to -2147483648); anything else (a float, a bool) does not decode: -1."""
    try:
        return read_pause(value)
    except DurationError:
        return -1


def duration_string_seconds(value: Any) -> float:
    """A v1alpha1.DurationString field (metric interval and initialDelay, experiment step duration) in
    seconds, as `DurationString.Duration()` (time.ParseDuration) reads it: "30s", "1m30s", ".5m", "-1m".
    DurationError when Argo Rollouts cannot read it: no unit ("30"), an unknown unit ("1d"), a space, or
    a value that is not a string at all (the field is a string; 30 does not decode)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise DurationError(f"not a string but {value!r}: write a Go duration such as \"30s\" or \"5m\"")
    return parse_duration(value)
