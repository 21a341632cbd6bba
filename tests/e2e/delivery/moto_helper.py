"""What the delivery tests ask of moto's S3 and CloudWatch Logs server, through boto3.

    moto_helper.py setup ENDPOINT BUCKET DAYS   bucket with Object Lock + COMPLIANCE default retention
    moto_helper.py s3 ENDPOINT BUCKET           every object's events and retention, as JSON
    moto_helper.py logs ENDPOINT GROUP          the group's retention and every event, as JSON

Credentials and region come from the environment the test sets (AWS_ACCESS_KEY_ID, ...).
"""

import gzip
import json
import sys

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


def main():
    verb, endpoint, name = sys.argv[1:4]
    if verb == "setup":
        setup(endpoint, name, sys.argv[4])
    elif verb == "s3":
        print(json.dumps(read_s3(endpoint, name)))
    elif verb == "logs":
        print(json.dumps(read_logs(endpoint, name)))
    else:
        sys.exit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()
