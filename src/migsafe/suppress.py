"""Suppression comments: `migsafe: ignore[rule,...] reason` and `ignore-file[rule,...] reason`.

A suppression must give a reason a reviewer can read in the diff; one without a reason, with
an unknown rule or with nothing in the brackets is itself reported as `bad-suppression`.

Where a line suppression applies: to its own line (a trailing comment), and, when it stands on
a comment-only line, to the first code line below the block of comment lines it belongs to
(so an explanatory comment between it and the statement does not break it; a blank line does).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

BAD_SUPPRESSION = "bad-suppression"

# Only after a comment marker (#, --, /*), so prose mentioning migsafe does not count.
# The marker must be the start of a comment: tolerant of spaces and case otherwise.
# The rules stop at any bracket: with `[^\]]*`, a line of many unclosed `-- migsafe: ignore[`
# was scanned to its end from each of them (quadratic: an hour for a 4 MB line).
_SUPPRESSION = re.compile(
    r"(?P<marker>#|--|/\*)\s*migsafe\s*:\s*(?P<kind>ignore-file|ignore)\s*\[(?P<rules>[^\[\]]*)\](?P<reason>.*)",
    re.IGNORECASE,
)
# Something that looks like a suppression but has no bracket, e.g. `# migsafe: ignore drop-column`.
_ATTEMPT = re.compile(r"(#|--|/\*)\s*migsafe\s*:\s*ignore", re.IGNORECASE)


@dataclass
class Suppressions:
    by_line: dict[int, set[str]] = field(default_factory=dict)  # line -> rules silenced there
    whole_file: set[str] = field(default_factory=set)  # rules silenced by ignore-file
    problems: list[tuple[int, int, str]] = field(default_factory=list)  # (line, column, message)

    def is_suppressed(self, rule: str, line: int, end_line: int | None = None) -> bool:
        """True when `rule` is silenced at `line` (or anywhere in line..end_line, so a
        trailing comment on the last line of a multi-line statement counts too).
        bad-suppression is silenced only by ignore-file."""
        if rule in self.whole_file:
            return True
        if rule == BAD_SUPPRESSION:
            return False
        return any(rule in self.by_line.get(n, ()) for n in range(line, (end_line or line) + 1))


def _comment_only_lines(lines: list[str]) -> list[bool]:
    """Per line: does it hold nothing but comment? Follows /* ... */ across lines (naively:
    comment markers inside string literals are not told apart)."""
    out = []
    in_block = False
    for line in lines:
        rest = line.strip()
        if in_block:
            end = rest.find("*/")
            if end < 0:
                out.append(True)
                continue
            in_block = False
            rest = rest[end + 2 :].strip()
            if not rest:
                out.append(True)
                continue
        if rest.startswith(("#", "--")):
            out.append(True)
        elif rest.startswith("/*"):
            end = rest.find("*/", 2)
            in_block = end < 0
            out.append(in_block or not rest[end + 2 :].strip())
        else:
            out.append(False)
    return out


def _reason(text: str) -> str:
    text = text.strip()
    if text.endswith("*/"):  # the end of a /* ... */ comment is not part of the reason
        text = text[:-2].strip()
    return text


def parse_suppressions(text: str, known_rules: set[str]) -> Suppressions:
    result = Suppressions()
    # Split on "\n" only: line numbers must agree with the SQL splitter and Python's ast.
    lines = [line.rstrip("\r") for line in text.split("\n")]
    comment_only = _comment_only_lines(lines)

    def problem(line: int, column: int, message: str) -> None:
        result.problems.append((line, column, message))

    for index, line in enumerate(lines):
        number = index + 1
        match = _SUPPRESSION.search(line)
        if match is None:
            attempt = _ATTEMPT.search(line)
            if attempt:
                problem(number, attempt.start() + 1,
                        'malformed suppression; write "migsafe: ignore[RULE] reason"')
            continue
        column = match.start() + 1
        names = [n.strip().lower() for n in match["rules"].split(",") if n.strip()]
        if not names:
            problem(number, column, "suppression names no rule; write the rule id in the brackets")
            continue
        valid = []
        for name in names:
            if name not in known_rules:
                close = difflib.get_close_matches(name, sorted(known_rules), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                problem(number, column, f'unknown rule "{name}" in suppression{hint}')
            else:
                valid.append(name)
        reason = _reason(match["reason"])
        if not re.search(r"\w", reason):  # punctuation alone explains nothing
            problem(number, column,
                    f"suppression of {', '.join(names)} gives no reason; write why after the bracket")
            continue
        if match["kind"].lower() == "ignore-file":
            result.whole_file.update(valid)
            continue
        if BAD_SUPPRESSION in valid:
            problem(number, column,
                    f"{BAD_SUPPRESSION} can only be silenced for the whole file, with ignore-file[{BAD_SUPPRESSION}]")
            valid.remove(BAD_SUPPRESSION)
        targets = [number]
        if comment_only[index]:
            # The first code line after this block of comment lines; a blank line ends the block.
            below = index + 1
            while below < len(lines) and comment_only[below]:
                below += 1
            if below < len(lines) and lines[below].strip():
                targets.append(below + 1)
        for target in targets:
            result.by_line.setdefault(target, set()).update(valid)
    return result
