"""CSV cells a spreadsheet would run as formulas, neutralized and restored."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def spreadsheet_safe(cell: str) -> str:
    """A leading quote keeps =, +, -, @ from becoming a formula; a leading quote itself is doubled."""
    return ESCAPE + cell if cell.startswith(FORMULA_STARTS) or cell.startswith(ESCAPE) else cell


def from_spreadsheet_safe(cell: str) -> str:
    """Undoes spreadsheet_safe."""
    return cell[1:] if cell.startswith(ESCAPE) and (cell[1:].startswith(FORMULA_STARTS) or cell[1:].startswith(ESCAPE)) else cell
