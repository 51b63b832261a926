"""Load a SAM template and resolve it into a typed model of what the local runtime runs.

Only the subset of CloudFormation the project uses is implemented: short-tag YAML,
Parameters, Conditions, pseudo parameters, Ref/GetAtt/Sub/Join/If/Not/Equals/And/Or/
Select/Split/FindInMap, SAM Globals.Function, and the event sources of functions.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
STACK_NAME = "oms-local"

PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": URL_SUFFIX,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
}

# Marker for AWS::NoValue: removed from the enclosing dict/list after resolution.
_NO_VALUE = object()


class TemplateError(ValueError):
    """The template uses something the local resolver cannot resolve."""


# ---------------------------------------------------------------- YAML loading


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long (Fn::) form."""


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a mapping")
    return data


# ---------------------------------------------------------------- typed model


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    event_name: str
    method: str  # upper-case, or ANY
    path: str  # /orders/{order_id}, /files/{proxy+}, or $default

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    function_id: str
    event_name: str
    queue_logical_id: str | None
    queue_arn: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class StreamSource:
    function_id: str
    event_name: str
    table_logical_id: str | None
    stream_arn: str
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    batching_window_s: float = 0.0
    maximum_retry_attempts: int = -1  # -1 = retry until the record expires (forever locally)
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_arn: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSource:
    function_id: str
    event_name: str
    expression: str  # rate(...) or cron(...)
    input: Any = None  # parsed Input, or None for the Scheduled Event payload
    enabled: bool = True
    v2: bool = False


@dataclass(frozen=True)
class RuleSource:
    function_id: str
    event_name: str
    pattern: dict[str, Any]
    bus_name: str = "default"
    input: str | None = None
    input_path: str | None = None
    enabled: bool = True


@dataclass
class FunctionSpec:
    logical_id: str
    function_name: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layer_paths: list[Path]
    log_group_name: str
    http_routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    stream_sources: list[StreamSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)
    rules: list[RuleSource] = field(default_factory=list)
    unsupported_events: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"


# ---------------------------------------------------------------- the template


def _arn(service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


class Template:
    """A SAM template with parameters and conditions bound, able to resolve intrinsics.

    Physical names are deterministic, so every Ref/GetAtt can be resolved before the
    resources exist, except the values only the backend knows (queue URLs, stream ARNs);
    those are filled in by ``set_attribute`` after creation.
    """

    def __init__(
        self,
        path: str | Path,
        parameter_overrides: dict[str, str] | None = None,
        queue_url_base: str = "http://localhost:4566",
    ) -> None:
        self.path = Path(path).resolve()
        self.root = self.path.parent
        self.raw = load_yaml(self.path)
        self.queue_url_base = queue_url_base.rstrip("/")
        self.parameters = self._bind_parameters(parameter_overrides or {})
        self._conditions: dict[str, bool] = {}
        self._attributes: dict[str, dict[str, str]] = {}
        self.resources: dict[str, dict[str, Any]] = {
            lid: res for lid, res in (self.raw.get("Resources") or {}).items() if self.condition(res.get("Condition"))
        }
        self._compute_attributes()

    # ------------------------------------------------------------ parameters, conditions

    def _bind_parameters(self, overrides: dict[str, str]) -> dict[str, str]:
        declared = self.raw.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter override(s): {sorted(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif name == "Stage":
                values[name] = "local"  # locally the stage is always "local" unless overridden
            elif "Default" in spec:
                values[name] = _stringify(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and no override")
        return values

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self._conditions:
            conditions = self.raw.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # ------------------------------------------------------------ physical names

    def _prop(self, logical_id: str, key: str, default: Any = None) -> Any:
        props = self.resources[logical_id].get("Properties") or {}
        return self.resolve(props[key]) if key in props else default

    def _generated_name(self, logical_id: str, max_len: int = 64) -> str:
        return f"{STACK_NAME}-{logical_id}"[:max_len]

    def _compute_attributes(self) -> None:
        by_type = {
            "AWS::DynamoDB::Table": self._table_attrs,
            "AWS::SQS::Queue": self._queue_attrs,
            "AWS::S3::Bucket": self._bucket_attrs,
            "AWS::Events::EventBus": lambda lid: self._named(lid, "Name", "events", "event-bus/{}", 64),
            "AWS::Events::Rule": lambda lid: self._named(lid, "Name", "events", "rule/{}", 64),
            "AWS::Events::Archive": lambda lid: self._named(lid, "ArchiveName", "events", "archive/{}", 48),
            "AWS::CloudWatch::Alarm": lambda lid: self._named(lid, "AlarmName", "cloudwatch", "alarm:{}", 99),
            "AWS::SNS::Topic": self._topic_attrs,
            "AWS::Logs::LogGroup": self._log_group_attrs,
            "AWS::Serverless::LayerVersion": self._layer_attrs,
            "AWS::Lambda::LayerVersion": self._layer_attrs,
            "AWS::Serverless::Function": self._function_attrs,
            "AWS::Serverless::HttpApi": lambda lid: {"Ref": "local", "ApiEndpoint": "http://127.0.0.1"},
            "AWS::Serverless::Api": lambda lid: {"Ref": "local"},
        }
        for lid, res in self.resources.items():
            compute = by_type.get(res.get("Type", ""))
            self._attributes[lid] = compute(lid) if compute else {"Ref": lid}

    def _named(self, lid: str, name_prop: str, service: str, resource: str, max_len: int) -> dict[str, str]:
        name = self._prop(lid, name_prop) or self._generated_name(lid, max_len)
        return {"Ref": name, "Name": name, "Arn": _arn(service, resource.format(name))}

    def _table_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "TableName") or self._generated_name(lid)
        # StreamArn is a placeholder until the table exists; the real label comes from the backend.
        return {
            "Ref": name,
            "Arn": _arn("dynamodb", f"table/{name}"),
            "StreamArn": _arn("dynamodb", f"table/{name}/stream/pending"),
        }

    def _queue_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "QueueName") or self._generated_name(lid, 80)
        if self._prop(lid, "FifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        url = f"{self.queue_url_base}/{ACCOUNT_ID}/{name}"
        return {"Ref": url, "QueueUrl": url, "Arn": _arn("sqs", name), "QueueName": name}

    def _bucket_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "BucketName") or self._generated_name(lid, 63).lower()
        return {"Ref": name, "Arn": f"arn:{PARTITION}:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def _topic_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "TopicName") or self._generated_name(lid)
        return {"Ref": _arn("sns", name), "TopicArn": _arn("sns", name), "TopicName": name}

    def _log_group_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "LogGroupName") or f"/{STACK_NAME}/{lid}"
        return {"Ref": name, "Arn": _arn("logs", f"log-group:{name}:*")}

    def _layer_attrs(self, lid: str) -> dict[str, str]:
        name = self._prop(lid, "LayerName") or self._generated_name(lid)
        return {"Ref": _arn("lambda", f"layer:{name}:1")}

    def _function_attrs(self, lid: str) -> dict[str, str]:
        name = self.resolve(self._function_props(lid).get("FunctionName")) or self._generated_name(lid)
        return {"Ref": name, "Arn": _arn("lambda", f"function:{name}")}

    def set_attribute(self, logical_id: str, attribute: str, value: str) -> None:
        """Record a value only the backend knows (queue URL, stream ARN)."""
        self._attributes.setdefault(logical_id, {})[attribute] = value
        if attribute == "QueueUrl":
            self._attributes[logical_id]["Ref"] = value

    def ref(self, logical_id: str) -> str:
        return self.get_att(logical_id, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id in self.parameters and attribute == "Ref":
            return self.parameters[logical_id]
        if logical_id in PSEUDO_PARAMETERS and attribute == "Ref":
            return PSEUDO_PARAMETERS[logical_id]
        attrs = self._attributes.get(logical_id)
        if attrs is None:
            raise TemplateError(f"unknown logical id {logical_id!r}")
        if attribute not in attrs:
            raise TemplateError(f"{logical_id}.{attribute} is not resolvable locally")
        return attrs[attribute]

    def logical_id_for(self, attribute: str, value: str) -> str | None:
        """Reverse lookup, e.g. which logical id has this Arn."""
        for lid, attrs in self._attributes.items():
            if attrs.get(attribute) == value:
                return lid
        return None

    def resources_of(self, *types: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") in types}

    # ------------------------------------------------------------ intrinsics

    def resolve(self, node: Any) -> Any:
        value = self._resolve(node)
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self._resolve(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._intrinsic(key[4:], arg)
        out = {}
        for k, v in node.items():
            rv = self._resolve(v)
            if rv is not _NO_VALUE:
                out[k] = rv
        return out

    def _intrinsic(self, name: str, arg: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            raise TemplateError(f"Fn::{name} is not supported locally")
        return handler(arg)

    def _fn_getatt(self, arg: Any) -> str:
        lid, attribute = arg.split(".", 1) if isinstance(arg, str) else self._resolve(arg)
        return self.get_att(lid, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            return self._sub(arg[0], {k: self._resolve(v) for k, v in arg[1].items()})
        return self._sub(arg, {})

    def _fn_join(self, arg: Any) -> str:
        sep, items = arg
        return str(sep).join(_stringify(x) for x in self._resolve(items))

    def _fn_if(self, arg: Any) -> Any:
        cond, when_true, when_false = arg
        return self._resolve(when_true if self.condition(cond) else when_false)

    def _fn_not(self, arg: Any) -> bool:
        return not self._resolve(arg[0])

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self._resolve(x) for x in arg)
        return _stringify(left) == _stringify(right)

    def _fn_and(self, arg: Any) -> bool:
        return all(self._resolve(x) for x in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self._resolve(x) for x in arg)

    def _fn_select(self, arg: Any) -> Any:
        return self._resolve(arg[1])[int(self._resolve(arg[0]))]

    def _fn_split(self, arg: Any) -> list[str]:
        return str(self._resolve(arg[1])).split(arg[0])

    def _fn_findinmap(self, arg: Any) -> Any:
        map_name, key1, key2 = (self._resolve(x) for x in arg)
        return self.raw["Mappings"][map_name][key1][key2]

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self._resolve(arg)).encode()).decode()

    def _fn_getazs(self, arg: Any) -> list[str]:
        return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]

    _SUB_RE = re.compile(r"\$\{([^}]+)\}")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"  # ${!Literal} escapes to ${Literal}
            if expr in variables:
                return _stringify(variables[expr])
            if "." in expr and expr.split(".", 1)[0] in self._attributes:
                lid, attribute = expr.split(".", 1)
                return self.get_att(lid, attribute)
            return self.ref(expr)

        return self._SUB_RE.sub(replace, text)

    # ------------------------------------------------------------ functions

    def _function_props(self, logical_id: str) -> dict[str, Any]:
        """Function properties with SAM Globals.Function merged in (unresolved)."""
        glob = copy.deepcopy((self.raw.get("Globals") or {}).get("Function") or {})
        props = copy.deepcopy(self.resources[logical_id].get("Properties") or {})
        return _merge_globals(glob, props)

    def layer_path(self, layer_ref: Any) -> Path | None:
        """Local directory a layer mounts as /opt/python, when the layer is in this template."""
        lid = layer_ref.get("Ref") if isinstance(layer_ref, dict) else None
        if lid is None:
            arn = self.resolve(layer_ref)
            lid = self.logical_id_for("Ref", arn)
        if lid is None or lid not in self.resources:
            return None
        res = self.resources[lid]
        props = res.get("Properties") or {}
        content = self.resolve(props.get("ContentUri") or props.get("Content"))
        if not isinstance(content, str):
            return None
        root = (self.root / content).resolve()
        build = (res.get("Metadata") or {}).get("BuildMethod") or ""
        # A python BuildMethod installs ContentUri into python/; a prebuilt layer already has it.
        if not build.startswith("python") and (root / "python").is_dir():
            return root / "python"
        return root

    def functions(self) -> dict[str, FunctionSpec]:
        specs: dict[str, FunctionSpec] = {}
        for lid in self.resources_of("AWS::Serverless::Function"):
            props = self._function_props(lid)
            layers_raw = props.get("Layers") or []
            resolved = self.resolve({k: v for k, v in props.items() if k not in ("Layers", "Events")})
            env = {k: _stringify(v) for k, v in ((resolved.get("Environment") or {}).get("Variables") or {}).items()}
            name = self.ref(lid)
            logging_cfg = resolved.get("LoggingConfig") or {}
            spec = FunctionSpec(
                logical_id=lid,
                function_name=name,
                code_uri=(self.root / str(resolved.get("CodeUri", "."))).resolve(),
                handler=str(resolved.get("Handler", "app.lambda_handler")),
                runtime=str(resolved.get("Runtime", "python3.13")),
                timeout=int(resolved.get("Timeout", 3)),
                memory_size=int(resolved.get("MemorySize", 128)),
                environment=env,
                layer_paths=[p for p in (self.layer_path(x) for x in layers_raw) if p is not None],
                log_group_name=str(logging_cfg.get("LogGroup") or f"/aws/lambda/{name}"),
            )
            for event_name, event in (props.get("Events") or {}).items():
                self._add_event(spec, event_name, event)
            specs[lid] = spec
        return specs

    def _add_event(self, spec: FunctionSpec, event_name: str, event: dict[str, Any]) -> None:
        kind = event.get("Type")
        p = self.resolve(event.get("Properties") or {})
        lid = spec.logical_id
        frt = "ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or [])
        enabled = p.get("Enabled", True) not in (False, "false", "False")
        if kind == "HttpApi":
            method = str(p.get("Method", "ANY")).upper()
            method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
            spec.http_routes.append(HttpRoute(lid, event_name, method, str(p.get("Path", "$default"))))
        elif kind == "SQS":
            spec.sqs_sources.append(
                SqsSource(
                    lid,
                    event_name,
                    self.logical_id_for("Arn", p["Queue"]),
                    p["Queue"],
                    batch_size=int(p.get("BatchSize", 10)),
                    batching_window_s=float(p.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures=frt,
                    enabled=enabled,
                )
            )
        elif kind == "DynamoDB":
            raw_stream = (event.get("Properties") or {}).get("Stream")
            table_lid = None
            if isinstance(raw_stream, dict) and "Fn::GetAtt" in raw_stream:
                table_lid = raw_stream["Fn::GetAtt"][0]
            on_failure = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            spec.stream_sources.append(
                StreamSource(
                    lid,
                    event_name,
                    table_lid,
                    p["Stream"],
                    starting_position=str(p.get("StartingPosition", "TRIM_HORIZON")),
                    batch_size=int(p.get("BatchSize", 100)),
                    batching_window_s=float(p.get("MaximumBatchingWindowInSeconds", 0)),
                    maximum_retry_attempts=int(p.get("MaximumRetryAttempts", -1)),
                    bisect_on_error=bool(p.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures=frt,
                    on_failure_arn=on_failure,
                    enabled=enabled,
                )
            )
        elif kind in ("Schedule", "ScheduleV2"):
            expr = str(p.get("Schedule") or p.get("ScheduleExpression"))
            state = str(p.get("State", "ENABLED")).upper()
            raw_input = p.get("Input")
            spec.schedules.append(
                ScheduleSource(
                    lid,
                    event_name,
                    expr,
                    input=json.loads(raw_input) if isinstance(raw_input, str) else raw_input,
                    enabled=enabled and state == "ENABLED",
                    v2=kind == "ScheduleV2",
                )
            )
        elif kind in ("EventBridgeRule", "CloudWatchEvent"):
            spec.rules.append(
                RuleSource(
                    lid,
                    event_name,
                    pattern=p.get("Pattern") or {},
                    bus_name=str(p.get("EventBusName", "default")),
                    input=p.get("Input"),
                    input_path=p.get("InputPath"),
                    enabled=str(p.get("State", "ENABLED")).upper() == "ENABLED",
                )
            )
        else:
            spec.unsupported_events.append(f"{event_name} ({kind})")

    def http_routes(self) -> list[HttpRoute]:
        return [r for f in self.functions().values() for r in f.http_routes]


def _merge_globals(glob: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM merge rules: maps merge recursively, lists concatenate, scalars: function wins."""
    out = dict(glob)
    for key, value in props.items():
        if key in out and isinstance(out[key], dict) and isinstance(value, dict) and not _is_intrinsic(value):
            out[key] = _merge_globals(out[key], value)
        elif key in out and isinstance(out[key], list) and isinstance(value, list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _is_intrinsic(node: dict[str, Any]) -> bool:
    return (len(node) == 1 and next(iter(node)) in ("Ref", "Condition")) or any(k.startswith("Fn::") for k in node)


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
