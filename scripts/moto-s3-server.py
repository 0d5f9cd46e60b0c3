#!/usr/bin/env python3
"""moto's S3 (and IAM, STS) in server mode on loopback, for Kiln's durable-artifact-store tests.

    .venv/bin/python scripts/moto-s3-server.py        # prints one JSON line, serves until stdin closes

It binds a free port on 127.0.0.1, then sets up one account the tests use and turns IAM authentication on
(moto checks every later request's SigV4 signature and the caller's IAM policies):

- bucket ``kiln-artifacts``;
- ``admin``: an IAM user allowed everything (the test's own view of the store, and the caller of AssumeRole);
- ``writer``: an IAM user allowed only s3:PutObject, s3:GetObject and s3:AbortMultipartUpload under ``kiln-artifacts/runs/*``;
- ``readonly``: an IAM user allowed only s3:GetObject there (a store that rejects the watchdog's writes);
- ``role_arn``: a role with the writer's policy, which ``admin`` may assume.

The JSON line: ``{"url", "region", "bucket", "prefix", "admin": {"id", "secret"}, "writer": {…},
"readonly": {…}, "role_arn"}``. The server exits when its stdin reaches EOF, so it never outlives the test
process that started it (even one killed with SIGKILL).

What moto (5.x) enforces, checked by the tests: SigV4 signatures, and the identity policies of IAM users and
of assumed roles (Allow/Deny by action and resource ARN). What it does not: the *session policy* passed to
AssumeRole (AWS intersects it with the role's policy; moto ignores it), and credentials from
GetFederationToken (moto cannot authenticate them). So in these tests the prefix limit is the role's own
policy, and the per-job narrowing of the session policy is only checked for its JSON, not enforced.
"""
from __future__ import annotations

import json
import sys
import threading

import logging

import boto3
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

BUCKET = "kiln-artifacts"
PREFIX = "runs"
REGION = "us-east-1"


def policy(actions: list[str], resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]})


def setup(url: str) -> dict:
    # Auth is still off here (moto's default), so any key may create the account's users.
    kw = {"endpoint_url": url, "region_name": REGION, "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    iam = boto3.client("iam", **kw)
    boto3.client("s3", **kw).create_bucket(Bucket=BUCKET)
    out: dict = {}
    users = {
        "admin": policy(["*"], "*"),
        "writer": policy(["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], f"arn:aws:s3:::{BUCKET}/{PREFIX}/*"),
        "readonly": policy(["s3:GetObject"], f"arn:aws:s3:::{BUCKET}/{PREFIX}/*"),
    }
    for name, doc in users.items():
        iam.create_user(UserName=f"kiln-{name}")
        iam.put_user_policy(UserName=f"kiln-{name}", PolicyName="store", PolicyDocument=doc)
        k = iam.create_access_key(UserName=f"kiln-{name}")["AccessKey"]
        out[name] = {"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="kiln-artifacts", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName="kiln-artifacts", PolicyName="store", PolicyDocument=users["writer"])
    out["role_arn"] = role["Arn"]
    return out


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    account = setup(url)
    # From now on every request is authenticated and authorised: what moto's /moto-api/reset-auth does,
    # done in-process (its HTTP handler answers 500 in the standalone werkzeug app).
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    print(json.dumps({"url": url, "region": REGION, "bucket": BUCKET, "prefix": PREFIX, **account}), flush=True)
    # Serve until the parent closes our stdin (or dies, which closes it too).
    sys.stdin.read()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
