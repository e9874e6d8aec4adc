"""Passwords are hashed with argon2id; outside tests with the RFC 9106 low-memory profile."""

import os
import subprocess
import sys

from conftest import ROOT

from models.passwords import hash_password, verify_password


def test_hash_verifies_only_its_password():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "Correct horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not a hash", "correct horse")


def test_outside_tests_the_full_profile_is_used():
    env = {**os.environ, "APP_ENV": "development"}
    hashed = subprocess.run(
        [sys.executable, "-c", "from models.passwords import hash_password as h; print(h('x'))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # A hash made with the full profile still verifies here, where tests hash cheaply.
    assert verify_password(hashed, "x")
