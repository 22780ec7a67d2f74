"""Release notes: a Markdown draft from a release's work items (grouped by type) and merged pull
requests (with their links), and that Markdown as HTML. Raw HTML in the Markdown is shown as text, and
links other than http(s) and mailto are not links: notes quote titles typed in other tools."""

import re

from markdown_it import MarkdownIt

from releases.models import PullRequest, Release, WorkItem

# The sections of the notes, in order: (heading, the work item types it gathers).
SECTIONS = [
    ("New", {WorkItem.Type.STORY, WorkItem.Type.EPIC}),
    ("Fixed", {WorkItem.Type.BUG, WorkItem.Type.INCIDENT}),
    ("Other changes", {WorkItem.Type.TASK, WorkItem.Type.SUBTASK, WorkItem.Type.OTHER}),
]
MAX_MARKDOWN = 100_000
_MARKDOWN = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
_SAFE_LINK = re.compile(r"^(https?:|mailto:|/|#)", re.IGNORECASE)
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_MARKDOWN.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))


def notes_draft(release: Release) -> str:
    """The notes as the facts have them: two queries."""
    items = (
        WorkItem.objects.filter(fix_releases=release, descoped=False)
        .order_by("type", "key")
        .values_list("type", "key", "title")
    )
    pulls = release.pull_requests.filter(state=PullRequest.State.MERGED).order_by("merged_at", "number")
    lines = [f"# {_text(str(release))}", ""]
    by_type: dict[str, list[str]] = {}
    for kind, key, title in items:
        by_type.setdefault(kind, []).append(f"- **{_text(key)}** {_text(title)}")
    for heading, kinds in SECTIONS:
        section = [line for kind in sorted(kinds) for line in by_type.get(kind, [])]
        if section:
            lines += [f"## {heading}", "", *section, ""]
    rows = pulls.values("repository", "number", "title", "url", "external_id")
    pull_lines = [_pull_line(pull) for pull in rows]
    if pull_lines:
        lines += ["## Pull requests", "", *pull_lines, ""]
    if len(lines) == 2:
        lines += ["Nothing is in this release's scope yet.", ""]
    return "\n".join(lines)


def notes_html(markdown: str) -> str:
    return _MARKDOWN.render(markdown)


def _pull_line(pull: dict) -> str:
    mark = "!" if "!" in pull["external_id"] else "#"  # a GitLab merge request, as PullRequest.reference
    name = f"{_text(pull['repository'])}{mark}{pull['number']}"
    link = f"[{name}]({pull['url']})" if _SAFE_LINK.match(pull["url"] or "") else name
    return f"- {link} {_text(pull['title'])}"


def _text(value: str) -> str:
    """Plain text inside Markdown: its markup characters escaped, on one line."""
    return _MARKUP.sub(r"\\\1", " ".join(value.split()))
