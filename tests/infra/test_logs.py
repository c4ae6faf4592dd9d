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
