import json
import os
import socket
import subprocess
import time

from devstack import proc


def test_start_time_of_this_process_and_of_none():
    assert isinstance(proc.process_start_time(os.getpid()), int)
    assert proc.process_start_time(2**22 + 12345) is None


def test_spawned_process_is_recognised_and_stopped(tmp_path):
    pidfile, logfile = tmp_path / "run" / "x.pid", tmp_path / "logs" / "x.log"
    record = proc.spawn(["sh", "-c", "echo hello; exec sleep 60"], pidfile=pidfile, logfile=logfile)
    assert proc.running_record(pidfile) == record
    assert proc.stop(pidfile, timeout_s=10) == f"stopped (pid {record.pid})"
    assert not pidfile.exists()
    assert proc.running_record(pidfile) is None
    assert "hello" in proc.tail(logfile)
    assert "devstack start" in proc.tail(logfile)


def test_a_reused_pid_is_never_signalled(tmp_path):
    """A pid file whose start time does not match belongs to another process: leave it alone."""
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        start = proc.process_start_time(stranger.pid)
        pidfile = tmp_path / "x.pid"
        pidfile.write_text(json.dumps({"pid": stranger.pid, "start_time": start + 1}))
        assert proc.running_record(pidfile) is None
        assert proc.stop(pidfile, timeout_s=1).startswith("not running")
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_kills_a_process_that_ignores_the_signal(tmp_path):
    pidfile = tmp_path / "x.pid"
    record = proc.spawn(
        # The marker is quoted so the log header (which shows argv) does not already contain it.
        ["sh", "-c", "trap '' TERM; echo \"ign\"ored; while true; do sleep 0.1; done"],
        pidfile=pidfile,
        logfile=tmp_path / "x.log",
    )
    deadline = time.monotonic() + 10
    while "ignored" not in proc.tail(tmp_path / "x.log") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.stop(pidfile, timeout_s=0.5) == f"killed after 0s (pid {record.pid})"
    assert proc.process_start_time(record.pid) is None


def test_port_owner_is_found(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert proc.port_in_use(port)
        assert os.getpid() in [pid for pid, _ in proc.port_owners(port)]
    assert proc.port_owners(port) == []


def test_tail_of_a_missing_log_says_so(tmp_path):
    assert "no log" in proc.tail(tmp_path / "missing.log")


def test_unreadable_pidfile_means_not_running(tmp_path):
    pidfile = tmp_path / "x.pid"
    pidfile.write_text("garbage")
    assert proc.read_pidfile(pidfile) is None
    assert proc.stop(pidfile) == "not running"
