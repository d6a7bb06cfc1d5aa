"""The notifier: alerts from the bus to people, by webhook, e-mail and Telegram (``ioc notify run``)."""
