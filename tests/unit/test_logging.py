import json
import logging

from infra.sftp.session import SftpTarget
from infra.telemetry import JsonFormatter


def test_log_lines_are_json_with_extra_fields():
    record = logging.makeLogRecord({"msg": "downloaded", "levelname": "INFO", "name": "x",
                                    "file_id": "f1", "event": "downloaded"})
    line = json.loads(JsonFormatter("downloader").format(record))
    assert line["file_id"] == "f1"
    assert line["service"] == "downloader"
    assert line["msg"] == "downloaded"


def test_sftp_targets_never_print_their_credentials():
    target = SftpTarget("h", 22, "u", password="s3cret", private_key="KEY")
    assert "s3cret" not in repr(target)
    assert "KEY" not in repr(target)
