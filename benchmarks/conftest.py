"""Print, after the benchmark table, how many times faster hermes is within each group.

Every benchmark group pairs hermes entries (their names contain ``hermes``) with what a user would
otherwise run; this summary divides their times (the fastest rounds, less disturbed by other work
on a shared machine, and the medians) so the ratio needs no mental arithmetic.
"""

from __future__ import annotations

from collections import defaultdict

import pytest


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    session = getattr(config, "_benchmarksession", None)
    benchmarks = [b for b in getattr(session, "benchmarks", []) if b]  # empty when disabled
    groups: dict[str, list] = defaultdict(list)
    for bench in benchmarks:
        groups[bench.group or "(no group)"].append(bench)
    lines = []
    for group, members in sorted(groups.items()):
        ours = [b for b in members if "hermes" in b.name]
        others = [b for b in members if "hermes" not in b.name]
        for mine in ours:
            best, median = mine.stats.min, mine.stats.median
            for other in sorted(others, key=lambda b: b.stats.median):
                lines.append(
                    f"{group}: {mine.name} {best * 1e3:.1f} / {median * 1e3:.1f} ms, "
                    f"{other.name} {other.stats.min * 1e3:.1f} / "
                    f"{other.stats.median * 1e3:.1f} ms (min / median) -> "
                    f"{other.stats.min / best:.2f}x / {other.stats.median / median:.2f}x faster"
                )
    if lines:
        terminalreporter.write_sep("-", "hermes speed ratios")
        for line in lines:
            terminalreporter.write_line(line)
