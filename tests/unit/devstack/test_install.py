import zipfile
from pathlib import Path

import pytest

from devstack.install import InstallError, apicurio_zip_path, unpack_apicurio


def make_zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, f"content of {name}")
    return path


def test_apicurio_zip_path_is_the_maven_layout_of_the_all_classifier():
    repo = Path("/r")
    assert apicurio_zip_path(repo, "3.0.9") == Path(
        "/r/io/apicurio/apicurio-registry-app/3.0.9/apicurio-registry-app-3.0.9-all.zip"
    )


def test_unpack_apicurio_replaces_a_half_unpacked_tree(tmp_path):
    archive = make_zip(
        tmp_path / "all.zip",
        ["apicurio-registry-app-3.0.9-runner.jar", "lib/a.jar", "meta/x"],
    )
    dest = tmp_path / "apicurio-registry-3.0.9"
    (tmp_path / "apicurio-registry-3.0.9.partial" / "junk").mkdir(parents=True)
    dest.mkdir()
    (dest / "stale.jar").write_text("old")
    unpack_apicurio(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == [
        "apicurio-registry-app-3.0.9-runner.jar",
        "lib",
        "meta",
    ]
    assert (dest / "lib" / "a.jar").read_text() == "content of lib/a.jar"
    assert not (tmp_path / "apicurio-registry-3.0.9.partial").exists()


def test_unpack_apicurio_refuses_an_archive_without_a_runner_jar(tmp_path):
    archive = make_zip(tmp_path / "all.zip", ["lib/a.jar"])
    dest = tmp_path / "apicurio"
    with pytest.raises(InstallError, match=r"no \*-runner\.jar"):
        unpack_apicurio(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "apicurio.partial").exists()
