"""The secrets detector: what a gateway user sees redacted, and what must pass untouched."""

from __future__ import annotations

import itertools
import json
import random
import string
import time

import pytest

from middleware.guardrails.detectors.secrets import find_secrets

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def rand(alphabet: str, size: int, seed: int) -> str:
    """A reproducible random body, so no test hard-codes a credential-shaped literal."""
    rng = random.Random(seed)
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(size))
        mixed = value != value.lower() or not any(c.isalpha() for c in alphabet) or alphabet == HEX
        if any(c.isdigit() for c in value) and mixed:
            return value


def spans(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in find_secrets(text)]


PROVIDER_TOKENS = [
    ("AKIA" + rand(string.ascii_uppercase + string.digits, 16, 1), "aws_key"),
    ("ghp_" + rand(ALNUM, 36, 2), "github"),
    ("ghs_" + rand(ALNUM, 36, 3), "github"),
    ("github_pat_" + rand(ALNUM, 22, 4) + "_" + rand(ALNUM, 59, 5), "github"),
    ("glpat-" + rand(ALNUM, 20, 6), "gitlab"),
    (
        "xoxb-" + rand(string.digits, 12, 7) + "-" + rand(string.digits, 13, 8) + "-" + rand(ALNUM, 24, 9),
        "slack",
    ),
    ("sk_live_" + rand(ALNUM, 24, 10), "stripe"),
    ("rk_test_" + rand(ALNUM, 24, 11), "stripe"),
    ("AIza" + rand(ALNUM + "_-", 35, 12), "google"),
    ("sk-proj-" + rand(ALNUM, 48, 13) + "T3BlbkFJ" + rand(ALNUM, 20, 14), "llm_key"),
    ("sk-ant-api03-" + rand(ALNUM + "-_", 93, 15), "llm_key"),
    ("hf_" + rand(ALNUM, 34, 16), "huggingface"),
    ("npm_" + rand(ALNUM, 36, 17), "npm"),
    ("SG." + rand(ALNUM, 22, 18) + "." + rand(ALNUM, 43, 19), "sendgrid"),
    ("dop_v1_" + rand(HEX, 64, 20), "digitalocean"),
    ("shpat_" + rand(HEX, 32, 21), "shopify"),
    ("hvs." + rand(ALNUM, 90, 22), "vault"),
    ("key-" + rand(HEX, 32, 23), "mailgun"),
]


@pytest.mark.parametrize(("token", "kind"), PROVIDER_TOKENS)
def test_provider_tokens_are_found_with_exact_spans(token: str, kind: str) -> None:
    for text in (f"export SOME_VAR={token}\n", f'{{"value": "{token}"}}', f"deploy log: using {token} now"):
        assert spans(text) == [(kind, token)]


def test_only_the_value_of_an_assignment_is_redacted() -> None:
    password = rand(ALNUM + "!#*", 18, 30)
    for text in (f"DB_PASSWORD={password}", f'password: "{password}"', f"  --password={password} --host db"):
        findings = find_secrets(text)
        assert [text[f.start : f.end] for f in findings] == [password]


def test_name_value_pairs_redact_the_value() -> None:
    """Config formats that put the name and the value in separate fields (XML, JSON, Kubernetes env)."""
    secret = rand(ALNUM, 28, 32)
    for text in (
        f'<add key="PaymentApiSecret" value="{secret}" />',
        f'{{"name": "SERVICE_TOKEN", "value": "{secret}"}}',
        f"env:\n  - name: DB_PASSWORD\n    value: {secret}\n",
    ):
        assert spans(text) == [("generic", secret)], text
    reference = "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n"
    assert find_secrets(reference) == []
    assert find_secrets('{"name": "SERVICE_TOKEN", "value": "${SERVICE_TOKEN}"}') == []


def test_registry_login_password_flag_and_digit_free_aws_key_id() -> None:
    password = rand(ALNUM, 22, 33)
    assert spans(f"docker login -u ci -p {password} registry.internal") == [("generic", password)]
    assert find_secrets("ssh -p 2222 deploy@login.internal") == []
    assert find_secrets("docker login -u ci -p $CI_REGISTRY_PASSWORD registry.internal") == []
    letters = random.Random(34)
    key_id = "AKIA" + "".join(letters.choice(string.ascii_uppercase) for _ in range(16))
    assert spans(f"aws_access_key_id = {key_id}") == [("aws_key", key_id)]


def test_url_credentials_redact_the_password_only() -> None:
    password = rand(ALNUM, 14, 31)
    text = f"conn = connect('postgresql://svc_orders:{password}@10.1.2.3:5432/orders')"
    assert spans(text) == [("conn_string", password)]
    proxy = f"https_proxy=http://jdoe:{password}@proxy.internal:3128"
    assert spans(proxy) == [("basic_auth", password)]


def test_private_key_block_is_redacted_whole_and_public_material_is_not() -> None:
    body = "\n".join(rand(B64, 64, 40 + line) for line in range(6))
    block = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----"
    text = f"key file:\n{block}\ndone"
    assert spans(text) == [("private_key", block)]
    certificate = block.replace("EC PRIVATE KEY", "CERTIFICATE")
    assert find_secrets(certificate) == []
    assert find_secrets("-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----") == []


def test_escaped_private_key_in_service_account_json() -> None:
    body = "\\n".join(rand(B64, 64, 50 + line) for line in range(4))
    text = json.dumps({"type": "service_account"})[:-1] + (
        f', "private_key": "-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n"}}'
    )
    assert [kind for kind, _ in spans(text)] == ["private_key"]


def test_jwt_needs_a_json_header_with_alg_and_a_signature() -> None:
    header = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"ES256","typ":"JWT"}
    token = f"{header}.eyJzdWIiOiJzdmMtNDIifQ.{rand(ALNUM + '_-', 86, 60)}"
    assert spans(f"Authorization: Bearer {token}") == [("jwt", token)]
    assert find_secrets(f"id: {header}.eyJzdWIiOiJzdmMtNDIifQ.") == []
    assert find_secrets("eyJub3RhIjoiand0In0.eyJ4IjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl") == []


def test_basic_auth_header_and_aws_pair_in_chat() -> None:
    import base64

    password = rand(ALNUM, 16, 70)
    encoded = base64.b64encode(f"ci-bot:{password}".encode()).decode()
    assert spans(f"Authorization: Basic {encoded}") == [("basic_auth", encoded)]
    key_id = "AKIA" + rand(string.ascii_uppercase + string.digits, 16, 71)
    secret = rand(B64, 40, 72)
    assert spans(f"here you go: {key_id} / {secret} (rotate later)") == [
        ("aws_key", key_id),
        ("aws_secret", secret),
    ]


HARD_NEGATIVES = [
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "OPENAI_API_KEY=<paste-your-key>",
    "token: ${{ secrets.DEPLOY_TOKEN }}",
    "password: '{{ db_password }}'",
    "API_TOKEN=$API_TOKEN",
    "stripe_key = 'sk_live_...9f2c'",
    "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "SLACK_TOKEN=xoxb-insert-token-here",
    "password = 'changeme'",
    "DATABASE_URL=mysql://root:root@localhost:3306/app",
    "amqp://guest:guest@rabbitmq:5672/",
    "Authorization: Bearer <ACCESS_TOKEN>",
    "const stripe = Stripe('pk_live_" + rand(ALNUM, 24, 80) + "');",
    "Refund re_" + rand(ALNUM, 24, 81) + " for customer cus_" + rand(ALNUM, 14, 82),
    "commit " + rand(HEX, 40, 83) + " fix: rotate keys",
    "digest: sha256:" + rand(HEX, 64, 84),
    "request_id=" + rand(HEX, 8, 85) + "-4a1b-4c2d-9e3f-" + rand(HEX, 12, 86),
    "csrf_token: " + rand(ALNUM, 32, 87),
    "nonce=" + rand(ALNUM, 22, 88),
    "max_tokens: 4096",
    "api_key = os.environ['PAYMENTS_API_KEY']",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rand(ALNUM, 43, 89) + " ops@bastion",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA" + rand(B64, 300, 90),
    "Never paste your password or API key into a ticket; rotate tokens every 90 days.",
    "Password reset requested; the token expires in 15 minutes.",
    "password_hash: $2b$12$" + rand(ALNUM + "./", 53, 91),
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_pass_untouched(text: str) -> None:
    assert find_secrets(text) == []


def test_findings_are_sorted_non_overlapping_and_never_quote_the_value() -> None:
    token = "ghp_" + rand(ALNUM, 36, 100)
    password = rand(ALNUM, 15, 101)
    text = (
        f"GH={token}\nurl=https://bot:{password}@git.internal/repo.git\nSECRET_KEY='{rand(ALNUM, 40, 102)}'"
    )
    findings = find_secrets(text)
    assert len(findings) == 3
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    for finding in findings:
        assert finding.detector == "secrets"
        assert text[finding.start : finding.end] not in finding.reason


@pytest.mark.parametrize(
    "unit",
    [
        "password=Ab1!xyZ9 ",
        "keykeykey",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9.e30. ",
        "a://u:p@h ",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA",
        "mysql -p -p -p ",
        "PuTTY-User-Key-File-2: Private-Lines: 9\n",
        "AKIA" * 5,
        "ghp_" + "a" * 30 + " ",
    ],
)
def test_adversarial_near_matches_stay_fast(unit: str) -> None:
    text = (unit * (200_000 // len(unit) + 1))[:200_000]
    began = time.perf_counter()
    find_secrets(text)
    assert time.perf_counter() - began < 2.0
