"""Services that never connect to a partner do not load the SFTP stack: paramiko and
cryptography cost each such process about 16 MB of resident memory (docs/performance.md)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("service", ["uploader", "notifier"])
def test_a_service_that_never_connects_to_a_partner_loads_no_sftp(service: str) -> None:
    probe = (f"import sys, services.{service}.main;"
             " print(sorted(m for m in ('paramiko', 'cryptography') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60).stdout.strip()
    assert loaded == "[]"
