"""Open pixel and click redirect of our emails."""

urlpatterns: list = []
