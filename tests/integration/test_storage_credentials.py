"""A wrong S3 key stops the uploader's start with an error that names the settings, not the
secret."""

import pytest
from pydantic import SecretStr

from infra.storage import ObjectStore, StorageError


def test_refused_credentials_name_the_settings_and_never_the_secret(settings) -> None:
    wrong = "not-the-secret-4f1c9e"
    objects = ObjectStore(settings.model_copy(update={"s3_secret_key": SecretStr(wrong)}))
    with pytest.raises(StorageError) as refused:
        objects.ensure_bucket()
    message = str(refused.value)
    assert "INTAKE_S3_SECRET_KEY" in message and settings.s3_endpoint in message
    assert wrong not in message
