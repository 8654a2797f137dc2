"""Bureau intake: the web form behind signed links, and the coordinator's actions."""
