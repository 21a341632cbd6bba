"""What the delivery tests ask of moto's S3 and CloudWatch Logs server, through boto3.

    moto_helper.py setup ENDPOINT BUCKET DAYS   bucket with Object Lock + COMPLIANCE default retention
    moto_helper.py s3 ENDPOINT BUCKET           every object's events and retention, as JSON
    moto_helper.py logs ENDPOINT GROUP          the group's retention and every event, as JSON
    moto_helper.py download ENDPOINT BUCKET PREFIX DIR   every object under PREFIX, as stored,
                                                into DIR (one file each); their keys and retention
    moto_helper.py cert IP CERT KEY             a self-signed certificate for IP (moto's TLS)
    moto_helper.py service-account PATH TOKEN_URI   a Google service-account file (fresh RSA key)
    moto_helper.py tls-proxy IP TARGET_PORT CERT KEY   TLS on IP:<free port> (printed), forwarded
                                                to 127.0.0.1:TARGET_PORT (a plain-HTTP receiver)

Credentials, region and the CA bundle (AWS_CA_BUNDLE = that certificate) come from the
environment the test sets (AWS_ACCESS_KEY_ID, ...).
"""

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import sys
import threading

import boto3


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def setup(endpoint, bucket, days):
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    rule = {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": int(days)}}
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
    )


def retention(s3, bucket, key):
    """The object's own retention if it has one, else the bucket default an object inherits."""
    try:
        r = s3.get_object_retention(Bucket=bucket, Key=key)["Retention"]
        return {"source": "object", "mode": r["Mode"], "until": r["RetainUntilDate"].isoformat()}
    except s3.exceptions.ClientError:
        conf = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        d = conf["Rule"]["DefaultRetention"]
        return {"source": "bucket", "mode": d["Mode"], "days": d.get("Days")}


def read_s3(endpoint, bucket):
    s3 = client("s3", endpoint)
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    objects, events = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            events += [json.loads(line) for line in body.splitlines() if line.strip()]
            objects.append({"key": item["Key"], "retention": retention(s3, bucket, item["Key"])})
    return {"object_lock": lock["ObjectLockEnabled"], "objects": objects, "events": events}


def download(endpoint, bucket, prefix, out):
    """The objects under PREFIX byte for byte (gzip kept), as an auditor would download them."""
    s3 = client("s3", endpoint)
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if not item["Key"].lstrip("/").startswith(prefix):
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            name = item["Key"].strip("/").replace("/", "_")
            with open(f"{out}/{name}", "wb") as f:
                f.write(body)
            objects.append({"key": item["Key"], "retention": retention(s3, bucket, item["Key"])})
    return {"object_lock": lock["ObjectLockEnabled"], "objects": objects}


def read_logs(endpoint, group):
    logs = client("logs", endpoint)
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    if not groups:
        return {"retention_days": None, "events": []}
    events = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        name = stream["logStreamName"]
        got = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
        events += [json.loads(e["message"]) for e in got["events"]]
    return {"retention_days": groups[0].get("retentionInDays"), "events": events}


def cert(ip, cert_path, key_path):
    """A one-day self-signed certificate for IP, which the agents are told to trust (test only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def service_account(path, token_uri):
    """A service-account key file whose token_uri is the test's receiver (no Google involved)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "claude-audit-test",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": "claude-audit@claude-audit-test.iam.gserviceaccount.com",
        "client_id": "1",
        "auth_uri": token_uri,
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": token_uri,
        "client_x509_cert_url": token_uri,
    }
    with open(path, "w") as f:
        json.dump(account, f)


def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for sock in (src, dst):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward(ctx, conn, target_port):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        plain = socket.create_connection(("127.0.0.1", int(target_port)))
    except OSError:
        conn.close()
        return
    threading.Thread(target=pump, args=(plain, tls), daemon=True).start()
    pump(tls, plain)


def tls_proxy(ip, target_port, cert_path, key_path):
    """TLS in front of a plain receiver, for agents that insist on https; runs until killed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    server = socket.create_server((ip, 0))
    print(server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=forward, args=(ctx, conn, target_port), daemon=True).start()


def main():
    verb, endpoint, name = sys.argv[1:4]
    if verb == "service-account":
        service_account(endpoint, name)
    elif verb == "tls-proxy":
        tls_proxy(endpoint, name, sys.argv[4], sys.argv[5])
    elif verb == "cert":
        cert(endpoint, name, sys.argv[4])
    elif verb == "setup":
        setup(endpoint, name, sys.argv[4])
    elif verb == "s3":
        print(json.dumps(read_s3(endpoint, name)))
    elif verb == "download":
        print(json.dumps(download(endpoint, name, sys.argv[4], sys.argv[5])))
    elif verb == "logs":
        print(json.dumps(read_logs(endpoint, name)))
    else:
        sys.exit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()
