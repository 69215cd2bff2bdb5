#!/usr/bin/env python3
"""Drives third-party VirusTotal v2 clients against vt-emulator (`cargo xtask clients`).

usage: drive.py BASE_URL PRIVATE_KEY PUBLIC_KEY QUEUED_SHA256

BASE_URL is the emulator's `http://HOST:PORT/vtapi/v2/`. The emulator is expected to run with
its bundled dataset, PRIVATE_KEY as a private key, PUBLIC_KEY as a public key (4 requests a
minute), `--queued QUEUED_SHA256` (a hash it has neither a report nor the bytes of, so it stays
queued) and `--analysis-delay 0`.

Clients (each pointed at BASE_URL by setting the base URL attribute its constructor sets, no
patching of the package):
- virustotal-api (blacktop, module `virus_total_apis`): `PublicApi.base` / `PrivateApi.base`.
  Errors are documented as values: `{"error": ..., "response_code": <HTTP status>}`.
- virustotal-python 0.x (dbrennand): `Virustotal(API_VERSION="v2").BASEURL`. Any status but
  200 raises `VirustotalError` (its documented behaviour).

Prints one line per check, `ok|FAIL <client> <check> <detail>`, and exits 1 if any FAILed.
"""

import json
import os
import sys
import tempfile
import time
import traceback
import urllib.request

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
SAMPLE_MD5 = "99017f6eebbac24f351415dd410d522d"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNKNOWN_MD5 = "00000000000000000000000000000000"
BATCH = [SAMPLE_MD5, EICAR_SHA256.upper(), UNKNOWN_MD5, EMPTY_SHA256]
BATCH_CODES = [1, 1, 0, 1]
URL_FOUND = "http://example.com"
URL_SCANNED = "http://third-party.example/path?q=1"
DOMAIN = "example.com"
IP = "192.0.2.10"

FAILED = []


def check(client, name, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'} {client} {name} {detail}".rstrip(), flush=True)
    if not ok:
        FAILED.append((client, name))


def reset(base):
    """POST /_emulator/reset: empties the quota windows (the public key starts again at 0)."""
    root = base.split("/vtapi/")[0]
    req = urllib.request.Request(root + "/_emulator/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as answer:
        answer.read()


def run_checks(client, steps):
    """Each step: (name, function returning (ok, detail)); an exception is a FAIL."""
    for name, step in steps:
        try:
            ok, detail = step()
        except Exception as e:  # noqa: BLE001 - any exception is a failed check
            ok, detail = False, f"raised {type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        check(client, name, ok, detail)


def report_checks(report, comment, file_report, batch, scan_file, url_report, url_scan,
                  domain_report, ip_report, put_comment, get_comments):
    """The checks both clients share, on the decoded JSON each one gives back."""
    state = {}

    def single_found():
        r = file_report(EICAR_MD5)
        return (r["response_code"] == 1 and r["positives"] > 0 and r["md5"] == EICAR_MD5,
                f"response_code={r['response_code']} positives={r['positives']}/{r['total']}")

    def single_not_found():
        r = file_report(UNKNOWN_MD5)
        return r["response_code"] == 0 and r["resource"] == UNKNOWN_MD5, f"response_code={r['response_code']}"

    def batch_of_4():
        r = batch(BATCH)
        codes = [x["response_code"] for x in r]
        echoed = [x["resource"] for x in r] == BATCH
        return (codes == BATCH_CODES and echoed,
                f"{len(r)} answers, response_codes={codes}, resources echoed in order={echoed}")

    def queued():
        r = file_report(QUEUED)
        return r["response_code"] == -2, f"response_code={r['response_code']} verbose_msg={r.get('verbose_msg')!r}"

    def scan():
        r = scan_file(EICAR)
        state["scan_id"] = r["scan_id"]
        return (r["response_code"] == 1 and r["sha256"] == EICAR_SHA256
                and r["scan_id"].startswith(EICAR_SHA256 + "-"),
                f"response_code={r['response_code']} scan_id={r['scan_id']}")

    def scanned_report():
        r = file_report(state["scan_id"])
        return (r["response_code"] == 1 and r["positives"] > 0,
                f"by scan_id: response_code={r['response_code']} positives={r.get('positives')}")

    def url_found():
        r = url_report(URL_FOUND)
        return (r["response_code"] == 1 and r["url"] == "http://example.com/" and r["positives"] == 0,
                f"response_code={r['response_code']} url={r['url']} positives={r['positives']}/{r['total']}")

    def url_submit():
        r = url_scan(URL_SCANNED)
        state["url_scan_id"] = r["scan_id"]
        return r["response_code"] == 1 and r["scan_id"], f"response_code={r['response_code']} scan_id={r['scan_id']}"

    def url_scanned_report():
        r = url_report(state["url_scan_id"])
        return r["response_code"] == 1, f"by scan_id: response_code={r['response_code']} url={r.get('url')}"

    def domain():
        r = domain_report(DOMAIN)
        return (r["response_code"] == 1 and "resolutions" in r,
                f"response_code={r['response_code']} resolutions={len(r.get('resolutions', []))}")

    def ip():
        r = ip_report(IP)
        return r["response_code"] == 1, f"response_code={r['response_code']} as_owner={r.get('as_owner')!r}"

    def comments_put():
        r = put_comment(EICAR_MD5, comment)
        return r["response_code"] == 1, f"response_code={r['response_code']} verbose_msg={r['verbose_msg']!r}"

    def comments_put_duplicate():
        r = put_comment(EICAR_MD5, comment)
        return r["response_code"] == 0, f"response_code={r['response_code']} verbose_msg={r['verbose_msg']!r}"

    def comments_get():
        r = get_comments(EICAR_MD5)
        texts = [c["comment"] for c in r["comments"]]
        return (r["response_code"] == 1 and comment in texts,
                f"response_code={r['response_code']} {len(texts)} comment(s), ours among them={comment in texts}")

    steps = [
        ("file-report-found", single_found),
        ("file-report-not-found", single_not_found),
        ("file-report-batch-4", batch_of_4),
        ("file-report-queued", queued),
        ("file-scan-eicar", scan),
        ("file-report-of-scan", scanned_report),
        ("url-report", url_found),
        ("url-scan", url_submit),
        ("url-report-of-scan", url_scanned_report),
        ("domain-report", domain),
        ("ip-report", ip),
        ("comments-put", comments_put),
        ("comments-put-duplicate", comments_put_duplicate),
        ("comments-get", comments_get),
    ]
    run_checks(report, steps)


def eicar_file():
    f = tempfile.NamedTemporaryFile(prefix="eicar-", suffix=".com", delete=False)
    f.write(EICAR)
    f.close()
    return f.name


def drive_virustotal_api(base, private, public):
    """blacktop's virustotal-api: results under "results", errors as values."""
    from virus_total_apis import PrivateApi, PublicApi

    name = "virustotal-api"
    api = PublicApi(private)  # the public-API methods, with a private key: no quota
    priv = PrivateApi(private)
    for a in (api, priv):
        a.base = base

    def results(answer):
        if answer.get("response_code") != 200:
            raise RuntimeError(f"HTTP {answer.get('response_code')}: {answer.get('error')}")
        return answer["results"]

    def scan_file(content):
        path = eicar_file()
        try:
            return results(api.scan_file(path))
        finally:
            os.unlink(path)

    report_checks(
        name,
        f"virustotal-api {time.time()}",
        file_report=lambda r: results(api.get_file_report(r)),
        batch=lambda rs: results(api.get_file_report(rs)),
        scan_file=scan_file,
        url_report=lambda u: results(api.get_url_report(u)),
        url_scan=lambda u: results(api.scan_url(u)),
        domain_report=lambda d: results(api.get_domain_report(d)),
        ip_report=lambda i: results(api.get_ip_report(i)),
        put_comment=lambda r, c: results(api.put_comments(r, c)),
        get_comments=lambda r: results(priv.get_comments(r)),
    )

    def quota_204():
        reset(base)
        pub = PublicApi(public)
        pub.base = base
        answers = [pub.get_file_report(EICAR_MD5) for _ in range(5)]
        codes = [a.get("response_code") for a in answers]
        last = answers[-1]
        return (codes == [200, 200, 200, 200, 204] and "error" in last,
                f"public key, 5 requests: HTTP {codes}; the 5th as a value: error={last.get('error')!r}")

    def wrong_key_403():
        bad = PublicApi("not-a-key")
        bad.base = base
        a = bad.get_file_report(EICAR_MD5)
        return (a.get("response_code") == 403 and "error" in a,
                f"HTTP {a.get('response_code')} as a value: error={a.get('error')!r}")

    def private_only_403():
        p = PrivateApi(public)
        p.base = base
        a = p.get_comments(EICAR_MD5)
        return a.get("response_code") == 403, f"comments/get with the public key: HTTP {a.get('response_code')}"

    run_checks(name, [("204-quota", quota_204), ("403-wrong-key", wrong_key_403),
                      ("403-public-key-private-call", private_only_403)])


def drive_virustotal_python(base, private, public):
    """dbrennand's virustotal-python 0.x: `Virustotal.request`, VirustotalError on non-200."""
    from virustotal_python import Virustotal, VirustotalError

    name = "virustotal-python"

    def client(key):
        vt = Virustotal(API_KEY=key, API_VERSION="v2")
        vt.BASEURL = base
        return vt

    vt = client(private)

    # `params` is always passed: the library's default `params={}` is one shared dict, into
    # which `request` writes the apikey.
    def get(endpoint, **params):
        return vt.request(endpoint, params=params).json()

    def post(endpoint, files=None, **params):
        return vt.request(endpoint, params=params, files=files, method="POST").json()

    report_checks(
        name,
        f"virustotal-python {time.time()}",
        file_report=lambda r: get("file/report", resource=r),
        batch=lambda rs: get("file/report", resource=", ".join(rs)),
        scan_file=lambda content: post("file/scan", files={"file": ("eicar.com", content)}),
        url_report=lambda u: get("url/report", resource=u),
        url_scan=lambda u: post("url/scan", url=u),
        domain_report=lambda d: get("domain/report", domain=d),
        ip_report=lambda i: get("ip-address/report", ip=i),
        put_comment=lambda r, c: post("comments/put", resource=r, comment=c),
        get_comments=lambda r: get("comments/get", resource=r),
    )

    def raises(vt_client, endpoint, params):
        try:
            vt_client.request(endpoint, params=params)
        except VirustotalError as e:
            return e.response.status_code, str(e)
        return 200, "no exception"

    def quota_204():
        reset(base)
        pub = client(public)
        outcomes = [raises(pub, "file/report", {"resource": EICAR_MD5}) for _ in range(5)]
        codes = [c for c, _ in outcomes]
        return (codes == [200, 200, 200, 200, 204],
                f"public key, 5 requests: HTTP {codes}; the 5th raised VirustotalError: {outcomes[-1][1]!r}")

    def wrong_key_403():
        code, text = raises(client("not-a-key"), "file/report", {"resource": EICAR_MD5})
        return code == 403, f"HTTP {code}, VirustotalError: {text!r}"

    def private_only_403():
        code, text = raises(client(public), "comments/get", {"resource": EICAR_MD5})
        return code == 403, f"comments/get with the public key: HTTP {code}, VirustotalError: {text!r}"

    run_checks(name, [("204-quota", quota_204), ("403-wrong-key", wrong_key_403),
                      ("403-public-key-private-call", private_only_403)])


def main():
    global QUEUED
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base, private, public, QUEUED = sys.argv[1:]
    drive_virustotal_api(base, private, public)
    drive_virustotal_python(base, private, public)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed", file=sys.stderr)
        sys.exit(1)


QUEUED = ""

if __name__ == "__main__":
    main()
