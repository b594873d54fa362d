ALTER TABLE servers ADD COLUMN scan_failures integer NOT NULL DEFAULT 0, ADD COLUMN last_scan_ok_at timestamptz;
