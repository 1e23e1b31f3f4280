"""Identity: accounts, organisations, roles, people and consent."""
