"""Why a stage's work on a file failed, as one of a few labels: what a metric may carry and
an alert group by, where the error's own text (in the journal) would make a series per file.

The project's own errors say theirs (a class attribute ``reason``); the third-party errors
that reach a stage uncaught are told apart here.
"""

from enum import StrEnum

from aio_pika.exceptions import AMQPError
from minio.error import MinioException
from urllib3.exceptions import HTTPError


class Reason(StrEnum):
    SFTP = "sftp"  # the partner: connect, authenticate, list, read
    CREDENTIALS = "credentials"  # a server's stored secrets could not be decrypted
    SPOOL_FULL = "spool_full"
    SPOOL = "spool"  # the copy in the spool: its hashing, a stream that stopped growing
    STORAGE = "storage"  # S3
    BROKER = "broker"  # RabbitMQ: a notice not confirmed, a connection lost
    TIMEOUT = "timeout"
    IO = "io"  # any other OSError: the local disk, the network
    UNEXPECTED = "unexpected"  # anything else: a bug, logged with its traceback


def reason_of(error: BaseException) -> Reason:
    reason = getattr(error, "reason", None)
    if isinstance(reason, Reason):
        return reason
    if isinstance(error, MinioException | HTTPError):
        return Reason.STORAGE
    if isinstance(error, AMQPError):
        return Reason.BROKER
    if isinstance(error, TimeoutError):
        return Reason.TIMEOUT
    if isinstance(error, OSError):
        return Reason.IO
    return Reason.UNEXPECTED
