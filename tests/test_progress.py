"""Progress of long loops: a bar on a terminal only; otherwise at most `LINES` plain log lines
per loop, ending with the total (what a Slurm or nohup log shows)."""

from __future__ import annotations

import logging

from nasbench1shot1.progress import LINES, bar


def test_not_on_a_terminal_a_loop_logs_at_most_LINES_plain_lines(caplog):
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress = bar(1000, "build", "cell", lines=log)  # pytest's stderr is not a terminal
        for _ in range(1000):
            progress.update(1)
        progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "test.progress"]
    assert len(lines) == LINES
    assert lines[0].startswith("build: 50/1000 cells") and lines[-1].startswith(
        "build: 1000/1000 cells")


def test_progress_false_logs_nothing(caplog):
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress = bar(10, "build", "cell", enabled=False, lines=log)
        progress.update(10)
    assert not [r for r in caplog.records if r.name == "test.progress"]
