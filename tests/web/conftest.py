from tests.browser import chromium, visit  # noqa: F401
from tests.engine.conftest import world  # noqa: F401
