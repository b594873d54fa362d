from pydantic import Field, SecretStr

from infra.settings import Settings


class NotifierSettings(Settings):
    notify_amqp_url: SecretStr | None = Field(
        None, description="Broker of the external consumer; the pipeline's broker when unset"
    )
    notify_exchange: str = Field("intake.ready", description="Exchange FileReady is sent to")
    notify_queue: str = Field("file_imports", description="Queue bound to it for the consumer")
    notify_routing_key: str = "file.ready"

    @property
    def notify_url(self) -> str:
        return (self.notify_amqp_url or self.amqp_url).get_secret_value()
