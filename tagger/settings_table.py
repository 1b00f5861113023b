"""The README's settings table, made from the settings model so the two never differ.

    python -m tagger.settings_table    # prints the table; tests/test_readme.py checks the README holds it
"""

from pydantic import BaseModel

from tagger.settings import Settings

BEGIN = "<!-- settings table: made by `python -m tagger.settings_table`; tests/test_readme.py checks it -->"
END = "<!-- end of settings table -->"


def sections(model: type[BaseModel], prefix: str = ""):
    """(section name, its model) for every section, nested ones (train.head) after their parent."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield f"{prefix}{name}", annotation
            yield from sections(annotation, f"{prefix}{name}.")


def default_text(field) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        return "(none)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def settings_table() -> str:
    lines = [BEGIN, "", "| setting | default | what it does |", "|---|---|---|"]
    for section, model in sections(Settings):
        lines.append(f"| **{section}** | | {(model.__doc__ or '').strip().splitlines()[0]} |")
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                continue
            description = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{section}.{name}` | {default_text(field)} | {description} |")
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
