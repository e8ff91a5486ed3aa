"""An instance's files without starting Asterisk: dirs, config, data-dir links, prompt installation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr.asterisk.config import AgentPhone
from ivr.asterisk.instance import AsteriskError, AsteriskInstance, list_instances
from ivr.asterisk.sandbox import Runtime
from ivr.settings import Settings


@pytest.fixture
def instance(tmp_path: Path) -> AsteriskInstance:
    root = tmp_path / "root"
    for d in ("usr/share/asterisk/sounds/en_US_f_Allison", "usr/share/asterisk/documentation",
              "usr/share/asterisk/rest-api"):
        (root / d).mkdir(parents=True)
    (root / "usr/share/asterisk/sounds/en").symlink_to("/usr/share/asterisk/sounds/en_US_f_Allison")
    settings = Settings.model_validate({"asterisk": {"instance": "files-test"}})
    return AsteriskInstance(Runtime("sandbox", root, "22.0"), settings, agents=[AgentPhone("agent-1", "pw")])


def test_write_config_creates_the_home_and_reports_changes(instance: AsteriskInstance) -> None:
    changed = instance.write_config()
    etc = instance.host_path(instance.layout.etc)
    assert changed == set(instance.config_files()) and {p.name for p in etc.iterdir()} == changed
    assert instance.write_config() == set()
    (etc / "old-generator.conf").write_text("[x]\n")
    assert instance.write_config() == {"old-generator.conf"} and not (etc / "old-generator.conf").exists()
    assert [p.name for p in instance.host_path(instance.layout.moh).iterdir()] == ["hotline-hold.wav"]
    assert instance.recordings_dir_host.is_dir()
    assert list_instances(instance.runtime, instance.settings) == ["files-test"]


def test_data_dir_links_packaged_files_but_keeps_our_sounds(instance: AsteriskInstance) -> None:
    instance.write_config()
    data = instance.host_path(instance.layout.data)
    assert os.readlink(data / "documentation") == "/usr/share/asterisk/documentation"
    assert (data / "sounds").is_dir() and not (data / "sounds").is_symlink()
    # links are as Asterisk sees paths (inside the chroot), not host paths
    assert os.readlink(instance.sounds_dir_host / "en") == "/usr/share/asterisk/sounds/en"
    assert (instance.sounds_dir_host / "hotline").is_dir() and not (instance.sounds_dir_host / "hotline").is_symlink()
    assert instance.sounds_dir_host == instance.host_path(instance.sounds_dir)
    assert instance.asterisk_path(instance.sounds_dir_host / "hotline/zh/x.wav") == \
        str(instance.sounds_dir / "hotline/zh/x.wav")


def test_install_sounds_copies_only_what_changed(instance: AsteriskInstance, tmp_path: Path) -> None:
    instance.write_config()
    src = tmp_path / "var-sounds"
    (src / "hotline/zh/gas").mkdir(parents=True)
    (src / "hotline/zh/gas/welcome.wav").write_bytes(b"RIFF1")
    (src / "hotline/zh/gas/half.tmp.wav").write_bytes(b"partial")
    assert instance.install_sounds(src) == 1
    assert (instance.sounds_dir_host / "hotline/zh/gas/welcome.wav").read_bytes() == b"RIFF1"
    assert not (instance.sounds_dir_host / "hotline/zh/gas/half.tmp.wav").exists()
    assert instance.install_sounds(src) == 0
    (src / "hotline/zh/gas/welcome.wav").write_bytes(b"RIFF2")
    assert instance.install_sounds(src) == 1
    with pytest.raises(AsteriskError, match="prompts build"):
        instance.install_sounds(tmp_path / "nothing")


def test_not_running_instance_reports_so_without_touching_processes(instance: AsteriskInstance) -> None:
    instance.write_config()
    instance.pid_file_host.write_text(f"{os.getpid()}\n")  # a live pid that is not this Asterisk
    assert instance.pid() is None and not instance.is_running()
    assert instance.stop() is False and not instance.pid_file_host.exists()
    assert instance.log_tail() == "(no Asterisk log written)"


def test_bad_instance_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AsteriskError, match="instance name"):
        AsteriskInstance(Runtime("sandbox", tmp_path, "22"), Settings.model_validate({}), name="../etc")
