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


#: Width of terminal output written to a pipe or file when $COLUMNS does not say (wide enough that
#: tables keep one row per line for grep and diff).
PIPE_COLUMNS = 200
#: A text column of a table shrinks to no fewer than this many characters before the table is
#: printed as stacked rows instead.
TEXT_MIN_WIDTH = 12


def make_console(stderr: bool = False):
    """The rich Console every terminal renderer prints with: `$COLUMNS` when set (piped or not), else
    the terminal's width, else (a pipe or file) PIPE_COLUMNS."""
    import os

    from rich.console import Console

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(width=int(columns), stderr=stderr)
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(width=PIPE_COLUMNS, stderr=stderr)


def print_section_table(console, s: Section) -> None:
    """`s` as a table when it fits the console with its numbers on one line each; else each row
    stacked (its first cell, then `column value` pairs packed into lines), so that nothing splits a
    number across lines at any width."""
    from rich.markup import escape
    from rich.table import Table

    if _table_width(s) <= console.width:
        table = Table(title=s.title, title_justify="left", title_style="bold cyan", show_lines=False, pad_edge=False)
        for i, c in enumerate(s.columns):
            numeric = i >= s.right_align_from
            table.add_column(c, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold", min_width=min(len(c), TEXT_MIN_WIDTH))
        for r in s.rows:
            table.add_row(*(escape(cell) for cell in r))
        console.print(table)
        return
    print_stacked(console, s.title, s.columns, s.rows, title_style="bold cyan")


def print_stacked(console, title: str, columns: list[str], rows: list[list[str]], title_style: str = "bold", styles: dict | None = None) -> None:
    """Rows of a table too wide for the console, one after another: the first cell on its own line,
    then `column value` pairs packed into lines (a number is never split). `styles` maps a row's
    index to a rich style for its lines."""
    from rich.markup import escape

    if title:
        console.print(f"[{title_style}]{escape(title)}")
    for i, r in enumerate(rows):
        style = (styles or {}).get(i)
        console.print(f"  [bold]{escape(r[0])}[/bold]", highlight=False, style=style)
        pairs = [f"{c} {v}" for c, v in zip(columns[1:], r[1:]) if v not in ("", "-", "?", None)]
        for line in pack(pairs, console.width - 4):
            console.print(f"    {escape(line)}", highlight=False, overflow="fold", style=style)


def _table_width(s: Section) -> int:
    """Columns at their widest for numbers, at most TEXT_MIN_WIDTH for text; plus rich's borders and padding."""
    total = 1
    for i, c in enumerate(s.columns):
        cells = [len(c)] + [len(r[i]) for r in s.rows if i < len(r)]
        total += (max(cells) if i >= s.right_align_from else min(max(cells), TEXT_MIN_WIDTH)) + 3
    return total


def pack(items: list[str], width: int, sep: str = "   ") -> list[str]:
    """Items joined into lines of at most `width` characters, never splitting an item (an item longer
    than the width gets a line of its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(sep) + len(item) <= width:
            lines[-1] += sep + item
        else:
            lines.append(item)
    return lines


def render_terminal(title: str, sections: list[Section], console=None) -> None:
    from rich.markup import escape

    console = console or make_console()
    console.rule(f"[bold]{escape(title)}")
    for s in sections:
        if s.columns:
            print_section_table(console, s)
        else:
            console.print(f"[bold cyan]{escape(s.title)}")
        for n in s.notes:
            console.print(f"  {escape(n)}", highlight=False)
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
