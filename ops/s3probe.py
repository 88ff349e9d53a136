"""One signed S3 request (AWS Signature V4, path style) with the standard library only: enough for
``ops.services`` to prove the bucket takes writes before it says SeaweedFS is ready, without
bringing an S3 SDK into the tool."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(
    info: dict[str, Any], method: str, path: str, body: bytes = b"", timeout: float = 5.0
) -> tuple[int, bytes]:
    """(status, body) of ``method path`` against ``info['endpoint']`` signed with its keys."""
    host = urlsplit(info["endpoint"]).netloc
    now = time.gmtime()
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
    day = amz_date[:8]
    payload = hashlib.sha256(body).hexdigest()
    uri = quote(path, safe="/-_.~")
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    block = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    canonical = "\n".join([method, uri, "", block, signed, payload])
    scope = f"{day}/{info['region']}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + info["secret_key"]).encode(), day)
    for part in (info["region"], "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = (
        f"AWS4-HMAC-SHA256 Credential={info['access_key']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    req = urllib.request.Request(
        info["endpoint"] + uri,
        data=body if method in ("PUT", "POST") else None,
        method=method,
        headers={
            "x-amz-content-sha256": payload,
            "x-amz-date": amz_date,
            "Authorization": auth,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
