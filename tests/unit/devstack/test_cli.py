import subprocess
import sys

from devstack.config import REPO_ROOT


def test_down_logs_and_clean_need_only_the_standard_library():
    """`make down/logs/clean` run with the system Python when the venv is absent."""
    code = (
        "import sys, devstack.cli, devstack.services, devstack.proc, devstack.config\n"
        "third = [m for m in sys.modules if m.split('.')[0] in "
        "('confluent_kafka', 'paho', 'psycopg2', 'pydantic', 'yaml')]\n"
        "assert not third, third\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_logs_rejects_an_unknown_service(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "logs", "nosuch"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={"IOT_STACK_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "unknown service 'nosuch'" in result.stderr
