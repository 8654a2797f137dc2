from tests.engine.conftest import world  # noqa: F401
