"""No secret in plaintext anywhere in a stack file: credentials in any URL, and secret-looking
values under any config key that are not Pulumi's `secure:` form."""

from __future__ import annotations

import pytest
import yaml

from multidc.spec import CONFIG_KEY, SpecError, load_stack
from multidc.spec.secrets import names_a_secret, url_credentials

from .conftest import problems, system


@pytest.mark.parametrize("key", ["password", "app:dbPassword", "db_passwd", "api_key", "apiKey", "privateKey",
                                 "ssh-private-key", "client_secret", "token", "vpn_psk", "aws:secretKey",
                                 "openstack:password", "passphrase", "AccessKey"])
def test_keys_that_name_a_secret(key):
    assert names_a_secret(key)


@pytest.mark.parametrize("key", ["token_ttl", "secretName", "passwordLength", "openstack:insecure", "region",
                                 "public_key", "tokenUrl", "private_key_file", "secret_ref", "name"])
def test_keys_about_a_secret_or_not_about_one(key):
    assert not names_a_secret(key)


@pytest.mark.parametrize("text", ["https://user:pw@host.example.kz", "postgres://app:pw@db:5432/app",
                                  "https://ghp_token@github.example.com/x.git", "see https://a:b@c.kz/d for more"])
def test_urls_with_credentials(text):
    assert url_credentials(text)


@pytest.mark.parametrize("text", ["https://host.example.kz/path?x=y@z", "ssh://git@git.example.kz/repo.git",
                                  "mailto:ops@bank.example.kz", "models:/churn-60d/Production"])
def test_urls_without_credentials(text):
    assert not url_credentials(text)


def test_a_credential_in_any_url_of_the_spec_is_named_without_echoing_it(kz):
    system(kz, "ml")["ml"]["models"][0]["model_uri"] = "https://deploy:Sup3rS3cret@mlflow.bank.example.kz/m/1"
    (path, reason), = problems(kz)
    assert path == "systems.ml.ml.models.churn-60d.model_uri" and "carries credentials" in reason
    assert "Sup3rS3cret" not in reason


def _stack(tmp_path, kz, **extra_config):
    (tmp_path / "stacks").mkdir(exist_ok=True)
    config = {CONFIG_KEY: kz, **extra_config}
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": config}))


def _problems_of_stack(tmp_path) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        load_stack("s", tmp_path)
    return caught.value.problems


def test_a_plaintext_secret_under_another_config_key_names_the_key_and_the_fix(tmp_path, kz):
    _stack(tmp_path, kz, **{"app:dbPassword": "hunter2"})
    assert _problems_of_stack(tmp_path) == [(
        "app:dbPassword",
        "'app:dbPassword' holds a secret in plaintext; store it encrypted: "
        "pulumi config set --secret 'app:dbPassword' <value>")]


def test_a_nested_plaintext_secret_names_the_pulumi_path(tmp_path, kz):
    _stack(tmp_path, kz, **{"app:replicas": [{"host": "a", "password": "x"}]})
    (path, reason), = _problems_of_stack(tmp_path)
    assert path == "app:replicas.0.password"
    assert "pulumi config set --secret --path 'app:replicas[0].password' <value>" in reason


@pytest.mark.parametrize("value", [{"secure": "v1:AAAABBBB"}, True, False, None, "", "${secrets.db}"])
def test_encrypted_boolean_empty_and_reference_values_are_not_plaintext_secrets(tmp_path, kz, value):
    _stack(tmp_path, kz, **{"app:dbPassword": value, "app:db": {"password": value, "insecure": "yes"}})
    assert load_stack("s", tmp_path).name == "kz-prod"


def test_config_secrets_are_reported_together_with_spec_problems(tmp_path, kz):
    kz["sites"][1]["role"] = "primary"
    _stack(tmp_path, kz, **{"app:apiToken": 12345})
    assert [path for path, _ in _problems_of_stack(tmp_path)] == ["app:apiToken", "sites"]
