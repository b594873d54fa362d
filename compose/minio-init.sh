#!/bin/sh
# minio-init (compose): the bucket, the policy allowing it alone, and the services' S3 user
# holding that policy. Safe to run on every start: each step leaves what exists as it is.
set -eu
mc alias set local http://minio:9000 intake-root "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$INTAKE_S3_BUCKET"
cat >/tmp/intake-policy.json <<JSON
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
  "Resource": ["arn:aws:s3:::$INTAKE_S3_BUCKET", "arn:aws:s3:::$INTAKE_S3_BUCKET/*"]}]}
JSON
mc admin policy create local intake /tmp/intake-policy.json
mc admin user add local "$INTAKE_S3_ACCESS_KEY" "$INTAKE_S3_SECRET_KEY"
# attach refuses a policy the user holds already: that is the state wanted.
mc admin policy attach local intake --user "$INTAKE_S3_ACCESS_KEY" ||
  mc admin user info local "$INTAKE_S3_ACCESS_KEY" | grep -q 'intake'
