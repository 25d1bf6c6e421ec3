"""Report sections as plain tables, rendered to the terminal (rich) or Markdown by the same code."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sentences printed under the table
    right_align_from: int = 1  # columns from this index on are numbers


def fmt(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def pct(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_terminal(title: str, sections: list[Section], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or redirected: wide enough that tables do not fold
            console = Console(width=200)
    console.rule(f"[bold]{title}")
    for s in sections:
        if s.columns:
            table = Table(title=s.title, title_justify="left", title_style="bold cyan", show_lines=False, pad_edge=False)
            for i, c in enumerate(s.columns):
                table.add_column(c, justify="right" if i >= s.right_align_from else "left", overflow="fold")
            for r in s.rows:
                table.add_row(*r)
            console.print(table)
        else:
            console.print(f"[bold cyan]{s.title}")
        for n in s.notes:
            console.print(f"  {n}", soft_wrap=False)
        console.print()


def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"## {title}", ""]
    for s in sections:
        out.append(f"### {s.title}")
        out.append("")
        if s.columns:
            out.append("| " + " | ".join(s.columns) + " |")
            out.append("|" + "|".join("---:" if i >= s.right_align_from else "---" for i in range(len(s.columns))) + "|")
            for r in s.rows:
                out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
            out.append("")
        for n in s.notes:
            out.append(f"- {n}")
        if s.notes:
            out.append("")
    return "\n".join(out)
