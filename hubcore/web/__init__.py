"""The web shell: layout, sign-in, account, navigation, error pages, security."""
