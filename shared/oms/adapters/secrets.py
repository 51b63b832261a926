"""Channel secrets from SSM Parameter Store (SecureString), cached by Powertools."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from oms.adapters.aws import client
from oms.ports import SecretsProvider


class SsmSecrets(SecretsProvider):
    def __init__(self, path: str, max_age: int = 300) -> None:
        self.path = path.rstrip("/")
        self.max_age = max_age

    def channel_secret(self, channel: str, name: str) -> str | None:
        try:
            value = parameters.get_parameter(f"{self.path}/{channel}/{name}", decrypt=True, max_age=self.max_age)
        except GetParameterError:
            return None
        return str(value) if value else None

    def put(self, channel: str, name: str, value: str) -> None:
        """Write a credential the OMS renews itself (a marketplace's shop tokens), and forget the cached one."""
        name_path = f"{self.path}/{channel}/{name}"
        client("ssm").put_parameter(Name=name_path, Value=value, Type="SecureString", Overwrite=True)
        parameters.clear_caches()
