"""Encryption at rest for partner credentials (Fernet: AES-128-CBC + HMAC-SHA256).

``INTAKE_SECRET_KEY`` holds one key, or several separated by commas while keys are
rotated: the first encrypts, every one decrypts (``MultiFernet``).
``python -m services rotate-secrets`` then encrypts every stored secret with the first,
after which the others can go.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from infra.failures import Reason

_HOW = ("make one with: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'")


class SecretBoxError(Exception):
    """A stored secret cannot be decrypted: the key changed or the value is corrupt."""

    reason = Reason.CREDENTIALS


class SecretBox:
    def __init__(self, key: SecretStr) -> None:
        keys = [part.strip() for part in key.get_secret_value().split(",") if part.strip()]
        try:
            self._fernet = MultiFernet([Fernet(part.encode()) for part in keys])
        except ValueError as exc:
            raise SecretBoxError(
                "INTAKE_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes), or several"
                f" separated by commas while rotating; {_HOW}") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("stored secret cannot be decrypted with this key") from exc

    def rotate(self, token: str) -> str:
        """``token`` encrypted with the first key, whichever key it was encrypted with."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("stored secret cannot be decrypted with this key") from exc
