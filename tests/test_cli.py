"""The admin commands and the first start: what a newcomer and an administrator see."""

import shlex
import time

import httpx
import pytest

from openucs.auth.passwords import PasswordAuthenticator
from openucs.store.open import open_store
from tests.support import ServerProcess, run_cli, validate_envelope

PASSWORD = "first secret"


def _curl_parts(output: str) -> tuple[tuple[str, str], bytes, str]:
    """The credentials, body and URL of the curl command the first start printed."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("curl"))
    command = " ".join(line.strip().rstrip("\\") for line in lines[start : start + 3])
    words = shlex.split(command)
    user, _, password = words[words.index("-u") + 1].partition(":")
    return (user, password), words[words.index("--data") + 1].encode(), words[-1]


def test_first_start_creates_one_account_and_prints_a_working_curl(database_url):
    server = ServerProcess(database_url).start()
    try:
        output = ""
        for _ in range(100):  # printed before the server answered; the reader thread may lag a moment
            output = server.output_so_far()
            if "curl" in output:
                break
            time.sleep(0.05)
        assert "admin@openucs.local" in output and "shown only once" in output
        credentials, body, url = _curl_parts(output)
        assert url == f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx"
        # Exactly what the printed curl sends.
        answer = httpx.post(url, content=body, auth=credentials, headers={"Content-Type": "text/xml; charset=utf-8"})
        assert answer.status_code == 200
        root = validate_envelope(answer.content)
        assert root.find(".//{*}GetImItemListResponse").get("ResponseClass") == "Success"
    finally:
        first_output = server.stop()
    again = ServerProcess(database_url).start()
    try:
        httpx.get(again.base_url + "/healthz")
    finally:
        second_output = again.stop()
    assert "shown only once" in first_output
    assert "shown only once" not in second_output  # not an empty database any more
    listed = run_cli("user", "list", database=database_url).stdout
    assert listed.count("@") == 1 and "admin@openucs.local" in listed


def _can_sign_in(database_url: str, email: str, password: str) -> bool:
    store = open_store(database_url)
    try:
        return PasswordAuthenticator(store).authenticate(email, password) is not None
    finally:
        store.close()


def test_user_add_list_passwd_remove(database_url):
    added = run_cli(
        "user", "add", "Carol@Example.com", "--display-name", "Carol Example", "--password-stdin",
        database=database_url, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert "added carol@example.com" in added.stdout
    listed = run_cli("user", "list", database=database_url).stdout.splitlines()
    assert listed[0].split() == ["EMAIL", "DISPLAY", "NAME", "IM", "LIST", "MIGRATED", "CREATED"]
    assert listed[1].startswith("carol@example.com") and "Carol Example" in listed[1] and " no " in listed[1]
    assert _can_sign_in(database_url, "carol@example.com", PASSWORD)

    run_cli("user", "passwd", "carol@example.com", "--password-stdin", database=database_url, stdin="new secret\n")
    assert not _can_sign_in(database_url, "carol@example.com", PASSWORD)
    assert _can_sign_in(database_url, "carol@example.com", "new secret")

    removed = run_cli("user", "remove", "carol@example.com", database=database_url)
    assert "removed carol@example.com" in removed.stdout
    assert "carol@example.com" not in run_cli("user", "list", database=database_url).stdout
    assert not _can_sign_in(database_url, "carol@example.com", "new secret")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "add", "not-an-address", "--display-name", "X", "--password-stdin"), "pw\n", "not a valid e-mail"),
        (("user", "add", "x@example.com", "--display-name", " ", "--password-stdin"), "pw\n", "must not be empty"),
        (("user", "add", "x@example.com", "--display-name", "X", "--password-stdin"), "\n", "is empty"),
        (("user", "add", "x@example.com", "--display-name", "X"), "pw\n", "--password-stdin"),
        (("user", "passwd", "nobody@example.com", "--password-stdin"), "pw\n", "no account nobody@example.com"),
        (("user", "remove", "nobody@example.com"), None, "no account nobody@example.com"),
    ],
)
def test_bad_commands_say_why_and_change_nothing(database_url, args, stdin, message):
    result = run_cli(*args, database=database_url, stdin=stdin, check=False)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "@" not in run_cli("user", "list", database=database_url).stdout


def test_adding_an_existing_account_is_refused(database_url):
    run_cli("user", "add", "dup@example.com", "--display-name", "A", "--password-stdin",
            database=database_url, stdin="pw\n")  # fmt: skip
    again = run_cli("user", "add", "DUP@example.com", "--display-name", "B", "--password-stdin",
                    database=database_url, stdin="pw\n", check=False)  # fmt: skip
    assert again.returncode == 1 and "exists already" in again.stderr
    assert run_cli("user", "list", database=database_url).stdout.count("dup@example.com") == 1


def test_a_bad_database_url_is_a_message_not_a_traceback():
    result = run_cli("user", "list", database="mysql://nowhere/db", check=False)
    assert result.returncode == 1 and "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr
