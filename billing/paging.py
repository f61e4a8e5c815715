"""Page numbers of the staff screens' paged lists (`?page=3`, `?invoices_page=2`)."""

LAST_PAGE = 10_000


def page_number(raw: str) -> int:
    """The page a query parameter asks for: a whole number from 1 to LAST_PAGE, else the first
    (a malformed or absurd page is not an error: the list opens at its start)."""
    # ASCII digits only: "²".isdigit() holds, and int("²") raises.
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= LAST_PAGE else 1
