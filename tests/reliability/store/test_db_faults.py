"""A damaged database, a folder podium cannot write, a missing HOME, a port in use: each is a clear
error naming what and where, with the exit code it deserves, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from store_support import damage_pages, env, finished_run, podium, podium_all, unprivileged


def test_a_page_corrupted_database_is_a_clear_fault_in_every_command(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    finished_run(tmp_path, db)
    damage_pages(db)
    commands = [["runs"], ["show", "latest"], ["run", "flow.yaml"], ["gc", "--older-than", "0s"], ["cost"]]
    for command, done in zip(
        commands, podium_all(tmp_path, [[*c, "--db", str(db)] for c in commands]), strict=True
    ):
        assert done.code == 1, (command, done.out)  # a database fault, not the user's input
        assert "Traceback" not in done.out, (command, done.out)
        assert f"{db} is damaged" in done.stderr and "fix:" in done.stderr, (command, done.stderr)


def test_a_folder_podium_cannot_write_is_bad_input_with_the_path(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        done = podium(tmp_path, "runs", "--db", str(locked / "deeper" / "runs.db"), prefix=unprivileged())
    finally:
        locked.chmod(0o755)
    assert done.code == 2, done.out
    assert "Traceback" not in done.out
    assert f"{locked / 'deeper' / 'runs.db'}" in done.stderr and "fix:" in done.stderr
    assert not (locked / "deeper").exists()


def test_a_home_that_does_not_exist_is_bad_input_and_is_not_made(tmp_path: Path) -> None:
    home = tmp_path / "gone"
    done = podium(tmp_path, "runs", environ=env(HOME=str(home)))
    assert done.code == 2, done.out
    assert "Traceback" not in done.out
    assert f"home folder {home} does not exist" in done.stderr and "--db" in done.stderr
    assert not home.exists()


def test_emulate_on_a_port_in_use_or_out_of_range_is_bad_input(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use, too_big = podium_all(
            tmp_path, [["emulate", "bedrock", "--port", str(port)], ["emulate", "bedrock", "--port", "99999"]]
        )
    assert in_use.code == 2 and f"port {port} on 127.0.0.1 is in use" in in_use.stderr, in_use.out
    assert "--port 0" in in_use.stderr
    assert too_big.code == 2 and "99999 is not in the range 0<=x<=65535" in too_big.stderr, too_big.out
    assert "Traceback" not in in_use.out + too_big.out
