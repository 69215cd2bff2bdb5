#!/usr/bin/env python3
"""Drives third-party VirusTotal v2 clients against vt-emulator, then through a vt-gateway in
front of it (`cargo xtask clients`).

usage: drive.py BASE_URL PRIVATE_KEY PUBLIC_KEY QUEUED_SHA256 GATEWAY_URL TOKEN PLAIN_TOKEN

BASE_URL is the emulator's `http://HOST:PORT/vtapi/v2/`. The emulator is expected to run with
its bundled dataset, PRIVATE_KEY as a private key, PUBLIC_KEY as a public key (4 requests a
minute), `--queued QUEUED_SHA256` (a hash it has neither a report nor the bytes of, so it stays
queued) and `--analysis-delay 0`.

GATEWAY_URL is a `vt-gateway serve` in front of the emulator with PRIVATE_KEY on the private
tier, and a store of its own; TOKEN is a token of it with every right (upload, allinfo,
download), PLAIN_TOKEN one with none. Each client then runs the same checks with TOKEN as its
key through the gateway, and the gateway's own: allinfo, answers equal to the emulator's own,
a repeated lookup answered from the cache (no new request in `/_emulator/stats`), and the
403s of an unknown token and of a token without the `allinfo` right.

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
import urllib.parse
import urllib.request

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
SAMPLE_MD5 = "99017f6eebbac24f351415dd410d522d"
PE_SHA256 = "e478506a219d0f674ea2d03077e80ca4ca549a37792bc4fa686d3a756d3b9fcc"
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


def virustotal_api_calls(base, key):
    """The shared checks' calls through blacktop's virustotal-api at `base` with `key`: results
    under "results", errors as values."""
    from virus_total_apis import PrivateApi, PublicApi

    api = PublicApi(key)  # the public-API methods, with a private key: no quota
    priv = PrivateApi(key)
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

    return dict(
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


def drive_virustotal_api(base, private, public):
    """blacktop's virustotal-api against the emulator."""
    from virus_total_apis import PrivateApi, PublicApi

    name = "virustotal-api"
    report_checks(name, f"virustotal-api {time.time()}", **virustotal_api_calls(base, private))

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


def virustotal_api_through(gateway):
    """blacktop's virustotal-api through the gateway, TOKEN as its key."""
    from virus_total_apis import PrivateApi, PublicApi

    name = "virustotal-api@gateway"
    report_checks(name, f"virustotal-api through the gateway {time.time()}",
                  **virustotal_api_calls(gateway.url, gateway.token))

    def ask(key, label):
        api, priv = PublicApi(key), PrivateApi(key)
        api.base = priv.base = gateway.url
        answer = {
            "file-batch": lambda: api.get_file_report(BATCH),
            # PrivateApi's file report asks for allinfo=1 by default.
            "file-allinfo": lambda: priv.get_file_report(PE_SHA256),
            "url": lambda: api.get_url_report(URL_FOUND),
            "domain": lambda: api.get_domain_report(DOMAIN),
            "ip": lambda: api.get_ip_report(IP),
        }[label]()
        seen = f"error value {answer['error']!r}" if "error" in answer else "results"
        return Answer(answer.get("response_code"), answer.get("results"), None, None, seen)

    gateway_checks(name, ask, gateway)


def drive_virustotal_python(base, private, public):
    """dbrennand's virustotal-python 0.x against the emulator."""
    from virustotal_python import VirustotalError

    name = "virustotal-python"
    report_checks(name, f"virustotal-python {time.time()}", **virustotal_python_calls(base, private))

    def raises(vt_client, endpoint, params):
        try:
            vt_client.request(endpoint, params=params)
        except VirustotalError as e:
            return e.response.status_code, str(e)
        return 200, "no exception"

    def quota_204():
        reset(base)
        pub = virustotal_python_client(base, public)
        outcomes = [raises(pub, "file/report", {"resource": EICAR_MD5}) for _ in range(5)]
        codes = [c for c, _ in outcomes]
        return (codes == [200, 200, 200, 200, 204],
                f"public key, 5 requests: HTTP {codes}; the 5th raised VirustotalError: {outcomes[-1][1]!r}")

    def wrong_key_403():
        code, text = raises(virustotal_python_client(base, "not-a-key"), "file/report", {"resource": EICAR_MD5})
        return code == 403, f"HTTP {code}, VirustotalError: {text!r}"

    def private_only_403():
        code, text = raises(virustotal_python_client(base, public), "comments/get", {"resource": EICAR_MD5})
        return code == 403, f"comments/get with the public key: HTTP {code}, VirustotalError: {text!r}"

    run_checks(name, [("204-quota", quota_204), ("403-wrong-key", wrong_key_403),
                      ("403-public-key-private-call", private_only_403)])


def virustotal_python_client(base, key):
    from virustotal_python import Virustotal

    vt = Virustotal(API_KEY=key, API_VERSION="v2")
    vt.BASEURL = base
    return vt


def virustotal_python_calls(base, key):
    """The shared checks' calls through dbrennand's virustotal-python 0.x at `base` with `key`:
    `Virustotal.request`, VirustotalError on non-200."""
    vt = virustotal_python_client(base, key)

    # `params` is always passed: the library's default `params={}` is one shared dict, into
    # which `request` writes the apikey.
    def get(endpoint, **params):
        return vt.request(endpoint, params=params).json()

    def post(endpoint, files=None, **params):
        return vt.request(endpoint, params=params, files=files, method="POST").json()

    return dict(
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


def virustotal_python_through(gateway):
    """dbrennand's virustotal-python through the gateway, TOKEN as its key: the raw response is
    at hand (`requests_response`), so answers are compared byte for byte and the cache header is
    read."""
    from virustotal_python import VirustotalError

    name = "virustotal-python@gateway"
    report_checks(name, f"virustotal-python through the gateway {time.time()}",
                  **virustotal_python_calls(gateway.url, gateway.token))
    lookups = {label: (endpoint, params) for label, endpoint, params in GATEWAY_LOOKUPS}

    def ask(key, label):
        endpoint, params = lookups[label]
        try:
            response = virustotal_python_client(gateway.url, key).request(
                endpoint, params=dict(params)).requests_response
        except VirustotalError as e:
            return Answer(e.response.status_code, None, None, e.response.headers.get(CACHE_HEADER),
                          f"VirustotalError {str(e)!r}")
        return Answer(response.status_code, response.json(), response.content,
                      response.headers.get(CACHE_HEADER), "a response")

    gateway_checks(name, ask, gateway)


# The gateway's own checks ask these lookups, with the parameters each client sends for them:
# (label, endpoint, parameters).
GATEWAY_LOOKUPS = [
    ("file-batch", "file/report", {"resource": ", ".join(BATCH)}),
    ("file-allinfo", "file/report", {"resource": PE_SHA256, "allinfo": "1"}),
    ("url", "url/report", {"resource": URL_FOUND, "scan": "0"}),
    ("domain", "domain/report", {"domain": DOMAIN}),
    ("ip", "ip-address/report", {"ip": IP}),
]
CACHE_HEADER = "X-VT-Gateway-Cache"
UNKNOWN_TOKEN = "f" * 64


class Gateway:
    """The gateway and what the checks through it need (see the usage)."""

    def __init__(self, url, emulator, key, token, plain):
        self.url, self.emulator, self.key, self.token, self.plain = url, emulator, key, token, plain

    def direct(self, endpoint, params):
        """The emulator's own answer to a lookup, asked with the real key: its bytes."""
        query = urllib.parse.urlencode(dict(params, apikey=self.key))
        with urllib.request.urlopen(f"{self.emulator}{endpoint}?{query}", timeout=10) as answer:
            return answer.read()

    def upstream_requests(self):
        """The requests the emulator has answered (`GET /_emulator/stats`)."""
        root = self.emulator.split("/vtapi/")[0]
        with urllib.request.urlopen(root + "/_emulator/stats", timeout=10) as answer:
            return json.loads(answer.read())["requests"]


class Answer:
    """A lookup through the gateway as a client gave it back: the HTTP status, the decoded JSON
    (None for an error), the bytes (None where the client does not expose them), the
    X-VT-Gateway-Cache header (None where the client hides headers), and how the client
    presented it."""

    def __init__(self, status, report, raw, cache, seen):
        self.status, self.report, self.raw, self.cache, self.seen = status, report, raw, cache, seen


def gateway_checks(client, ask, gateway):
    """The gateway's checks, for a client whose `ask(key, label)` makes the lookup `label` of
    GATEWAY_LOOKUPS through the gateway and gives an Answer."""

    def allinfo():
        a = ask(gateway.token, "file-allinfo")
        return (a.status == 200 and a.report["response_code"] == 1 and "additional_info" in a.report,
                f"HTTP {a.status} response_code={a.report['response_code']} "
                f"additional_info={'additional_info' in a.report}")

    def equal_to_direct():
        differ, how = [], set()
        for label, endpoint, params in GATEWAY_LOOKUPS:
            a = ask(gateway.token, label)
            own = gateway.direct(endpoint, params)
            if a.raw is not None:
                how.add("byte for byte")
                equal = a.raw == own
            else:
                how.add("as JSON values")
                equal = a.report == json.loads(own)
            if a.status != 200 or not equal:
                differ.append(label)
        labels = ", ".join(label for label, _, _ in GATEWAY_LOOKUPS)
        return not differ, f"{labels} compared {' and '.join(sorted(how))}: differ={differ}"

    def cached():
        # Each lookup was asked through the gateway just before (equal_to_direct).
        before = gateway.upstream_requests()
        answers = [ask(gateway.token, label) for label, _, _ in GATEWAY_LOOKUPS]
        new = gateway.upstream_requests() - before
        statuses = [a.status for a in answers]
        headers = [a.cache for a in answers]
        hits = all(h is None for h in headers) or all(h == "hit" for h in headers)
        shown = f", {CACHE_HEADER}: {headers}" if any(h is not None for h in headers) else ""
        return (new == 0 and hits and statuses == [200] * len(answers),
                f"{len(answers)} lookups again: HTTP {statuses}, {new} new upstream request(s){shown}")

    def unknown_token_403():
        a = ask(UNKNOWN_TOKEN, "file-batch")
        return a.status == 403, f"HTTP {a.status}, {a.seen}"

    def no_allinfo_right_403():
        refused = ask(gateway.plain, "file-allinfo")
        plain = ask(gateway.plain, "file-batch")
        return (refused.status == 403 and plain.status == 200,
                f"allinfo=1: HTTP {refused.status}, {refused.seen}; the same token without "
                f"allinfo: HTTP {plain.status}")

    run_checks(client, [("file-report-allinfo", allinfo), ("answers-equal-direct", equal_to_direct),
                        ("repeated-lookups-from-cache", cached),
                        ("403-unknown-token", unknown_token_403),
                        ("403-token-without-allinfo", no_allinfo_right_403)])


def main():
    global QUEUED
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base, private, public, QUEUED, gateway_url, token, plain = sys.argv[1:]
    drive_virustotal_api(base, private, public)
    drive_virustotal_python(base, private, public)
    gateway = Gateway(gateway_url, base, private, token, plain)
    virustotal_api_through(gateway)
    virustotal_python_through(gateway)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed", file=sys.stderr)
        sys.exit(1)


QUEUED = ""

if __name__ == "__main__":
    main()
