"""Key rotation against the run's PostgreSQL: with ``INTAKE_SECRET_KEY=new,old`` both keys
decrypt, ``rotate-secrets`` re-encrypts every credential with the new one, and a secret no
key decrypts changes nothing."""

import uuid
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from infra.crypto import SecretBox, SecretBoxError
from infra.postgres import Pool, create_pool, migrate
from infra.secret_rotation import rotate_secrets
from infra.settings import Settings
from tests.servers import fresh_database


def _box(*keys: bytes) -> SecretBox:
    return SecretBox(SecretStr(",".join(key.decode() for key in keys)))


async def _server(pool, password_enc: str | None, private_key_enc: str | None) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO servers (name, host, username, enabled, password_enc, private_key_enc)"
            " VALUES (%s, 'h', 'u', false, %s, %s) RETURNING id",
            (f"rot-{uuid.uuid4().hex[:8]}", password_enc, private_key_enc))
        return (await cur.fetchone())["id"]


async def _stored(pool, server_id: int) -> tuple[str | None, str | None]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT password_enc, private_key_enc FROM servers WHERE id = %s", (server_id,))
        row = await cur.fetchone()
    return row["password_enc"], row["private_key_enc"]


@pytest.fixture
async def own_pool(postgres_admin_url: str, settings: Settings) -> AsyncIterator[Pool]:
    """A database of the test's own: the run's holds other tests' servers, of other keys."""
    with fresh_database(postgres_admin_url, f"intake_rot_{uuid.uuid4().hex[:8]}") as url:
        pool = create_pool(settings.model_copy(update={"database_url": SecretStr(url)}))
        await pool.open(wait=True)
        try:
            await migrate(pool)
            yield pool
        finally:
            await pool.close()


async def test_rotation_moves_every_credential_to_the_first_key(own_pool) -> None:
    pool = own_pool
    old, new = Fernet.generate_key(), Fernet.generate_key()
    before = _box(old)
    ids = [await _server(pool, before.encrypt("pw-1"), None),
           await _server(pool, before.encrypt("pw-2"), before.encrypt("KEY"))]
    both = _box(new, old)
    assert both.decrypt(before.encrypt("x")) == "x"  # the old key still reads while rotating

    assert await rotate_secrets(pool, both) == 2

    only_new = _box(new)
    assert [only_new.decrypt(p) for p, _ in [await _stored(pool, i) for i in ids]] == [
        "pw-1", "pw-2"]
    assert only_new.decrypt((await _stored(pool, ids[1]))[1]) == "KEY"
    with pytest.raises(SecretBoxError):
        _box(old).decrypt((await _stored(pool, ids[0]))[0])


async def test_a_secret_no_key_reads_stops_the_rotation_and_changes_nothing(own_pool) -> None:
    pool = own_pool
    known, lost = Fernet.generate_key(), Fernet.generate_key()
    good = await _server(pool, _box(known).encrypt("pw"), None)
    bad = await _server(pool, _box(lost).encrypt("pw"), None)
    before = await _stored(pool, good)

    with pytest.raises(SecretBoxError, match=f"id {bad}"):
        await rotate_secrets(pool, _box(Fernet.generate_key(), known))

    assert await _stored(pool, good) == before
