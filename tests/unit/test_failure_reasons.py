"""Each failure a stage can meet is counted under one of a few reasons, the project's
errors by their own declaration, third-party ones by their kind."""

import pytest
from aio_pika.exceptions import DeliveryError
from minio.error import S3Error
from urllib3.exceptions import ProtocolError

from infra.crypto import SecretBoxError
from infra.failures import Reason, reason_of
from infra.sftp.session import AuthenticationFailed, SftpError
from infra.spool.space import SpoolFull
from infra.storage import ObjectMismatch
from services.downloader.spool_hashing import SpoolHashError
from services.uploader.spool_reader import SpoolNotGrowing


@pytest.mark.parametrize(("error", "reason"), [
    (SftpError("cannot reach"), Reason.SFTP),
    (AuthenticationFailed("refused"), Reason.SFTP),
    (SecretBoxError("bad key"), Reason.CREDENTIALS),
    (SpoolFull("no room"), Reason.SPOOL_FULL),
    (SpoolHashError("child died"), Reason.SPOOL),
    (SpoolNotGrowing("stopped"), Reason.SPOOL),
    (ObjectMismatch("etag"), Reason.STORAGE),
    (S3Error(None, "InternalError", "boom", "r", "req", "host"), Reason.STORAGE),
    (ProtocolError("reset"), Reason.STORAGE),
    (DeliveryError(None, None), Reason.BROKER),
    (TimeoutError(), Reason.TIMEOUT),
    (ConnectionResetError(), Reason.IO),
    (ValueError("a bug"), Reason.UNEXPECTED),
])
def test_each_failure_has_its_reason(error: BaseException, reason: Reason) -> None:
    assert reason_of(error) is reason


def test_a_reason_attribute_of_another_kind_is_not_taken() -> None:
    error = OSError("wrapped")
    error.reason = "a text, not a Reason"  # type: ignore[attr-defined]
    assert reason_of(error) is Reason.IO
