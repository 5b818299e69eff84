"""The one checker every user-given name, path, number, reference and keyword goes through.

Validation lives at the edge and in one place, so a rule is written once and every entry
point (SDK, CLI, HTTP) refuses the same bad input with the same message. The rules are data
(``NAME_RULES``, ``KwargRules``); the functions are pure and raise before anything runs or is
written. A message names the bad value and says what to write instead.

This module sits at the bottom of the layers, next to ``_home`` and ``errors``: it imports
nothing else from stackyard, so every layer may use it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from stackyard.errors import DefinitionError, UsageError

# --- names -------------------------------------------------------------------------------
# Every name that becomes part of a path, a header, a URL or a job name. Lengths follow
# SageMaker's limits where it has one; the character sets never allow a path separator,
# "..", whitespace other than a plain space in step names, or control characters.
_HYPHENATED = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "pipeline": (re.compile(rf"{_HYPHENATED}"), 256,
                 "letters, digits and single or repeated hyphens between them"),
    "step": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-. ]*"), 64,
             "letters, digits, '_', '-', '.', and spaces, starting with a letter or digit"),
    "endpoint": (re.compile(_HYPHENATED), 63, "letters, digits and hyphens between them"),
    "variant": (re.compile(_HYPHENATED), 63, "letters, digits and hyphens between them"),
    "tuning job": (re.compile(_HYPHENATED), 63, "letters, digits and hyphens between them"),
    "job": (re.compile(_HYPHENATED), 63, "letters, digits and hyphens between them"),
    "model group": (re.compile(r"[A-Za-z0-9](?:-*[A-Za-z0-9_.])*"), 63,
                    "letters, digits, '_' and '.', with hyphens between them"),
    "model": (re.compile(_HYPHENATED), 63, "letters, digits and hyphens between them"),
    "queue": (re.compile(r"[A-Za-z0-9_\-]+"), 80, "letters, digits, '_' and '-'"),
    "state machine": (re.compile(r"[A-Za-z0-9_\-]+"), 80, "letters, digits, '_' and '-'"),
    "schedule": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*"), 64,
                 "letters, digits, '_', '-' and '.', starting with a letter or digit"),
    # a training channel becomes /opt/ml/input/data/<channel> and SM_CHANNEL_<CHANNEL>
    "channel": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*"), 64,
                "letters, digits, '_', '-' and '.', starting with a letter or digit"),
    # Step Functions execution names and Lambda function names (AWS's limits)
    "execution": (re.compile(r"[A-Za-z0-9_\-]+"), 80, "letters, digits, '_' and '-'"),
    "lambda function": (re.compile(r"[A-Za-z0-9_\-]+"), 64, "letters, digits, '_' and '-'"),
    # an event rule (stackyard rules create NAME); a notification channel uses "channel"
    "rule": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*"), 64,
             "letters, digits, '_', '-' and '.', starting with a letter or digit"),
}


def check_name(value: Any, kind: str) -> str:
    """``value`` if it is a valid ``kind`` name (see ``NAME_RULES``), else ``UsageError``."""
    pattern, limit, allowed = NAME_RULES[kind]
    if not isinstance(value, str) or not value:
        raise UsageError(f"{kind} name {value!r}: must be a non-empty string of {allowed}")
    if len(value) > limit:
        raise UsageError(f"{kind} name {value[:40]!r}… is {len(value)} characters; "
                         f"the limit is {limit}")
    if not value.isascii() or not pattern.fullmatch(value):
        raise UsageError(f"{kind} name {value!r}: use only {allowed}")
    return value


def job_name(*parts: str, limit: int = 63) -> str:
    """A job name from free text plus a unique suffix (the last part), never truncating the
    suffix away: only the leading parts are shortened, so two runs never share a name."""
    clean = [re.sub(r"[^A-Za-z0-9]+", "-", p).strip("-") for p in parts if p]
    clean = [c for c in clean if c]
    if not clean:
        raise UsageError("a job name needs at least one letter or digit")
    suffix = clean[-1][:limit]
    head = "-".join(clean[:-1])
    room = limit - len(suffix) - 1
    if not head or room <= 0:
        return suffix
    return f"{head[:room].rstrip('-')}-{suffix}"


# --- numbers -----------------------------------------------------------------------------
def check_number(value: Any, what: str, *, lo: float | None = None, hi: float | None = None,
                 integer: bool = False, lo_open: bool = False) -> float | int:
    """A finite number (an ``int`` when ``integer``) within ``[lo, hi]``; strings are parsed
    with ASCII digits only (``"١"`` and ``"²"`` are refused, ``nan``/``inf`` too)."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a number, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text:
            raise UsageError(f"{what} {value!r} is not a number")
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise UsageError(f"{what} {value!r} is not {'an integer' if integer else 'a number'}"
                             ) from None
    if integer:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise UsageError(f"{what} must be an integer, not {value!r}")
    elif not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, not {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond float range: fine as an int, not as a number
        if not integer:
            raise UsageError(f"{what} {str(value)[:20]}… is beyond float range") from None
        finite = True
    if not finite:
        raise UsageError(f"{what} must be finite, not {value!r}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise UsageError(f"{what} must be {'>' if lo_open else '>='} {lo}, not {value!r}")
    if hi is not None and value > hi:
        raise UsageError(f"{what} must be <= {hi}, not {value!r}")
    return value


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_host(value: Any, what: str = "host") -> str:
    """An address to bind or connect to: an IPv4/IPv6 literal or an ASCII DNS host name.
    All-numeric dotted names (``999.1.1.1``) must be valid IPv4, not a "host name"."""
    import ipaddress

    if isinstance(value, str) and value.isascii() and 0 < len(value) <= 253:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            labels = value.split(".")
            if (all(_HOST_LABEL.fullmatch(label) for label in labels)
                    and not all(label.isdigit() for label in labels)):
                return value
    raise UsageError(f"{what} {value!r} is not an IP address or host name (e.g. 127.0.0.1)")


def check_token(value: Any, what: str = "the token") -> str:
    """A bearer token: at least 16 printable ASCII characters, no spaces (it travels in an
    ``Authorization`` header, where anything else is either guessable or mangled)."""
    if (not isinstance(value, str) or len(value) < 16 or not value.isascii()
            or not value.isprintable() or " " in value):
        raise UsageError(f"{what} must be at least 16 printable ASCII characters without "
                         "spaces (e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe())'`)")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a ``Host`` header's name) only reaches this machine;
    a host name other than ``localhost`` may resolve to anything, so it is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_run_id(value: Any) -> str:
    """Run ids are ``YYYYMMDD-HHMMSS-xxxxxx``; anything with a path separator, a control
    character or non-ASCII text cannot be one."""
    if (not isinstance(value, str) or not value or len(value) > 64 or not value.isascii()
            or not value.replace("-", "").isalnum()):
        raise UsageError(f"run id {value!r}: write an id from `stackyard runs list`")
    return value


def check_url(value: Any, what: str = "URL") -> str:
    """An ``http://`` or ``https://`` URL with a valid host (a webhook, a server), ASCII and
    free of whitespace and control characters. Credentials in it are allowed (a webhook's
    secret path) but never echoed: the message names only scheme and host."""
    if isinstance(value, str) and value.isascii() and 0 < len(value) <= 2048 and not any(
            ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        try:  # urlparse itself refuses some junk ("http://[::1": Invalid IPv6 URL)
            parsed = urlparse(value)
            port_ok = parsed.port is None or parsed.port > 0
            host = parsed.hostname
        except ValueError:
            parsed, port_ok, host = None, False, None
        if parsed is not None and parsed.scheme in ("http", "https") and host and port_ok:
            check_host(host.strip("[]"), what)
            return value
    # only what precedes the path: a webhook's path, query or user info is its secret
    shown = (re.split(r"[/?#]", value.partition("://")[2], maxsplit=1)[0]
             .rpartition("@")[2][:40] if isinstance(value, str) else type(value).__name__)
    raise UsageError(f"{what} (host {shown!r}): write an http:// or https:// URL "
                     "(e.g. https://hooks.example.com/path)")


def check_person(value: Any, what: str = "who") -> str:
    """The name a person gives for an audit trail (who approved a model version), stripped:
    printable text of 1 to 100 characters. One token or browser session may serve many
    people, so the name is what the caller says; each caller marks where it came from."""
    if isinstance(value, str) and 0 < len(value.strip()) <= 100 and value.isprintable():
        return value.strip()
    shown = value[:120] if isinstance(value, str) else value
    raise UsageError(f"{what} {shown!r}: a printable name of 1 to 100 characters (it is "
                     "recorded with the change)")


# --- model references ----------------------------------------------------------------------
_REF = re.compile(r"([A-Za-z0-9](?:-*[A-Za-z0-9_.])*)/([1-9][0-9]{0,8})")


def is_model_ref(text: str) -> bool:
    """Whether ``text`` has the ``GROUP/VERSION`` shape (ASCII digits only)."""
    return isinstance(text, str) and _REF.fullmatch(text) is not None


def parse_model_ref(ref: Any) -> tuple[str, int]:
    """``GROUP/VERSION`` -> ``(group, version)``. The only parser of model references: a
    reference always means the registry, never a local folder of the same name."""
    m = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if m is None:
        raise UsageError(f"{ref!r} is not a model package reference; write GROUP/VERSION "
                         "(e.g. churn/3)")
    return check_name(m.group(1), "model group"), int(m.group(2))


# --- paths and URIs -----------------------------------------------------------------------
def is_remote(uri: str | Path) -> bool:
    """A URI with a scheme other than ``file`` (one-letter schemes are Windows drives)."""
    scheme = urlparse(str(uri)).scheme
    return scheme not in ("", "file") and len(scheme) > 1


def uri_to_path(uri: str | Path) -> Path:
    """The one conversion from a local path or ``file://`` URI to an absolute path.
    ``file://`` URIs are percent-decoded (``My%20Projects`` is ``My Projects``); a plain path
    is taken literally. Remote URIs are refused."""
    s = str(uri)
    if s.startswith("file:"):
        parsed = urlparse(s)
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            # file:inbox would resolve against whatever folder this process runs in
            raise UsageError(f"{s!r}: a file:// URI must name an absolute local path "
                             "(file:///…)")
        return Path(unquote(parsed.path)).resolve()
    if is_remote(s):
        raise UsageError(f"{s!r} is not a local path")
    return Path(s).expanduser().resolve()


def to_uri(path: str | Path) -> str:
    """The ``file://`` URI of a local path (percent-encoded, round-trips through
    ``uri_to_path``)."""
    return Path(path).resolve().as_uri()


def inside(root: str | Path, path: str | Path, what: str) -> Path:
    """``path`` resolved (links and ``..`` followed), refused unless it stays under ``root``."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise UsageError(f"{what} {str(path)!r} leaves {base}")
    return target


def container_path(path: str, prefix: str = "/opt/ml") -> str:
    """A path inside the job's ``/opt/ml`` (e.g. a processing input's destination), normalised;
    ``/opt/ml/processing/../../../x`` is refused instead of being checked by prefix only."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise UsageError(f"container path {path!r} must be absolute, under {prefix}/")
    if "\x00" in path or any(part == ".." for part in path.split("/")):
        raise UsageError(f"container path {path!r} may not contain '..'")
    norm = "/" + "/".join(p for p in path.split("/") if p and p != ".")
    if norm != prefix and not norm.startswith(prefix.rstrip("/") + "/"):
        raise UsageError(f"container path {path!r} must be under {prefix}/")
    return norm


def local_path(value: str | Path, what: str) -> str:
    """Absolute local path of code a job runs (a ``file://`` URI is percent-decoded); code
    travels with the definition, so a remote location is refused."""
    if is_remote(value):
        raise DefinitionError(f"{what} {value!r}: only local code paths are supported")
    return str(uri_to_path(value))


# --- step outputs ------------------------------------------------------------------------
# The types a LambdaStep's or CallbackStep's declared outputs may have (SageMaker's enums).
OUTPUT_TYPES = ("String", "Integer", "Boolean", "Float")


def check_output_parameters(outputs: Any, owner: str) -> dict[str, str]:
    """A step's ``OutputParameters`` as {name: type}: names unique and non-empty, known types;
    ``owner`` ("Lambda", "callback") names the step kind in the messages."""
    found: dict[str, str] = {}
    for o in outputs or []:
        name, kind = o.get("OutputName"), o.get("OutputType", "String")
        if not isinstance(name, str) or not name:
            raise UsageError(f"a {owner} output needs an output_name; got {name!r}")
        if name in found:
            raise UsageError(f"{owner} output {name!r} is declared twice")
        if kind not in OUTPUT_TYPES:
            raise UsageError(f"{owner} output {name!r}: output_type {kind!r}; use one of "
                             f"{', '.join(OUTPUT_TYPES)}")
        found[name] = kind
    return found


# --- keyword arguments --------------------------------------------------------------------
@dataclass(frozen=True)
class KwargRules:
    """The three kinds of keyword an SDK entry point meets: ``supported`` ones it acts on,
    ``ignored`` ones that only mean something on AWS (accepted so SageMaker code ports by
    changing imports; documented in the README), and everything else, a ``TypeError``."""

    supported: frozenset[str]
    ignored: frozenset[str] = frozenset()

    def check(self, owner: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The supported keywords of ``kwargs``; raises ``TypeError`` naming any unknown one
        (with the closest known name as a hint)."""
        unknown = sorted(set(kwargs) - self.supported - self.ignored)
        if unknown:
            raise TypeError(f"{owner}() got unexpected keyword argument(s): "
                            f"{', '.join(unknown)}{_hint(unknown, self.supported)}")
        return {k: v for k, v in kwargs.items() if k in self.supported}


def _hint(unknown: list[str], known: Iterable[str]) -> str:
    import difflib

    close = [m for u in unknown for m in difflib.get_close_matches(u, list(known), n=1)]
    return f" (did you mean {', '.join(close)}?)" if close else ""


# AWS-only arguments shared by processors, estimators, models and tuners: recorded where
# useful (instance hints), never acted on.
AWS_ONLY = frozenset({
    "role", "sagemaker_session", "instance_type", "instance_count", "volume_size",
    "volume_size_in_gb", "volume_kms_key", "output_kms_key", "network_config", "tags",
    "framework_version", "py_version", "enable_network_isolation", "use_spot_instances",
    "max_wait", "subnets", "security_group_ids", "checkpoint_s3_uri", "checkpoint_local_path",
    "encrypt_inter_container_traffic", "disable_profiler", "debugger_hook_config",
    "profiler_config", "keep_alive_period_in_seconds", "code_location", "container_log_level",
    "model_uri", "model_channel_name", "input_mode", "enable_sagemaker_metrics",
    "distribution", "instance_groups", "training_repository_access_mode",
    "disable_output_compression", "vpc_config", "kms_key", "image_config",
    "accelerator_type", "volume_kms_key_id", "boto_session", "sagemaker_client",
})


def check_kwargs(owner: str, kwargs: dict[str, Any], supported: Iterable[str] = (),
                 ignored: Iterable[str] = AWS_ONLY) -> dict[str, Any]:
    """Shorthand for ``KwargRules(supported, ignored).check(owner, kwargs)``."""
    return KwargRules(frozenset(supported), frozenset(ignored)).check(owner, kwargs)


# --- schedules ----------------------------------------------------------------------------
_RATE = re.compile(r"(?:rate\(\s*)?([0-9]{1,9})\s*(second|minute|hour|day|week)s?(?:\s*\))?",
                   re.IGNORECASE)
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_AWS_DOW = re.compile(r"(?<![#/0-9])([1-7])(?![0-9])")


def parse_schedule_expression(text: Any, what: str = "schedule expression") -> dict[str, Any]:
    """The one parser of schedule expressions: ``{"cron": "<five fields>"}``,
    ``{"rate_s": N}`` or ``{"once": True}``.

    Accepts standard five-field cron (``0 2 * * *``), AWS's six-field ``cron(0 2 * * ? *)``
    (``?`` becomes ``*``; days of the week 1-7 = SUN-SAT become 0-6; the year must be
    ``*``), AWS's ``rate(1 day)`` and plain ``1 day`` / ``30 seconds`` (seconds are
    stackyard's addition, for tests and demos), and ``NOW`` (run once, as SageMaker's
    ``CronExpressionGenerator.now()``). A cron expression is checked by ``cronsim``."""
    shown = repr(str(text)[:60])
    if not isinstance(text, str) or not text.isascii() or not 0 < len(text.strip()) <= 200:
        raise UsageError(f"{what} {shown}: write e.g. 'cron(0 2 * * ? *)', '0 2 * * *' or "
                         "'rate(1 day)'")
    s = " ".join(text.split())
    if s.upper() == "NOW":
        return {"once": True}
    m = _RATE.fullmatch(s)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise UsageError(f"{what} {shown}: a rate must be at least 1")
        return {"rate_s": n * _UNIT_S[m.group(2).lower()]}
    if s.lower().startswith("rate("):
        raise UsageError(f"{what} {shown}: write rate(N seconds|minutes|hours|days)")
    aws = s.lower().startswith("cron(") and s.endswith(")")
    fields = (s[5:-1] if aws else s).split()
    if aws or len(fields) == 6:
        if len(fields) != 6:
            raise UsageError(f"{what} {shown}: an AWS cron expression has six fields "
                             "(minute hour day-of-month month day-of-week year)")
        if fields[5] != "*":
            raise UsageError(f"{what} {shown}: the year field must be '*' here")
        fields = [*fields[:4], _AWS_DOW.sub(lambda d: str(int(d.group(1)) - 1), fields[4])]
        fields = ["*" if f == "?" else f for f in fields]
    if len(fields) != 5:
        raise UsageError(f"{what} {shown}: a cron expression has five fields (minute hour "
                         "day-of-month month day-of-week), or six in AWS's cron(...)")
    expr = " ".join(fields)
    from datetime import UTC, datetime

    from cronsim import CronSim, CronSimError

    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as e:
        raise UsageError(f"{what} {shown}: {e}") from None
    return {"cron": expr}


def check_timezone(value: Any, what: str = "--timezone") -> str:
    """An IANA time zone name (``Europe/Berlin``, ``UTC``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if isinstance(value, str) and value.isascii() and 0 < len(value) <= 64 and \
            ".." not in value and not value.startswith("/"):
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise UsageError(f"{what} {str(value)[:40]!r}: write an IANA time zone such as UTC or "
                     "Europe/Berlin")


# --- JSON out -----------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None``, so what stackyard prints or
    answers is always valid JSON (``NaN`` is not)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
