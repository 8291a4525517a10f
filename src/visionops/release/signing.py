"""Signing a version folder with an elliptic-curve key, and checking its signature.

A version is signed with OpenSSF model-signing: the sha256 of every file of the version
folder (but the signature itself) in a manifest, signed into a Sigstore bundle at
``assets.extra/model.sig``. The public key travels in the version
(``assets.extra/signing_key.pem``, itself signed), so anyone can verify without a
secret; ``trusted_public_key`` in conf/base/signing.yml pins the one key a team
accepts, which also catches a version signed again with another key.

No key configured: the first registration makes a P-256 key pair under
``conf/local/signing/`` (git-ignored, like every conf/local file) and warns once. Every
version is then signed from the first run, so tampering is caught without any setup,
and the private key never enters the registry; a team points ``VISIONOPS_SIGNING_KEY``
or ``private_key`` in conf/local/signing.yml at its shared key instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from visionops.errors import ConfigError, SignatureError
from visionops.registry.layout import file_hashes
from visionops.release.layout import PUBLIC_KEY_FILE, SIGNATURE_FILE
from visionops.release.settings import GENERATED_KEY, SigningSettings, load_signing_settings

logger = logging.getLogger(__name__)

Loaded = TypeVar("Loaded")

# The curves model-signing's elliptic key signer accepts.
CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


@dataclass(frozen=True)
class SigningKey:
    """The key that signs new versions.

    Attributes:
        private_key: The PEM private key file.
        password: Its password, if it is encrypted.
        public_pem: The matching public key, PEM.
        fingerprint: sha256 of ``public_pem`` (what model-signing calls the key hint).
        origin: Where the key was configured, for messages.
    """

    private_key: Path
    password: str | None
    public_pem: bytes
    fingerprint: str
    origin: str


@dataclass(frozen=True)
class SignatureCheck:
    """What checking a version's signature found.

    Attributes:
        signed: Whether the version has a signature at all.
        problems: Each thing wrong, naming the file and the reason; empty when intact.
        fingerprint: The fingerprint of the public key the version carries.
    """

    signed: bool
    problems: tuple[str, ...]
    fingerprint: str | None = None


def fingerprint(public_pem: bytes) -> str:
    """The sha256 of a PEM public key: the key hint model-signing writes in a bundle."""
    return hashlib.sha256(public_pem).hexdigest()


def _public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _generate(path: Path) -> None:
    """Writes a new P-256 private key to ``path`` (mode 0600) unless one is there already."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    except OSError as error:
        raise ConfigError(
            f"no signing key is configured and none can be made at {path}: {error}; set "
            "VISIONOPS_SIGNING_KEY to a PEM elliptic-curve private key (in a container, "
            "mount it as a secret)"
        ) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(pem)
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temporary, path)  # fails if a concurrent registration made one first
        logger.warning(
            "No signing key configured: made %s (git-ignored) and signed with it. To sign "
            "with your team's key, set VISIONOPS_SIGNING_KEY or private_key in "
            "conf/local/signing.yml, and commit its public key as trusted_public_key in "
            "conf/base/signing.yml",
            path,
        )
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def load_signing_key(settings: SigningSettings, project_dir: Path) -> SigningKey:
    """The signing key the settings name, or the project's own, made on first use.

    Raises:
        ConfigError: The key file is not a PEM elliptic-curve private key on a curve
            model-signing accepts, or its password is wrong or missing.
    """
    path, origin = settings.private_key, settings.where
    if path is None:
        path, origin = Path(project_dir) / GENERATED_KEY, "the project's generated key"
        if not path.is_file():
            _generate(path)
    password = settings.password.encode() if settings.password else None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"{path} ({origin}) is not a readable PEM private key: {error}; give an "
            "unencrypted EC key, or its password in VISIONOPS_SIGNING_KEY_PASSWORD"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, CURVES):
        raise ConfigError(
            f"{path} ({origin}) is not an elliptic-curve key on P-256, P-384 or P-521; "
            "make one with `openssl ecparam -genkey -name prime256v1 -noout -out key.pem`"
        )
    public_pem = _public_pem(key)
    return SigningKey(path, settings.password, public_pem, fingerprint(public_pem), origin)


def project_signing_key(project_dir: Path) -> SigningKey:
    """The key that signs this project's new versions (see the module docstring).

    Raises:
        ConfigError: The signing settings or the key are invalid.
    """
    return load_signing_key(load_signing_settings(project_dir), project_dir)


def _hashing() -> Any:
    import model_signing  # takes a second to import: only when signing or checking

    return model_signing.hashing.Config().set_ignored_paths(
        paths=[SIGNATURE_FILE.as_posix()], ignore_git_paths=False
    )


def write_public_key(folder: Path, key: SigningKey) -> None:
    """Puts the public key in the version, where verifiers find it."""
    (folder / PUBLIC_KEY_FILE).parent.mkdir(parents=True, exist_ok=True)
    (folder / PUBLIC_KEY_FILE).write_bytes(key.public_pem)


def sign_version(folder: Path, key: SigningKey) -> None:
    """Signs every file of ``folder`` (its public key included) into its signature file."""
    import model_signing

    write_public_key(folder, key)
    config = model_signing.signing.Config().use_elliptic_key_signer(
        private_key=key.private_key, password=key.password
    )
    config.set_hashing_config(_hashing()).sign(folder, folder / SIGNATURE_FILE)


def _signed_files(signature: Path) -> dict[str, str]:
    """The sha256 of each file the (already verified) bundle's manifest lists."""
    envelope = json.loads(signature.read_text())["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    return {item["name"]: item["digest"] for item in statement["predicate"]["resources"]}


def _file_problems(folder: Path) -> list[str]:
    signed = _signed_files(folder / SIGNATURE_FILE)
    current = file_hashes(folder, skip=SIGNATURE_FILE)
    problems = []
    for relative in sorted(signed.keys() | current.keys()):
        if relative not in current:
            problems.append(f"missing {relative}: it is signed but not on disk")
        elif relative not in signed:
            problems.append(f"extra {relative}: on disk but not signed")
        elif signed[relative] != current[relative]:
            problems.append(
                f"changed {relative}: its sha256 {current[relative][:16]}... is not the "
                f"signed {signed[relative][:16]}..."
            )
    return problems


def check_signature(folder: Path, trusted_public_key: Path | None = None) -> SignatureCheck:
    """Checks the signature of the version in ``folder`` against its files.

    Args:
        folder: The version folder.
        trusted_public_key: The only public key accepted; None accepts the key the
            version carries (which the signature covers).
    """
    signature, public_key = folder / SIGNATURE_FILE, folder / PUBLIC_KEY_FILE
    if not signature.is_file():
        return SignatureCheck(False, (f"not signed: {SIGNATURE_FILE} does not exist",))
    if not public_key.is_file():
        return SignatureCheck(
            True, (f"missing {PUBLIC_KEY_FILE}: the signature cannot be checked without it",)
        )
    carried = fingerprint(public_key.read_bytes())
    if trusted_public_key is not None:
        trusted = fingerprint(trusted_public_key.read_bytes())
        if trusted != carried:
            return SignatureCheck(
                True,
                (
                    f"{PUBLIC_KEY_FILE} is key {carried[:16]}..., not the trusted key "
                    f"{trusted[:16]}... ({trusted_public_key}): signed by someone else",
                ),
                carried,
            )
    return SignatureCheck(True, tuple(_verify(folder, public_key)), carried)


def _verify(folder: Path, public_key: Path) -> list[str]:
    """What is wrong with the signature of ``folder`` checked with ``public_key``."""
    import model_signing

    signature = folder / SIGNATURE_FILE
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key)
    try:
        config.set_hashing_config(_hashing()).verify(folder, signature)
    except InvalidSignature:
        return [f"{SIGNATURE_FILE} does not match what was signed: the signature was altered"]
    except ValueError as error:
        if str(error).startswith("Signature mismatch"):
            return _file_problems(folder)
        reason = f"{SIGNATURE_FILE} does not verify with {PUBLIC_KEY_FILE}: {error}"
        return [" ".join(reason.split())]
    except Exception as error:  # a bundle damaged past parsing: protobuf, base64, JSON
        return [f"{SIGNATURE_FILE} is unreadable ({type(error).__name__}): {error}"]
    return []


def require_signed(folder: Path, trusted_public_key: Path | None = None) -> None:
    """Refuses a version that is unsigned or whose signature does not match its files.

    Raises:
        SignatureError: Names the version folder, each file at fault and why.
    """
    check = check_signature(folder, trusted_public_key)
    if check.problems:
        raise SignatureError(
            f"refusing the version at {folder}: {'; '.join(check.problems)}; register it "
            "again (or restore its files) so that it verifies, or serve without "
            "--require-signature"
        )


def signature_checked(
    load: Callable[[str, int, Path], Loaded], trusted_public_key: Path | None = None
) -> Callable[[str, int, Path], Loaded]:
    """``load(model_name, version, path)`` that first refuses a version whose signature
    does not hold (:func:`require_signed`): what ``visionops serve --require-signature``
    loads versions with."""

    def load_signed(model_name: str, version: int, path: Path) -> Loaded:
        require_signed(path, trusted_public_key)
        return load(model_name, version, path)

    return load_signed
