"""What the database and the broker know about the whole pipeline, as gauges of the admin's
``/metrics``: computed by this one service at scrape time, so that N replicas of the
pipeline's services neither multiply these series nor the queries behind them."""
