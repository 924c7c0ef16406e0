"""Help screens people can read: value labels as words (TEXT, INTEGER), none on flags, plain argument names.

Typer labels every option with its Python type (`<bool>` even on a flag that takes no value) and writes
required arguments as `{name}` in usage lines; both read as noise or as literal syntax. This adjusts the
display methods once, at import of the CLI package; parsing is untouched.
"""

from __future__ import annotations

LABELS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": None, "path": "PATH", "Path": "PATH"}


def plain_label(label: str | None, is_flag: bool) -> str | None:
    """'<int range>' -> 'INTEGER'; a flag gets no label at all."""
    if label is None or is_flag:
        return None
    if not (label.startswith("<") and label.endswith(">")):
        return label
    word = label[1:-1].removesuffix(" range").strip()
    return LABELS.get(word, word.upper())


def install() -> None:
    from typer import core

    if not all(hasattr(core, n) for n in ("TyperOption", "TyperArgument", "_TyperParameter")):
        return  # another Typer layout: its own help format stands
    option_display = core.TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        if self.metavar is not None:
            return self.metavar
        return plain_label(option_display(self, ctx), bool(getattr(self, "is_flag", False)))

    def argument_display(self, ctx):
        return plain_label(core._TyperParameter.display_type_rich(self, ctx), False)

    def usage_name(self) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    core.TyperOption.display_type_rich = display_type_rich
    core.TyperArgument.display_type_rich = argument_display
    core.TyperArgument._usage_display_name = usage_name
