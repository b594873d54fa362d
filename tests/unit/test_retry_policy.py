from datetime import UTC, datetime
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from infra.broker import backoff_seconds
from infra.crypto import SecretBox, SecretBoxError
from infra.file_states import FileRow, message_for
from infra.retries import describe


@pytest.mark.parametrize("attempt", range(1, 15))
def test_backoff_grows_but_stays_capped(attempt):
    delays = [backoff_seconds(attempt, base=2, cap=60) for _ in range(50)]
    assert all(1 <= d <= min(60, 2 * 2 ** (attempt - 1)) for d in delays)


def test_backoff_is_jittered():
    assert len({backoff_seconds(6) for _ in range(20)}) > 1


def test_long_errors_are_shortened_for_the_journal():
    assert len(describe(RuntimeError("x" * 5000))) == 500
    assert describe(TimeoutError()) == "TimeoutError"


def test_secret_box_round_trip_and_wrong_key():
    box = SecretBox(SecretStr(Fernet.generate_key().decode()))
    token = box.encrypt("hunter2")
    assert "hunter2" not in token
    assert box.decrypt(token) == "hunter2"
    other = SecretBox(SecretStr(Fernet.generate_key().decode()))
    with pytest.raises(SecretBoxError):
        other.decrypt(token)


def test_a_bad_secret_key_says_how_to_make_one():
    with pytest.raises(SecretBoxError, match="Fernet"):
        SecretBox(SecretStr("not-a-key"))


@pytest.mark.parametrize(("status", "queue"), [
    ("discovered", "discovered"), ("downloading", "discovered"),
    ("downloaded", "downloaded"), ("storing", "downloaded"), ("stored", "stored"),
])
def test_reconciler_re_sends_the_message_of_the_waiting_stage(status, queue):
    now = datetime.now(UTC)
    row = FileRow(id=uuid4(), status=status, server_id=1, source="sftp", remote_path="a",
                  filename="a", size=3, remote_mtime=1, sha256="s", md5="m", bucket="b",
                  object_key="k", etag=None, attempts=1, lease_until=None, error_message=None,
                  stored_at=None, notified_at=None, created_at=now, updated_at=now,
                  spool_id="host-a", spool_losses=0)
    stage, message = message_for(row)
    assert stage == queue
    assert message.file_id == row.id
    assert getattr(message, "spool", "host-a") == "host-a"  # a copy's message names its spool


def test_only_the_services_that_use_partner_credentials_need_the_key() -> None:
    from services.admin.settings import AdminSettings
    from services.discovery.settings import DiscoverySettings
    from services.downloader.settings import DownloaderSettings
    from services.notifier.settings import NotifierSettings
    from services.uploader.settings import UploaderSettings

    for needs in (DiscoverySettings, DownloaderSettings, AdminSettings):
        assert needs.model_fields["secret_key"].is_required()
    for never in (UploaderSettings, NotifierSettings):
        assert "secret_key" not in never.model_fields
