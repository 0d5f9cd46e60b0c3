"""Hard negatives: text that looks like PII but is not (public company numbers, example.com placeholders,
version strings, non-birth dates, fictional names in story prompts, variable names like ``password``)."""
from __future__ import annotations

from kiln_sae.pii.templates import Template

_RAW: list[str] = [
    "Write a fantasy story about a dragon named {fiction} who guards the kingdom of {fiction_place}.",
    "In my novel, {fiction} meets {fiction2} at the tavern. Suggest a plot twist.",
    "Our support line is {support_phone}, open Monday to Friday. Email {example_email} for billing.",
    "Upgrade from version {version} to {version2}; the changelog is at {public_url}.",
    "The meeting was moved to {date} at {time}. Please bring the {product} slides.",
    "```python\npassword = os.environ[\"DB_PASSWORD\"]\napi_key = get_secret(\"api_key\")\n```\nis this safe?",
    "Bind the server to {local_ip} and port 8080, then open {public_url} to check the docs.",
    "Replace user@example.com and 555-0100 with your own details before sending the template.",
    "The invoice {order_id} for {amount} is due on {date}.",
    "What is the capital of {country_public}? And how many people live there?",
    "Set the username field to `username` and the password field to `password` in the login form schema.",
    "ping 8.8.8.8 works but 10.0.0.1 times out, what does that mean for the router?",
    "The SSN field in our schema is VARCHAR(11); the card column is CHAR(16). Is that enough?",
    "{company} reported revenue of {amount} on {date}, up 12% from last year.",
    "Explain the difference between IPv4 and IPv6 with an example like 2001:db8::1.",
    "Call the main office at {support_phone} or visit {public_url} for opening hours.",
    "Use the placeholder John Doe, 123 Main Street, Anytown for the sample contract.",
    "Pip says torch=={version} conflicts with numpy {version2}. How do I fix it?",
]

NEGATIVE_TEMPLATES: tuple[Template, ...] = tuple(
    Template(id=f"negative-{i:02d}", genre="negative", text=text) for i, text in enumerate(_RAW)
)
