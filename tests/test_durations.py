"""gitops_check.durations reads durations exactly as Argo Rollouts v1.9.1 does.

Every expected value below is what Go 1.26 returns: `time.ParseDuration` (nanoseconds and the error text)
and a verbatim copy of `v1alpha1.RolloutPause.DurationSeconds` (strconv.ParseInt(s, 10, 32), else
int32(ParseDuration(s).Seconds()), else -1), run on linux/amd64 (where an int32 conversion out of range
gives -2147483648).
"""

from __future__ import annotations

import pytest

from gitops_check.durations import (
    DurationError, duration_string_seconds, parse_duration, parse_duration_ns, pause_seconds, read_pause,
)

S = 1_000_000_000  # nanoseconds per second

# text -> (ParseDuration nanoseconds, or Go's error text), DurationSeconds()
GO = {
    ".5m": (30 * S, 30),
    "5.m": (300 * S, 300),
    "1d": ('time: unknown unit "d" in duration "1d"', -1),
    "+120": ('time: missing unit in duration "+120"', 120),
    "-0": (0, 0),
    "+0": (0, 0),
    "0": (0, 0),
    "00": ('time: missing unit in duration "00"', 0),
    "0s": (0, 0),
    "-0.5s": (-S // 2, 0),
    "3000000000": ('time: missing unit in duration "3000000000"', -1),
    "1000000h": (3_600_000_000 * S, -2147483648),
    "-1000000h": (-3_600_000_000 * S, -2147483648),
    "30": ('time: missing unit in duration "30"', 30),
    "120": ('time: missing unit in duration "120"', 120),
    "-1m": (-60 * S, -60),
    "1μs": (1000, 0),  # U+03BC Greek small letter mu
    "1µs": (1000, 0),  # U+00B5 micro sign
    "1us": (1000, 0),
    "1ns": (1, 0),
    "500ms": (S // 2, 0),
    " 30s": ('time: invalid duration " 30s"', -1),
    "30s ": ('time: unknown unit "s " in duration "30s "', -1),
    "5 m": ('time: unknown unit " m" in duration "5 m"', -1),
    "٣٠s": (r'time: invalid duration "\xd9\xa3\xd9\xa0s"', -1),  # Arabic-Indic digits are not digits to Go
    "": ('time: invalid duration ""', -1),
    ".": ('time: invalid duration "."', -1),
    ".s": ('time: invalid duration ".s"', -1),
    "+": ('time: invalid duration "+"', -1),
    "1.5": ('time: missing unit in duration "1.5"', -1),
    "1h30m": (5400 * S, 5400),
    "1.5h": (5400 * S, 5400),
    "2h45m30.5s": (9930 * S + S // 2, 9930),
    "1h-1m": ('time: unknown unit "h-" in duration "1h-1m"', -1),
    "1e3s": ('time: unknown unit "e" in duration "1e3s"', -1),
    "1_000s": ('time: unknown unit "_" in duration "1_000s"', -1),
    "1M": ('time: unknown unit "M" in duration "1M"', -1),
    "0.3333333333333333333h": (1200 * S, 1200),
    "1.0000000000000000000000001s": (S, 1),
    "9223372036854775807ns": (9223372036854775807, -2147483648),
    "9223372036854775808ns": ('time: invalid duration "9223372036854775808ns"', -1),
    "-9223372036854775808ns": (-9223372036854775808, -2147483648),
    "2562047h47m16.854775807s": (9223372036854775807, -2147483648),
    "2562047h47m16.854775808s": ('time: invalid duration "2562047h47m16.854775808s"', -1),
    "2147483647s": (2147483647 * S, 2147483647),
    "2147483648s": (2147483648 * S, -2147483648),
    "-2147483648s": (-2147483648 * S, -2147483648),
    "2147483647": ('time: missing unit in duration "2147483647"', 2147483647),
    "2147483648": ('time: missing unit in duration "2147483648"', -1),
    "-2147483648": ('time: missing unit in duration "-2147483648"', -2147483648),
    "1\x00s": (r'time: unknown unit "\x00s" in duration "1\x00s"', -1),
    'a"b': (r'time: invalid duration "a\"b"', -1),
}


@pytest.mark.parametrize("text", list(GO), ids=[repr(t) for t in GO])
def test_parse_duration_is_go(text):
    expected, _ = GO[text]
    if isinstance(expected, str):
        with pytest.raises(DurationError) as err:
            parse_duration_ns(text)
        assert str(err.value) == expected
        assert isinstance(err.value, ValueError)
    else:
        assert parse_duration_ns(text) == expected


@pytest.mark.parametrize("text", list(GO), ids=[repr(t) for t in GO])
def test_pause_seconds_is_duration_seconds(text):
    assert pause_seconds(text) == GO[text][1]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(".5m", 30.0), ("5.m", 300.0), ("-0.5s", -0.5), ("500ms", 0.5), ("1ns", 1e-9), ("1μs", 1e-6),
     ("2h45m30.5s", 9930.5), ("9223372036854775807ns", 9223372036.854776)],
)
def test_seconds_are_go_duration_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(120, 120), (0, 0), (-5, -5), ("+120", 120), ("-0", 0), ("-5", -5), (".5m", 30), ("1000000h", -2147483648)],
)
def test_read_pause_keeps_what_parses(value, seconds):
    assert read_pause(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [("1d", 'time: unknown unit "d" in duration "1d"'), ("3000000000", 'time: missing unit in duration "3000000000"'),
     (1.5, "not an integer or a string"), (True, "not an integer or a string"), (None, "not an integer or a string")],
)
def test_read_pause_says_why_it_does_not_parse(value, message):
    with pytest.raises(DurationError, match=message.replace("(", r"\(")):
        read_pause(value)
    assert pause_seconds(value) == -1


@pytest.mark.parametrize(("value", "seconds"), [(120, 120), (-5, -5), (0, 0)])
def test_integer_pause_is_taken_as_is(value, seconds):
    assert pause_seconds(value) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), (".5m", 30.0), ("5.m", 300.0), ("-1m", -60.0), ("0", 0.0), ("1μs", 1e-6)],
)
def test_duration_string_fields_read_go_durations(value, seconds):
    """interval, initialDelay and an experiment step's duration (v1alpha1.DurationString)."""
    assert duration_string_seconds(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [("30", "missing unit"), ("120", "missing unit"), ("1d", 'unknown unit "d"'), (" 30s", "invalid duration"),
     ("٣٠s", "invalid duration"), (30, "not a string"), (1.5, "not a string"), (None, "not a string"), (True, "not a string")],
)
def test_duration_string_fields_reject_what_go_rejects(value, message):
    with pytest.raises(DurationError, match=message):
        duration_string_seconds(value)
