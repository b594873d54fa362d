"""Print a hash for INTAKE_ADMIN_PASSWORD_HASH: ``python -m services.admin.hash_password``.

Asks for the password twice on a terminal; reads one line from standard input otherwise
(``printf '%s\\n' "$PW" | python -m services.admin.hash_password``), so the password never
appears on a command line or in the shell history.
"""

import getpass
import sys

from services.admin.auth.passwords import hash_password

MIN_LENGTH = 12


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Console password: ")
        if getpass.getpass("Again: ") != first:
            sys.exit("error: the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main() -> None:
    password = _read_password()
    if len(password) < MIN_LENGTH:
        sys.exit(f"error: use at least {MIN_LENGTH} characters")
    print(hash_password(password))


if __name__ == "__main__":
    main()
