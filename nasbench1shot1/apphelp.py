"""The `--help` of each Hydra app: what the app does, its own config groups with a sentence on
each option, and its settings with what the schemas say of them, then Hydra's composed config
(the values a run would take).

It is Hydra's `hydra.help.template`, made by the resolver `nb1s1.help` that each app's primary
config names (`template: ${nb1s1.help:search}`). The groups are those of the app's defaults list
(conf/<app>.yaml), the option sentences come from the registries (`Registry.help`), and each
setting's description is the comment the schema writes beside (or right above) its field, so the
help never repeats what conf/ says.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
from importlib.resources import files
from typing import Any

#: Each app's command, by the name of its primary config (whose heading comment says what the
#: app does).
APPS = {"search": "nb1s1-search", "blackbox": "nb1s1-blackbox", "build": "nb1s1-build",
        "nb1s1_hpo": "nb1s1-hpo", "estimate": "nb1s1-estimate"}
WIDTH = 100
KEY_WIDTH = 28


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment written beside it (or in the comment lines right above it) in
    the source of the dataclass `cls` and of the dataclasses it inherits from."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        comments: dict[int, str] = {}
        columns: dict[int, int] = {}
        code: set[int] = set()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string
                columns[token.start[0]] = token.start[1]
            elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                    tokenize.DEDENT, tokenize.ENDMARKER):
                code.update(range(token.start[0], token.end[0] + 1))
        (node,) = ast.parse(source).body
        for statement in node.body:
            if not (isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)):
                continue
            # comment lines above at the field's own column are about it; deeper ones below a
            # field continue that field's comment
            above, line = [], statement.lineno - 1
            while line in comments and line not in code \
                    and columns[line] == statement.col_offset:
                above.insert(0, comments[line])
                line -= 1
            last = statement.end_lineno + 1
            while last in comments and last not in code and columns[last] > statement.col_offset:
                last += 1
            beside = [comments[n] for n in range(statement.lineno, last) if n in comments]
            text = " ".join(_clean(c) for c in above + beside)
            found[statement.target.id] = text.strip()
    return {k: v for k, v in found.items() if v}


def _clean(comment: str) -> str:
    """A source comment as prose: without '#', type-checker directives and extra spaces."""
    comment = re.sub(r"type:\s*ignore(\[[^\]]*\])?", "", comment)
    return " ".join(comment.replace("#", " ").split())


def _what(app: str) -> str:
    """What the app does: the heading comment of its primary config, up to "Every setting"."""
    lines = (files("nasbench1shot1.conf") / f"{app}.yaml").read_text().splitlines()
    heading = []
    for line in lines:
        if not line.startswith("#"):
            break
        heading.append(_clean(line))
    text = " ".join(heading).split(" Every setting")[0]
    return text.split(": ", 1)[1] if ": " in text else text


def _defaults_list(app: str) -> list[tuple[str, str | None]]:
    """(group, default option) of each config group in the app's defaults list."""
    from omegaconf import OmegaConf

    primary = OmegaConf.load(files("nasbench1shot1.conf") / f"{app}.yaml")
    groups = []
    for entry in primary.get("defaults", []):
        if OmegaConf.is_dict(entry) or isinstance(entry, dict):
            ((group, option),) = dict(entry).items()
            groups.append((str(group), None if option is None else str(option)))
    return groups


def _presets(group: str) -> dict[str, str]:
    """Option -> the first sentence of the comment heading conf/<group>/<option>.yaml (the
    groups of presets: experiment, protocol)."""
    found = {}
    for path in sorted((files("nasbench1shot1.conf") / group).iterdir()):
        if not path.name.endswith(".yaml"):
            continue
        lines = [line for line in path.read_text().splitlines()
                 if line.startswith("#") and "@package" not in line]
        text = " ".join(_clean(line) for line in lines)
        found[path.name[:-5]] = text.split(". ")[0].rstrip(".") + "." if text else ""
    return found


def _options(group: str) -> dict[str, str]:
    from nasbench1shot1.conf import GROUPS

    if group not in GROUPS:
        return _presets(group)
    return {str(name): GROUPS[group].help(name) for name in GROUPS[group]}


def _schema_of(group: str, option: str | None) -> type | None:
    from nasbench1shot1.conf import GROUPS

    if option is None or group not in GROUPS:
        return None
    entry = GROUPS[group].get(option)
    return entry if isinstance(entry, type) else type(entry)


def _settings(schema: type, prefix: str, groups: dict[str, str | None],
              out: list[tuple[str, str]]) -> None:
    """(key, description) of every setting of `schema`; a config group's are those of its
    default option."""
    from nasbench1shot1.conf import GROUPS

    comments = field_comments(schema)
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        option = _schema_of(f.name, groups[f.name]) if f.name in groups else None
        if option is not None:
            own = field_comments(option)
            out += [(f"{key}.{g.name}", own.get(g.name, ""))
                    for g in dataclasses.fields(option) if g.name not in ("name", "kind")]
            continue
        if f.name in groups and f.name in GROUPS:
            continue  # a group with no option chosen
        kind = _resolved_type(schema, f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            _settings(kind, f"{key}.", {}, out)
            continue
        out.append((key, comments.get(f.name, "")))


def _resolved_type(schema: type, name: str) -> Any:
    import typing

    try:
        return typing.get_type_hints(schema).get(name)
    except Exception:  # a hint that does not resolve: not a nested section
        return None


def _rows(pairs: list[tuple[str, str]], indent: int = 2) -> list[str]:
    lines = []
    for key, text in pairs:
        head = " " * indent + key
        if not text:
            lines.append(head)
            continue
        body = textwrap.wrap(text, WIDTH - KEY_WIDTH - indent - 1) or [""]
        if len(head) >= KEY_WIDTH + indent:
            lines.append(head)
            lines += [" " * (KEY_WIDTH + indent) + part for part in body]
        else:
            lines.append(head.ljust(KEY_WIDTH + indent) + body[0])
            lines += [" " * (KEY_WIDTH + indent) + part for part in body[1:]]
    return lines


def app_help(app: str) -> str:
    """The help text of the app whose primary config is conf/<app>.yaml (without Hydra's $CONFIG
    placeholder)."""
    from nasbench1shot1.conf import ROOT_SCHEMAS

    command = APPS[app]
    groups = dict(_defaults_list(app))
    groups.pop(f"{app}_schema", None)
    lines = textwrap.wrap(f"{command}: {_what(app)}", WIDTH)
    lines += [""] + textwrap.wrap(
        f"Usage: {command} [GROUP=OPTION ...] [KEY=VALUE ...]; -m (--multirun) sweeps over "
        "comma-separated values; --cfg job prints the composed config alone.", WIDTH)
    if groups:
        lines += ["", "== Config groups (GROUP=OPTION) =="]
        for group, default in groups.items():
            lines.append(f"{group}:")
            options = [(f"{name}{' (default)' if name == default else ''}", text)
                       for name, text in _options(group).items()]
            lines += _rows(options, indent=4)
    settings: list[tuple[str, str]] = []
    _settings(ROOT_SCHEMAS[app], "", groups, settings)
    lines += ["", "== Settings (KEY=VALUE; a group's are those of its default option, another "
              "option's: --cfg job) =="] + _rows(settings)
    return "\n".join(lines)


def template(app: str) -> str:
    """Hydra's help template of `app`: `app_help` and the composed config ($CONFIG)."""
    text = app_help(app).replace("$", "$$")
    return (f"{text}\n\n== The composed config (the values a run would take with these "
            "overrides) ==\n$CONFIG\nHydra's own options: --hydra-help\n")
