"""The settings pages (/{org}/settings/integrations[/cloud|/llm|/subscriptions]) and their files."""

from pathlib import Path

from shared.console import page_function

console = page_function(Path(__file__).resolve().parent / "static")
