"""Secrets: credentials are Pulumi secrets, encrypted in the state and masked in every diff.

A policy pack sees resource inputs with Pulumi's secret wrapper already removed (the
Python policy SDK unwraps secrets before a policy runs), so what a policy can check is the
resource option that makes a value secret in the state: `additional_secret_outputs`. Every
generated provider SDK sets it for the fields its schema marks secret; anything else
(dynamic resources, generated strings, fields a schema does not mark) must set it itself.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from multidc.contract import TYPE_PREFIX

from mdc.common import is_credential_name, plain
from mdc.kubernetes import containers, pod_spec

RANDOM_STRINGS = {"random:index/randomString:RandomString": "result", "random:index/randomId:RandomId": "hex"}
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


# --- MDC-SEC-001 ------------------------------------------------------------------------------

def validate_credentials_secret(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type.startswith((TYPE_PREFIX, "kubernetes:")):
        return  # components carry no credentials; Kubernetes objects are MDC-SEC-002's
    secret = set(args.opts.additional_secret_outputs or ())
    for key in args.props:
        if not is_credential_name(key) or key in secret:
            continue
        if plain(args.props[key]) not in (None, "", [], {}):
            report_violation(
                f"Input '{key}' of '{args.name}' holds a credential that is not a Pulumi secret: it is stored in "
                "plain text in the stack state and shown in diffs. Pass it as pulumi.Output.secret(...) and list it "
                f"in additional_secret_outputs=['{key}'] (the option is what makes it secret in the state, and what "
                "a policy can see).")


credentials_secret = ResourceValidationPolicy(
    name="mdc-sec-001-credentials-secret",
    description="Requires every credential input (password, secret, token, key, psk) to be a Pulumi secret.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_credentials_secret,
)


# --- MDC-SEC-002 ------------------------------------------------------------------------------

def validate_kubernetes_plaintext(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CONFIG_MAP:
        for key in plain(args.props.get("data") or {}):
            if is_credential_name(key):
                report_violation(
                    f"ConfigMap '{args.name}' holds '{key}': ConfigMaps are stored unencrypted and readable by "
                    "anyone who may read configuration. Move it to a Secret built from a Pulumi secret.")
        return
    for container in containers(pod_spec(args.resource_type, args.props)):
        for variable in container.get("env") or []:
            if is_credential_name(variable.get("name", "")) and variable.get("value"):
                report_violation(
                    f"Container '{container.get('name')}' of '{args.name}' sets {variable['name']} as a literal "
                    "value: it is stored in plain text in the object and the stack state. Take it from a Secret "
                    "with valueFrom.secretKeyRef.")


kubernetes_plaintext = ResourceValidationPolicy(
    name="mdc-sec-002-kubernetes-plaintext",
    description="Prohibits credentials in Kubernetes environment values and ConfigMaps.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_kubernetes_plaintext,
)


# --- MDC-SEC-003 ------------------------------------------------------------------------------

def validate_generated_secret(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    output = RANDOM_STRINGS.get(args.resource_type)
    if output is None or not is_credential_name(args.name):
        return
    if output not in (args.opts.additional_secret_outputs or ()):
        report_violation(
            f"'{args.name}' generates a credential but its '{output}' is not a secret: the value is stored in plain "
            f"text in the stack state. Use random.RandomPassword, or set additional_secret_outputs=['{output}'].")


generated_secret = ResourceValidationPolicy(
    name="mdc-sec-003-generated-secret",
    description="Requires generated credentials (random strings and IDs named as credentials) to be secrets.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_generated_secret,
)
