"""Channel secrets from SSM Parameter Store (SecureString), cached by Powertools."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

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
