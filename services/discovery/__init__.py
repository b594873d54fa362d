"""Discovery: polls partner servers and records every stable new file version."""
