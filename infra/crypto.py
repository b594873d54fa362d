"""Encryption at rest for partner credentials (Fernet: AES-128-CBC + HMAC-SHA256)."""

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr


class SecretBoxError(Exception):
    """A stored secret cannot be decrypted: the key changed or the value is corrupt."""


class SecretBox:
    def __init__(self, key: SecretStr) -> None:
        try:
            self._fernet = Fernet(key.get_secret_value().encode())
        except ValueError as exc:
            raise SecretBoxError(
                "INTAKE_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("stored secret cannot be decrypted with this key") from exc
