from tests.billing.conftest import account  # noqa: F401  (the fixture, for these tests too)
