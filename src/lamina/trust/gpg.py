"""GnuPG, driven as a program: sign a payload, verify a signed message against given keys.

Verification never uses the user's keyring: `Keyring(keys)` imports exactly the keys a
policy allows into a throw-away GNUPGHOME, and the verdict comes from gpg's machine-readable
status lines, not its exit code or prose. Accepted: one binary OpenPGP signed message (not
detached, not cleartext, not encrypted) with exactly one good signature by a key that is
neither expired nor revoked. The signer is reported by its primary key's fingerprint, so a
signature made by a subkey counts as its primary key's.

gpg never starts an agent here (`--no-autostart`: public keys need none, and starting one
costs more than the check: with gpg 2.2.40 on 2 shared cores, the best of 10 runs of `gpg
--homedir H [--no-autostart] --status-fd 1 --verify image.signature` on the containers/image
fixtures, H holding public-key.gpg, took 4.7 ms with the option and 14.2 ms without), and a
message that names only issuers outside the keyring is refused without running gpg at all
(`openpgp_issuers`): gpg could only have answered that it cannot check it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lamina.errors import InvalidInput, TrustError
from lamina.trust.openpgp_issuers import claimed_issuers

GPG = "gpg"
_TIMEOUT = 60

_BAD_STATUS = {
    "BADSIG": "the signature is corrupt (BADSIG)",
    "EXPSIG": "the signature has expired",
    "EXPKEYSIG": "the signing key has expired",
    "REVKEYSIG": "the signing key has been revoked",
    "ERRSIG": "the signature cannot be checked (unknown key or algorithm)",
    "NO_PUBKEY": "the signing key is not one of the trusted keys",
    "ENC_TO": "the data is encrypted, not signed",
    "DECRYPTION_FAILED": "the data is encrypted, not signed",
    "BEGIN_DECRYPTION": "the data is encrypted, not signed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedMessage:
    """What an authenticated signed message carried, and who signed it."""

    plaintext: bytes
    primary_fingerprint: str
    signing_fingerprint: str


def _run(args: list[str], data: bytes, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [GPG, "--batch", "--no-tty", *args],
            input=data,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise TrustError(f"{what}: the gpg program is not installed") from None
    except subprocess.TimeoutExpired:
        raise TrustError(f"{what}: gpg did not finish in {_TIMEOUT}s") from None


def _status(out: bytes) -> list[list[str]]:
    lines = []
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("[GNUPG:] "):
            lines.append(line[len("[GNUPG:] ") :].split(" "))
    return lines


class Keyring:
    """A temporary GNUPGHOME holding only the given public keys. Use as a context manager,
    or call `close()`; the directory is removed on close."""

    def __init__(self, keys: Sequence[bytes], what: str = "keys") -> None:
        self.home = tempfile.mkdtemp(prefix="lamina-gpg-")
        os.chmod(self.home, 0o700)
        try:
            self.fingerprints, self.key_ids = self._import(keys, what)
        except BaseException:
            self.close()
            raise

    def _import(self, keys: Sequence[bytes], what: str) -> tuple[frozenset[str], frozenset[str]]:
        """The primary fingerprints imported, and the key IDs of every key and subkey."""
        found: set[str] = set()
        key_ids: set[str] = set()
        args = ["--homedir", self.home, "--no-autostart", "--status-fd", "1", "--with-colons"]
        args += ["--import-options", "import-show", "--import"]
        for blob in keys:
            proc = _run(args, blob, what)
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                if line.startswith("fpr:"):
                    fpr = line.split(":")[9].upper()
                    key_ids.add(fpr[-16:] if len(fpr) == 40 else fpr[:16])
            for fields in _status(proc.stdout):
                if fields[0] == "IMPORT_OK" and len(fields) >= 3:
                    found.add(fields[2].upper())
        if not found:
            raise TrustError(f"{what}: no public keys could be imported")
        return frozenset(found), frozenset(key_ids)

    def verify(self, signed: bytes, what: str = "signature") -> VerifiedMessage:
        """Authenticate `signed`; return its plaintext and signer, or raise TrustError."""
        if not signed:
            raise TrustError(f"{what}: empty")
        if not signed[0] & 0x80:
            raise TrustError(
                f"{what}: not a binary OpenPGP message (cleartext or armored signatures "
                "are not accepted)"
            )
        issuers = claimed_issuers(signed)
        if issuers is not None and self.key_ids and not issuers & self.key_ids:
            raise TrustError(f"{what}: {_BAD_STATUS['ERRSIG']}")
        out_dir = tempfile.mkdtemp(prefix="lamina-gpg-out-")
        try:
            out_file = Path(out_dir) / "plaintext"
            proc = _run(
                [
                    "--homedir",
                    self.home,
                    "--no-autostart",
                    "--status-fd",
                    "1",
                    "--trust-model",
                    "always",
                    "--no-auto-key-retrieve",
                    "--output",
                    str(out_file),
                    "--decrypt",
                ],
                signed,
                what,
            )
            return _verdict(proc, out_file, what)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def close(self) -> None:
        if os.path.isdir(self.home):
            if any(name.startswith("S.") for name in os.listdir(self.home)):
                subprocess.run(
                    ["gpgconf", "--homedir", self.home, "--kill", "all"],
                    capture_output=True,
                    check=False,
                    timeout=_TIMEOUT,
                )
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Keyring:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _verdict(
    proc: subprocess.CompletedProcess[bytes], out_file: Path, what: str
) -> VerifiedMessage:
    status = _status(proc.stdout)
    names = [fields[0] for fields in status]
    for name, why in _BAD_STATUS.items():
        if name in names:
            raise TrustError(f"{what}: {why}")
    if names.count("NEWSIG") != 1 or names.count("GOODSIG") != 1:
        count = names.count("NEWSIG")
        raise TrustError(f"{what}: expected exactly one signature, found {count}")
    if names.count("PLAINTEXT") != 1:
        raise TrustError(f"{what}: not a signed message with one literal data packet")
    valid = [fields for fields in status if fields[0] == "VALIDSIG"]
    if len(valid) != 1 or proc.returncode != 0 or not out_file.exists():
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TrustError(f"{what}: gpg did not accept it ({detail[-1] if detail else 'no detail'})")
    fields = valid[0]
    if len(fields) < 2 or not fields[1]:
        raise TrustError(f"{what}: gpg VALIDSIG status line names no fingerprint")
    signing = fields[1].upper()
    primary = fields[10].upper() if len(fields) > 10 else signing
    return VerifiedMessage(
        plaintext=out_file.read_bytes(), primary_fingerprint=primary, signing_fingerprint=signing
    )


def sign(
    payload: bytes,
    key: str,
    *,
    homedir: str | None = None,
    passphrase_file: str | None = None,
) -> bytes:
    """A binary OpenPGP signed message (`gpg --sign`) of `payload` by `key` (fingerprint or
    user id). Uses `homedir`, else $GNUPGHOME / ~/.gnupg; a passphrase comes from the agent
    or from `passphrase_file`."""
    if not key:
        raise InvalidInput("signing key: empty key id")
    args: list[str] = []
    if homedir is not None:
        args += ["--homedir", homedir]
    if passphrase_file is not None:
        args += ["--pinentry-mode", "loopback", "--passphrase-file", passphrase_file]
    args += ["--local-user", key, "--output", "-", "--sign"]
    proc = _run(args, payload, f"signing with {key}")
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TrustError(
            f"signing with key {key!r} failed: {detail[-1] if detail else 'gpg gave no output'}"
        )
    return proc.stdout
