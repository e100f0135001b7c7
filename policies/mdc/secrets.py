"""Secrets: credentials are Pulumi secrets, encrypted in the state and masked in every diff.

The rules read values, not only names (`credentials.py`): a credential nested in a structure
(a Trove instance's `users`), a URL that carries a password, a password in a VM's
`user_data`, an environment value. A value the program made a Pulumi secret is never a
finding: the pack reads the properties as the engine sent them, secrets still marked
(`wire.raw`); so is a top-level input listed in `additional_secret_outputs`, the resource
option every generated provider SDK sets for the fields its schema marks secret.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs

from multidc.contract import TYPE_PREFIX

from mdc.credentials import findings, is_credential_name, looks_secret, readable, url_credentials
from mdc.workloads import helm_values, workload
from mdc.waivers import resource_policy

RANDOM_STRINGS = {"random:index/randomString:RandomString": "result", "random:index/randomId:RandomId": "hex"}
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


# --- MDC-SEC-001 ------------------------------------------------------------------------------

def validate_credentials_secret(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type.startswith((TYPE_PREFIX, "kubernetes:")):
        return  # components carry no credentials; Kubernetes objects are MDC-SEC-002's
    secret = set(args.opts.additional_secret_outputs or ())
    sent = readable(args.props)
    for key in sent:
        if key in secret:
            continue
        for finding in findings({key: sent[key]}):
            report_violation(
                f"Input '{finding.path}' of '{args.name}' holds {finding.what} that is not a Pulumi secret: it is "
                "stored in plain text in the stack state and shown in diffs. Pass the value as "
                f"pulumi.Output.secret(...) (or list '{key}' in additional_secret_outputs).")


credentials_secret = resource_policy(
    name="mdc-sec-001-credentials-secret",
    description="Requires every credential in a resource's inputs (by name or by value, nested, in URLs and "
                "user_data) to be a Pulumi secret.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_credentials_secret,
)


# --- MDC-SEC-002 ------------------------------------------------------------------------------

def _in_plain_text(name: str, value: object) -> bool:
    return (is_credential_name(name) and looks_secret(value)) or (isinstance(value, str) and url_credentials(value))


def validate_kubernetes_plaintext(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CONFIG_MAP:
        data = readable(args.props).get("data") or {}
        for key in data:
            if _in_plain_text(key, data[key]):
                report_violation(
                    f"ConfigMap '{args.name}' holds '{key}': ConfigMaps are stored unencrypted and readable by "
                    "anyone who may read configuration. Move it to a Secret built from a Pulumi secret.")
        return
    values = helm_values(args.resource_type, args.props)
    if values is not None:
        for finding in findings(readable(args.props).get("values") or {}, "values"):
            report_violation(
                f"Helm release '{args.name}' sets {finding.path} to {finding.what} in plain text: release values "
                "are stored in the stack state and in the release's own Secret. Pass it as a Pulumi secret or "
                "point the chart at an existing Secret.")
        return
    pods = workload(args.resource_type, readable(args.props))  # values as sent: secrets still marked
    if pods is None:
        return
    for container in pods.containers():
        for variable in container.get("env") or []:
            if _in_plain_text(str(variable.get("name", "")), variable.get("value")):
                report_violation(
                    f"Container '{container.get('name')}' of '{args.name}' sets {variable['name']} to a credential "
                    "as a literal value: it is stored in plain text in the object and the stack state. Take it from "
                    "a Secret with valueFrom.secretKeyRef.")
        for part in ("command", "args"):
            if any(isinstance(word, str) and url_credentials(word) for word in container.get(part) or []):
                report_violation(
                    f"Container '{container.get('name')}' of '{args.name}' passes a URL with a password in its "
                    f"{part}: it is visible in the object, the stack state and the node's process list. Take the "
                    "password from a Secret (an environment variable with valueFrom.secretKeyRef).")


kubernetes_plaintext = resource_policy(
    name="mdc-sec-002-kubernetes-plaintext",
    description="Prohibits credentials in plain text in Kubernetes environment values, container arguments, "
                "ConfigMaps and Helm values.",
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


generated_secret = resource_policy(
    name="mdc-sec-003-generated-secret",
    description="Requires generated credentials (random strings and IDs named as credentials) to be secrets.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_generated_secret,
)
