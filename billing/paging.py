"""Page numbers of the staff screens' paged lists (`?page=3`, `?invoices_page=2`)."""

LAST_PAGE = 10_000


def page_number(raw: str) -> int:
    """The page a query parameter asks for: a whole number from 1 to LAST_PAGE, else the first
    (a malformed or absurd page is not an error: the list opens at its start)."""
    return int(raw) if raw.isdigit() and 0 < int(raw) <= LAST_PAGE else 1
