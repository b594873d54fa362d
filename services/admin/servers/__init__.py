"""Partner SFTP servers: their settings, connection tests, scans and bulk retries."""
