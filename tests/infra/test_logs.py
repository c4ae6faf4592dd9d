import json
import logging

import structlog

from infra.logs import REDACTED, configure_logging, redact_text


def test_redact_text_blanks_url_passwords_bearer_tokens_and_token_literals():
    line = (
        "connect postgresql://app:s3cret@db:5432/x with Authorization: Bearer abc.def-123 "
        "and token ud_AyydAZ4u98Q7DZtrQXFvfBas-flDcA-JBloswFcOl34"
    )
    redacted = redact_text(line)
    assert "s3cret" not in redacted
    assert "abc.def-123" not in redacted
    assert "ud_AyydAZ4u98Q7DZtrQXFvfBas" not in redacted
    assert f"postgresql://app:{REDACTED}@db:5432/x" in redacted


def test_json_log_lines_never_carry_secrets(capsys):
    configure_logging(json=True)
    try:
        log = structlog.get_logger("test")
        log.info("signed in", token="ud_secretsecretsecretsecretsecret", account_id=7)
        logging.getLogger("plain").warning("using redis://:hunter2@cache:6379/0")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert lines[0]["event"] == "signed in"
    assert lines[0]["token"] == REDACTED
    assert lines[0]["account_id"] == 7
    assert "hunter2" not in lines[1]["event"]


PASSWORD = "s3cr@t/pa#ss"  # holds `@`, `/` and `#`: the old pattern stopped at the first `@`
TOKEN = "ud_AyydAZ4u98Q7DZtrQXFvfBas-flDcA-JBloswFcOl34"


def _log_an_exception(capsys, *, json_lines: bool) -> str:
    """Log an exception whose text (and so its traceback) carries a URL password and a token."""
    configure_logging(json=json_lines)
    try:
        url = f"postgresql://app:{PASSWORD}@db.internal:5432/campus"
        try:
            raise ConnectionError(f"cannot reach {url} for {TOKEN}")
        except ConnectionError:
            logging.getLogger("worker").exception("step failed")
        return capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_exception_text_and_traceback_are_redacted_in_json_lines(capsys):
    output = _log_an_exception(capsys, json_lines=True)
    line = json.loads(output.strip().splitlines()[-1])
    assert "ConnectionError" in line["exception"]  # the traceback is there...
    assert f"postgresql://app:{REDACTED}@db.internal:5432/campus" in line["exception"]
    assert "s3cr" not in output and "pa#ss" not in output  # ...without the password
    assert TOKEN[3:20] not in output


def test_exception_text_is_redacted_in_readable_dev_lines(capsys):
    output = _log_an_exception(capsys, json_lines=False)
    assert "ConnectionError" in output and "step failed" in output
    assert "s3cr" not in output and "pa#ss" not in output
    assert TOKEN[3:20] not in output


def test_url_passwords_are_found_with_urlsplit_rules():
    cases = {
        f"redis://:{PASSWORD}@cache:6379/0": f"redis://:{REDACTED}@cache:6379/0",
        "smtp+starttls://mailer:p@ss@smtp.example:587": f"smtp+starttls://mailer:{REDACTED}@smtp.example:587",
        "see https://example.org/@team for news": "see https://example.org/@team for news",
        "postgres://reader@db/x": "postgres://reader@db/x",  # no password: nothing to hide
    }
    for text, expected in cases.items():
        assert redact_text(text) == expected
        assert redact_text(redact_text(text)) == expected  # applied twice (before and after rendering)


def test_dev_banner_prints_no_database_password():
    from updatedesk.dev import DevStart, banner

    text = banner(
        "127.0.0.1",
        8000,
        DevStart(loaded=False, logins=[]),
        f"postgresql://app:{PASSWORD}@db.internal/campus",
    )
    assert "s3cr" not in text
    assert f"postgresql://app:{REDACTED}@db.internal/campus" in text
