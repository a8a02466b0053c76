"""Print, after the benchmark table, how many times faster hermes is within each group.

Every benchmark group pairs a hermes entry (its name contains ``hermes``) with what a user would
otherwise run; this summary divides their medians so the ratio needs no mental arithmetic.
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
        if len(ours) != 1 or not others:
            continue
        median = ours[0].stats.median
        for other in sorted(others, key=lambda b: b.stats.median):
            lines.append(
                f"{group}: hermes {median * 1e3:.1f} ms, {other.name} "
                f"{other.stats.median * 1e3:.1f} ms -> hermes is "
                f"{other.stats.median / median:.2f}x faster (medians)"
            )
    if lines:
        terminalreporter.write_sep("-", "hermes speed ratios")
        for line in lines:
            terminalreporter.write_line(line)
