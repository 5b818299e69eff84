"""The one checker: every rule refuses what it should and keeps what it should."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackyard import _checks as c
from stackyard.errors import UsageError


@pytest.mark.parametrize("kind", sorted(c.NAME_RULES))
@given(text=st.text(min_size=0, max_size=300))
def test_names_are_refused_or_stay_one_path_segment(kind: str, text: str) -> None:
    try:
        name = c.check_name(text, kind)
    except UsageError as e:
        assert kind in str(e)
        return
    assert name == text and name.isascii()
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert "\n" not in name and "\r" not in name and len(name) <= c.NAME_RULES[kind][1]
    assert (Path("/base") / name).parent == Path("/base")


def test_step_name_limit_is_64() -> None:
    c.check_name("s" * 64, "step")
    with pytest.raises(UsageError, match="limit is 64"):
        c.check_name("s" * 65, "step")


@given(parts=st.lists(st.text(max_size=80), min_size=1, max_size=3),
       suffix=st.from_regex(r"[0-9]{8}-[0-9]{6}-[0-9]{6}", fullmatch=True))
def test_job_name_keeps_the_unique_suffix(parts: list[str], suffix: str) -> None:
    name = c.job_name(*parts, suffix)
    assert name.endswith(suffix) and len(name) <= 63
    c.check_name(name, "job")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "١", "²", "", " ", "1e999", "0x10",
                                 True, None, [1], float("nan")])
def test_numbers_refuse_junk(bad: object) -> None:
    with pytest.raises(UsageError):
        c.check_number(bad, "weight")


def test_numbers_bounds_and_integers() -> None:
    assert c.check_number("3", "n", integer=True, lo=1) == 3
    assert c.check_number(2.0, "n", integer=True) == 2
    assert c.check_number(" 0.5 ", "w", lo=0, hi=1) == 0.5
    with pytest.raises(UsageError, match=">= 1"):
        c.check_number("-5", "--limit", integer=True, lo=1)
    with pytest.raises(UsageError, match="> 0"):
        c.check_number(0, "--max-body-mb", lo=0, lo_open=True)
    with pytest.raises(UsageError, match="integer"):
        c.check_number("2.5", "n", integer=True)
    with pytest.raises(UsageError, match="<= 10"):
        c.check_number(99999999999999999999, "n", integer=True, hi=10)


@pytest.mark.parametrize("ref,expected", [("g/1", ("g", 1)), ("a.b_c-d/12", ("a.b_c-d", 12))])
def test_model_refs(ref: str, expected: tuple[str, int]) -> None:
    assert c.parse_model_ref(ref) == expected and c.is_model_ref(ref)


@pytest.mark.parametrize("ref", ["g/²", "g/١", "g/0", "g/", "/1", "g", "../g/1", "a/b/1",
                                 "g/99999999999999999999", "g/1 ", "g/-1", 3])
def test_model_refs_refused(ref: object) -> None:
    assert not c.is_model_ref(ref)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="GROUP/VERSION"):
        c.parse_model_ref(ref)


def test_file_uris_round_trip_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    p = tmp_path / "My Projects" / "données #1%"
    p.mkdir(parents=True)
    uri = c.to_uri(p)
    assert " " not in uri and c.uri_to_path(uri) == p
    assert c.uri_to_path(str(p)) == p
    with pytest.raises(UsageError, match="local path"):
        c.uri_to_path("s3://bucket/key")
    with pytest.raises(UsageError, match="file:///"):
        c.uri_to_path("file://otherhost/x")
    for relative in ("file:inbox", "file:./x", "file:../etc"):   # not against the cwd
        with pytest.raises(UsageError, match="absolute local path"):
            c.uri_to_path(relative)
    assert c.uri_to_path("file:/tmp") == Path("/tmp").resolve()


@given(st.lists(st.sampled_from(["..", ".", "a", "processing", "", "opt", "ml", "x y"]),
                max_size=8))
def test_container_paths_stay_under_opt_ml(parts: list[str]) -> None:
    path = "/opt/ml/" + "/".join(parts)
    try:
        norm = c.container_path(path)
    except UsageError:
        assert ".." in parts
        return
    assert norm == "/opt/ml" or norm.startswith("/opt/ml/")
    assert ".." not in norm.split("/")


def test_inside_follows_links(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    assert c.inside(tmp_path / "root", "a/b", "x") == tmp_path / "root" / "a" / "b"
    with pytest.raises(UsageError, match="leaves"):
        c.inside(tmp_path / "root", "../x", "destination")
    with pytest.raises(UsageError, match="leaves"):
        c.inside(tmp_path / "root", "out/x", "destination")


def test_kwarg_rules_three_kinds() -> None:
    rules = c.KwargRules(frozenset({"entry_point", "hyperparameters"}), c.AWS_ONLY)
    assert rules.check("Estimator", {"entry_point": "t.py", "role": "arn"}) == {
        "entry_point": "t.py"}
    with pytest.raises(TypeError, match=r"hyperparamters \(did you mean hyperparameters\?\)"):
        rules.check("Estimator", {"hyperparamters": {}})


def test_json_safe() -> None:
    out = c.json_safe({"a": [1.0, math.nan, {"b": math.inf}], "c": (2, -math.inf)})
    assert out == {"a": [1.0, None, {"b": None}], "c": [2, None]}


@pytest.mark.parametrize("url", [
    "https://hooks.example/T0/B0/supersecret99 ",       # a trailing space from a paste
    "https://hooks.example:99999/T0/supersecret99",     # a bad port
    "https://hooks.example/T0/supersecret99\n",
    "ftp://hooks.example/T0/supersecret99",
    "https://u:supersecret99@/x",
    "https://hooks.example/T0?token=supersecret99\x00",
])
def test_a_refused_url_names_its_host_never_its_secret_path(url: str) -> None:
    with pytest.raises(UsageError) as e:
        c.check_url(url, "--webhook")
    assert "supersecret" not in str(e.value) and "--webhook" in str(e.value)
    assert "hooks.example" in str(e.value) or "@" in url
