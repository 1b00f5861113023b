"""CSV cells a spreadsheet would run as formulas, neutralized and restored.

A cell starting with =, +, -, @, a tab or a carriage return gets a leading quote, which spreadsheets show
as text; a cell that already starts with a quote gets another, so from_spreadsheet_safe is its exact
inverse. Every other cell is left byte for byte as it is.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def spreadsheet_safe(cell: str) -> str:
    """A leading quote keeps =, +, -, @ from becoming a formula; a leading quote itself is doubled."""
    return ESCAPE + cell if cell.startswith(FORMULA_STARTS) or cell.startswith(ESCAPE) else cell


def from_spreadsheet_safe(cell: str) -> str:
    """Undoes spreadsheet_safe."""
    return cell[1:] if cell.startswith(ESCAPE) and (cell[1:].startswith(FORMULA_STARTS) or cell[1:].startswith(ESCAPE)) else cell
