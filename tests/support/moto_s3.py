"""A real S3 API on loopback for the s3-sink tests: moto's server (the image's pyenv Python,
moto 5.2), with signature checking on.

moto checks SigV4 signatures only for credentials its IAM knows and only after
INITIAL_NO_AUTH_ACTION_COUNT unauthenticated calls: the first three calls create a user, allow
it s3:*, and give it an access key; every later call, the bucket's creation included, must be
signed with that key (a wrong secret gets 403 SignatureDoesNotMatch).

Usage: python3 moto_s3.py PORT BUCKET. Prints "credentials <access key id> <secret>" once
the bucket exists, then serves until SIGTERM. SIGUSR1 stops the HTTP server (connections are
refused: the store is down), SIGUSR2 starts it again on the same port; the objects survive, as
moto keeps them in this process's memory.
"""
import json
import os
import signal
import sys
import threading

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

from urllib.parse import quote, unquote, urlparse  # noqa: E402

import boto3  # noqa: E402
import moto.core.authorization  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def _canonical_url(url):
    """moto 5.2 checks an S3 signature against the request path and query as werkzeug decoded
    them, so a key with '=', '+', ';' or a non-ASCII byte, or a listing with prefix=a/, fails even
    when botocore signs it (every object key of the s3-sink has '=' and '+'). S3 itself encodes
    each byte of the decoded key once ('/' and unreserved characters kept) and each query name and
    value: done here, so that moto checks what S3 checks."""
    parsed = urlparse(url)
    path = parsed.path + (";" + parsed.params if parsed.params else "")  # a ';' is part of a key
    query = []
    for pair in parsed.query.split("&") if parsed.query else []:
        name, _, value = pair.partition("=")
        query.append(quote(unquote(name), safe="-_.~") + "=" + quote(unquote(value), safe="-_.~"))
    return parsed._replace(path=quote(unquote(path), safe="/~"), params="", query="&".join(query))


moto.core.authorization.urlparse = _canonical_url


def main():
    port, bucket = int(sys.argv[1]), sys.argv[2]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="s3-sink")
    iam.put_user_policy(UserName="s3-sink", PolicyName="archive", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="s3-sink")["AccessKey"]
    # botocore's default PUT streams an unsigned, checksummed payload that moto cannot verify.
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                      config=Config(s3={"addressing_style": "path", "payload_signing_enabled": True},
                                    request_checksum_calculation="when_required"))
    s3.create_bucket(Bucket=bucket)
    print("credentials", key["AccessKeyId"], key["SecretAccessKey"], flush=True)
    events = []
    wake = threading.Event()

    def on(name):
        def handler(*_):
            events.append(name)
            wake.set()
        return handler

    signal.signal(signal.SIGTERM, on("term"))
    signal.signal(signal.SIGUSR1, on("down"))
    signal.signal(signal.SIGUSR2, on("up"))
    running = True
    while True:
        wake.wait()
        wake.clear()
        while events:
            event = events.pop(0)
            if event == "term":
                if running:
                    server.stop()
                return
            if event == "down" and running:
                server.stop()
                running = False
                print("down", flush=True)
            elif event == "up" and not running:
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
                server.start()
                running = True
                print("up", flush=True)


if __name__ == "__main__":
    main()
