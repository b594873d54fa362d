"""The single S3 steps of a multipart upload, through minio: the only caller of minio's
private methods.

minio's public calls (``put_object``, ``fput_object``) run a whole multipart upload at
once. An upload that must outlive one attempt (resumed after a crash, or fed while the
file downloads) needs the single steps, which minio 7 has only as underscored methods;
they have kept their signatures through minio 7.x (pinned below 8 in pyproject.toml).
``PRIVATE_API`` lists them: tests/unit/test_private_apis.py checks each against the
installed minio, tests/integration/test_multipart_uploads.py runs them on a real server.
"""

from minio import Minio
from minio.datatypes import ListMultipartUploadsResult, ListPartsResult, Part

# (owner, name, its parameters as inspect.signature names them)
PRIVATE_API: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (Minio, "_create_multipart_upload", ("self", "bucket_name", "object_name", "headers")),
    (Minio, "_upload_part", ("self", "bucket_name", "object_name", "data", "headers",
                             "upload_id", "part_number")),
    (Minio, "_list_parts", ("self", "bucket_name", "object_name", "upload_id", "max_parts",
                            "part_number_marker")),
    (Minio, "_complete_multipart_upload", ("self", "bucket_name", "object_name", "upload_id",
                                           "parts")),
    (Minio, "_abort_multipart_upload", ("self", "bucket_name", "object_name", "upload_id")),
    (Minio, "_list_multipart_uploads", ("self", "bucket_name", "delimiter", "encoding_type",
                                        "key_marker", "max_uploads", "prefix")),
)


class MultipartSteps:
    """The multipart-upload requests of one bucket; ``S3Error`` passes through."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def create(self, key: str, headers: dict[str, str]) -> str:
        """Begin an upload; returns its id."""
        return self._client._create_multipart_upload(self._bucket, key, headers)

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Send one part; returns its ETag."""
        return self._client._upload_part(self._bucket, key, data, None, upload_id, number)

    def list_parts(self, key: str, upload_id: str, *,
                   marker: str | None = None) -> ListPartsResult:
        """One page of the parts the server holds, after part number ``marker``."""
        return self._client._list_parts(self._bucket, key, upload_id,
                                        part_number_marker=marker)

    def complete(self, key: str, upload_id: str, parts: list[Part]) -> str | None:
        """Join the parts, given in number order; returns the object's ETag."""
        return self._client._complete_multipart_upload(self._bucket, key, upload_id,
                                                       parts).etag

    def abort(self, key: str, upload_id: str) -> None:
        self._client._abort_multipart_upload(self._bucket, key, upload_id)

    def list_uploads(self, prefix: str) -> ListMultipartUploadsResult:
        """The first page (up to 1,000) of the uploads begun under ``prefix`` and still open.

        No further pages: minio 7.2 parses ``NextUploadIdMarker`` into a misspelt attribute,
        so a listing cannot go on from one. Aborting what it finds shortens the next one.
        """
        return self._client._list_multipart_uploads(self._bucket, prefix=prefix)
