"""axe-core in the browser tests: inject it into a Playwright page, run the WCAG 2 A/AA and
best-practice rules, and fail on what is serious or critical.

axe-core's script comes bundled in the ``axe-playwright-python`` dev dependency (pinned in
pyproject.toml and requirements-dev.lock), so a fresh clone's ``make test`` has it with no
download at run time. Only the bundled script is used; running and reporting are here.

    audit = AxeAudit()
    page.goto(url)
    audit.check(page, "Your Details, phone")   # records, prints minor/moderate findings
    ...
    audit.assert_clean()                       # fails with every serious/critical one

or, for one page, ``assert_accessible(page)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from axe_playwright_python.base import AXE_SCRIPT

# The rules a test fails on: WCAG 2.0, 2.1 and 2.2 at levels A and AA (2.2 adds target
# size: every control at least 24 px), and Deque's best practices.
FAIL_TAGS = frozenset(
    {"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"}
)
RUN_OPTIONS = {
    "runOnly": {"type": "tag", "values": sorted(FAIL_TAGS)},
    "resultTypes": ["violations"],
}
FAILING = frozenset({"serious", "critical"})
IMPACT_ORDER = {"critical": 0, "serious": 1, "moderate": 2, "minor": 3}


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    page: str  # the label the test gave and the URL axe ran on
    url: str
    help: str
    help_url: str
    targets: tuple[str, ...]
    snippets: tuple[str, ...] = field(default=(), compare=False)
    tags: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def fails(self) -> bool:
        return self.impact in FAILING and bool(self.tags & FAIL_TAGS)

    def describe(self, *, max_nodes: int = 8) -> str:
        lines = [
            f"- {self.rule} ({self.impact}) on {self.page} <{self.url}>: {self.help}",
            f"    {self.help_url}",
            f"    {len(self.targets)} node(s):",
        ]
        for target, snippet in list(zip(self.targets, self.snippets, strict=True))[:max_nodes]:
            lines.append(f"      {target}    {snippet}")
        if len(self.targets) > max_nodes:
            lines.append(f"      ... and {len(self.targets) - max_nodes} more")
        return "\n".join(lines)


def _target(node: dict) -> str:
    # A target is a list of selectors, one per frame or shadow root on the way to the node.
    parts = []
    for part in node.get("target", []):
        parts.append(" >> ".join(part) if isinstance(part, list) else str(part))
    return " | ".join(parts) or "?"


def _snippet(node: dict, limit: int = 140) -> str:
    html = " ".join((node.get("html") or "").split())
    return html if len(html) <= limit else html[: limit - 1] + "…"


def axe_run(page, label: str | None = None) -> list[Violation]:
    """Run axe on the page as it is now and return its violations, the worst first."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    result = page.evaluate("options => window.axe.run(document, options)", RUN_OPTIONS)
    url = page.url
    found = [
        Violation(
            rule=v["id"],
            impact=v.get("impact") or "minor",
            page=label or url,
            url=url,
            help=v["help"],
            help_url=v.get("helpUrl", ""),
            targets=tuple(_target(n) for n in v["nodes"]),
            snippets=tuple(_snippet(n) for n in v["nodes"]),
            tags=frozenset(v.get("tags", ())),
        )
        for v in result["violations"]
    ]
    return sorted(found, key=lambda v: (IMPACT_ORDER.get(v.impact, 9), v.rule))


def report(violations: list[Violation]) -> str:
    failing = [v for v in violations if v.fails]
    pages = len({v.page for v in failing})
    head = (
        f"axe-core: {len(failing)} serious or critical violation(s) on {pages} page(s) "
        f"({sum(len(v.targets) for v in failing)} node(s)):"
    )
    return "\n".join([head, *(v.describe() for v in failing)])


class AxeAudit:
    """Checks page after page and fails once, at the end, with everything it found."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.pages: list[str] = []

    def check(self, page, label: str | None = None) -> list[Violation]:
        found = axe_run(page, label)
        self.pages.append(label or page.url)
        self.violations.extend(found)
        failing = [v for v in found if v.fails]
        notes = [v for v in found if not v.fails]
        summary = (
            ", ".join(
                f"{v.rule} ({v.impact}{'' if v.fails else ', not failed on'}, {len(v.targets)})"
                for v in found
            )
            or "clean"
        )
        print(f"axe: {label or page.url} <{page.url}>: {summary}")
        for v in notes:  # minor, moderate and WCAG 2.2: shown, not failed on
            print(v.describe(max_nodes=3))
        return failing

    @property
    def failing(self) -> list[Violation]:
        return [v for v in self.violations if v.fails]

    def assert_clean(self) -> None:
        print(f"axe: checked {len(self.pages)} page(s)")
        if self.failing:
            raise AssertionError(report(self.violations))


def assert_accessible(page, label: str | None = None) -> None:
    """Fail now if the page has a serious or critical violation (prints the rest)."""
    audit = AxeAudit()
    audit.check(page, label)
    audit.assert_clean()
