"""Signed versions: a changed byte is named by `lineage verify` and refused by serving."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization

from registering import register_version
from visionops.console import main
from visionops.errors import ConfigError, SignatureError
from visionops.registry.signature_names import UINT8_SIGNATURE
from visionops.release.layout import PUBLIC_KEY_FILE, SIGNATURE_FILE
from visionops.release.settings import GENERATED_KEY, KEY_VARIABLE
from visionops.release.signing import (
    check_signature,
    fingerprint,
    project_signing_key,
    require_signed,
    signature_checked,
)

from .conftest import ACTOR, MODEL, Registered, write_key

PROJECT = Path(__file__).parents[2]
WEIGHTS = "variables/variables.data-00000-of-00001"


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


@pytest.fixture
def registry(registered: Registered, tmp_path: Path) -> Path:
    """A copy of the registry holding the signed digits:1, to tamper with."""
    return Path(shutil.copytree(registered.root, tmp_path / "registry"))


def _verify(registry: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> tuple:
    argv = ["lineage", "verify", f"{MODEL}:1", "--registry", str(registry)]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--project-dir", str(project)])
    return exit_info.value.code, capsys.readouterr().out


def test_a_registered_version_is_signed_and_verifies(registry: Path, tmp_path: Path, capsys):
    folder = registry / MODEL / "1"
    check = check_signature(folder)
    assert check.signed and check.problems == ()
    assert check.fingerprint == fingerprint((folder / PUBLIC_KEY_FILE).read_bytes())
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 0, out
    assert f"note: signature intact (key {check.fingerprint[:16]}...)" in out


def test_one_flipped_byte_fails_verify_naming_the_file(registry: Path, tmp_path: Path, capsys):
    _flip_byte(registry / MODEL / "1" / WEIGHTS)
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 1
    assert f"    changed file {WEIGHTS}: sha256 " in out
    assert f"note: the signature fails too: signature: changed {WEIGHTS}: its sha256 " in out
    assert out.endswith("FAILED: 1 problem\n")


def test_an_edited_record_is_named_by_the_signature(registry: Path, tmp_path: Path, capsys):
    record = registry / MODEL / "1" / "assets.extra" / "lineage.json"
    record.write_text(record.read_text().replace('"registered_by": "', '"registered_by": "x'))
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 1
    assert "    signature: changed assets.extra/lineage.json: its sha256 " in out


def test_an_altered_signature_is_named(registry: Path, tmp_path: Path, capsys) -> None:
    path = registry / MODEL / "1" / SIGNATURE_FILE
    bundle = json.loads(path.read_text())
    (signed,) = bundle["dsseEnvelope"]["signatures"]
    raw = bytearray(base64.b64decode(signed["sig"]))
    raw[-1] ^= 1
    signed["sig"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(bundle))
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 1
    assert f"    signature: {SIGNATURE_FILE} does not match what was signed" in out


def test_a_key_other_than_the_trusted_one_fails(registry: Path, tmp_path: Path, capsys):
    other = serialization.load_pem_private_key(write_key(tmp_path / "other.pem").read_bytes(), None)
    public = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "team.pem").write_bytes(public)
    (tmp_path / "conf" / "base" / "signing.yml").write_text(
        "trusted_public_key: conf/base/team.pem\n"
    )
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 1
    assert "not the trusted key" in out and "signed by someone else" in out


def test_without_a_key_the_first_registration_makes_one_in_conf_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE)
    first = project_signing_key(tmp_path)
    assert first.private_key == tmp_path / GENERATED_KEY
    assert first.private_key.stat().st_mode & 0o777 == 0o600
    assert project_signing_key(tmp_path).fingerprint == first.fingerprint, "made once"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(GENERATED_KEY)], cwd=PROJECT, check=False
    )
    assert ignored.returncode == 0, "git never commits the generated private key"


def test_require_signature_refuses_a_changed_version_while_production_keeps_serving(
    registry: Path,
) -> None:
    from visionops.serving.models import END, Catalog, LoadedVersion
    from visionops.serving.watcher import RegistryWatcher

    catalog = Catalog()
    watcher = RegistryWatcher(registry, catalog, 1.0, signature_checked(LoadedVersion))
    watcher.poll()
    assert catalog.get(MODEL).labels == {"production": 1}
    register_version(registry, MODEL, 2, {}, ("production",), actor=ACTOR)
    _flip_byte(registry / MODEL / "2" / WEIGHTS)
    watcher.poll()
    state = catalog.get(MODEL)
    assert state.statuses[2].state == END
    message = state.statuses[2].error_message
    assert message.startswith("SignatureError: refusing the version at ")
    assert f"changed {WEIGHTS}: its sha256 " in message
    assert state.labels == {"production": 1}, "production stays on the intact version"
    images = np.zeros((1, 8, 8, 1), np.uint8)
    outputs = state.resolve(label="production").predict(UINT8_SIGNATURE, {"images": images})
    assert next(iter(outputs.values())).shape[0] == 1


def test_an_unsigned_version_is_refused(registry: Path) -> None:
    (registry / MODEL / "1" / SIGNATURE_FILE).unlink()
    with pytest.raises(SignatureError, match=r"not signed: assets.extra/model.sig does not"):
        require_signed(registry / MODEL / "1")


def test_a_removed_signature_is_named(registry: Path, tmp_path: Path, capsys) -> None:
    (registry / MODEL / "1" / SIGNATURE_FILE).unlink()
    code, out = _verify(registry, tmp_path, capsys)
    assert code == 1
    assert f"    signature: not signed: {SIGNATURE_FILE} does not exist" in out


def test_no_key_and_no_place_to_make_one_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container whose conf/local cannot be written, and no VISIONOPS_SIGNING_KEY."""
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    from visionops.release.signing import project_signing_key

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "local").write_text("a file where a folder should be")
    with pytest.raises(ConfigError, match="none can be made at .*set VISIONOPS_SIGNING_KEY"):
        project_signing_key(tmp_path)
    assert not (tmp_path / GENERATED_KEY).exists()
