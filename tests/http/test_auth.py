"""Tokens: the table (digests only, a user name per token), the generated token's file, and 401s over HTTP."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import httpx
import pytest
from http_support import Api

from faber_ray.errors import ConfigurationError
from faber_ray.http.auth import Caller, TokenTable, digest, token_file_path, user_name_for, write_token_file


def test_a_mapping_names_users_and_a_list_gets_stable_names() -> None:
    named = TokenTable.from_tokens({"alice-token-1": "alice", "bob-token-22": "bob"})
    assert (named.user("alice-token-1"), named.user("bob-token-22")) == ("alice", "bob")
    listed = TokenTable.from_tokens(["alice-token-1", "bob-token-22"])
    assert listed.user("bob-token-22") == user_name_for("bob-token-22") == f"token-{digest('bob-token-22')[:8]}"
    for table in (named, listed):
        for wrong in (None, "", "alice-token-", "alice-token-1 ", "ALICE-TOKEN-1"):
            assert table.user(wrong) is None, wrong


def test_a_grant_makes_an_admin() -> None:
    table = TokenTable.from_tokens({"admin-token-1": {"user": "carol", "admin": True}, "plain-token-1": "dave"})
    assert table.caller("admin-token-1") == Caller("carol", admin=True)
    assert table.caller("plain-token-1") == Caller("dave", admin=False)
    assert table.user("admin-token-1") == "carol" and table.caller("nobody-token") is None


def test_the_table_keeps_no_token_and_pickles() -> None:
    table = TokenTable.from_tokens({"secret-token-1": "alice"})
    assert "secret-token-1" not in repr(table) and b"secret-token-1" not in pickle.dumps(table)
    assert pickle.loads(pickle.dumps(table)).user("secret-token-1") == "alice"
    with pytest.raises(ConfigurationError):
        TokenTable.from_tokens([])


def test_the_token_file_is_ours_alone_and_replaced_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = token_file_path(8123)
    assert path == tmp_path / "cache" / "faber-ray" / "serve" / "api-token-8123"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    path.symlink_to(target)  # a link where the file goes is removed, never written through
    write_token_file("first-token-123", path)
    assert target.read_text() == "keep me"
    assert path.read_text() == "first-token-123\n" and not path.is_symlink()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write_token_file("second-token-45", path)
    assert path.read_text() == "second-token-45\n"


def test_requests_without_a_valid_token_are_401(api: Api) -> None:
    native_routes = [("GET", "/v1/stats"), ("GET", "/v1/languages"), ("POST", "/v1/tasks"), ("GET", "/v1/tasks/x")]
    for headers in ({}, {"Authorization": "Bearer wrong-token-000"}, {"Authorization": api.token},
                    {"X-Auth-Token": api.token}):  # the native API takes Bearer only
        for method, path in native_routes:
            answer = httpx.request(method, f"{api.url}{path}", headers=headers, json={"command": "echo"})
            assert answer.status_code == 401, (headers, path, answer.text)
            assert answer.json()["detail"] == "a valid token is required: send Authorization: Bearer <token>"
            assert answer.headers["www-authenticate"] == "Bearer"
    for headers in ({}, {"X-Auth-Token": "wrong-token-000"}, {"Authorization": f"Bearer {api.token}"}):
        answer = httpx.get(f"{api.url}/judge0/languages", headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json() == {"error": "a valid token is required: send X-Auth-Token: <token>"}


def test_health_needs_no_token_and_both_users_are_served(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json()["status"] == "ok"
    for token in (api.token, api.other_token):
        with api.native(token) as native:
            assert native.get("/v1/languages").status_code == 200
