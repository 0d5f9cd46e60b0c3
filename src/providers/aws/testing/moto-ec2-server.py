#!/usr/bin/env python3
"""moto's EC2 (with SSM, STS and IAM) in server mode on loopback, for Kiln's AWS provider tests and `--sim`.

    .venv/bin/python src/providers/aws/testing/moto-ec2-server.py   # one JSON line, serves until stdin closes

It binds a free port on 127.0.0.1 and sets up one account, then turns IAM authentication on (moto then checks
every request's SigV4 signature and the caller's IAM policies, and answers DryRun calls by the policy):

- ``admin``: an IAM user allowed everything (Kiln's account in the tests);
- ``readonly``: allowed only ``ec2:Describe*`` and ``ssm:GetParameter`` (for ``kiln check``'s missing permissions);
- the public Deep Learning AMI parameter under ``/aws/service/deeplearning/ami/...``, seeded: moto 5.2 serves
  only the ``ami-amazon-linux-latest``, ``global-infrastructure`` and ``ecs`` public parameters, not the DLAMI ones,
  so the parameter is written here pointing at the DLAMI moto ships in its AMI list.

The JSON line: ``{"url", "region", "admin": {"id", "secret"}, "readonly": {…}, "ami_parameter", "ami_id"}``.
The server exits when its stdin reaches EOF, so it never outlives the process that started it.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time

import boto3
from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.authorization import ActionAuthenticatorMixin
from moto.ssm.models import Parameter, ssm_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"
AMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"


def policy(actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def setup(url: str) -> dict:
    kw = {"endpoint_url": url, "region_name": REGION, "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    iam = boto3.client("iam", **kw)
    out: dict = {}
    for name, doc in {"admin": policy(["*"]), "readonly": policy(["ec2:Describe*", "ssm:GetParameter", "sts:GetCallerIdentity"])}.items():
        iam.create_user(UserName=f"kiln-{name}")
        iam.put_user_policy(UserName=f"kiln-{name}", PolicyName="kiln", PolicyDocument=doc)
        k = iam.create_access_key(UserName=f"kiln-{name}")["AccessKey"]
        out[name] = {"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    ec2 = boto3.client("ec2", **kw)
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["Deep Learning AMI*Ubuntu*"]}])["Images"]
    ami = images[0]["ImageId"] if images else ec2.describe_images()["Images"][0]["ImageId"]
    # PutParameter refuses names under /aws/ ("No access to reserved parameter name"), as AWS does, so the
    # public parameter goes straight into the backend, as moto loads its own public ones.
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters[AMI_PARAMETER].append(
        Parameter(account_id=DEFAULT_ACCOUNT_ID, name=AMI_PARAMETER, value=ami, parameter_type="String", description=None, allowed_pattern=None,
                  keyid=None, last_modified_date=time.time(), version=1, data_type="aws:ec2:image")
    )
    out["ami_parameter"] = AMI_PARAMETER
    out["ami_id"] = ami
    return out


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    account = setup(url)
    # From now on every request is authenticated and authorised (as moto's /moto-api/reset-auth would do).
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    print(json.dumps({"url": url, "region": REGION, **account}), flush=True)
    sys.stdin.read()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
