"""Hand-written chat templates. ``{slot}`` is filled from the message's identity (see ``slots.py``); a slot
ending in ``2`` comes from a second identity (the other party of a thread). Templates are grouped by genre;
the train/val/test split is by template (``split.py``), so test phrasings are never seen in training."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    id: str
    genre: str
    text: str


_RAW: dict[str, list[str]] = {
    "draft": [
        "Can you help me write an email to my landlord? My name is {name} and I live at {address}. The heating has been broken since {date}.",
        "Please draft a polite complaint letter. Sign it as {name}, {address_lines}, phone {phone}.",
        "write a cover letter for a {job} position at {company}. include my contact details: {name}, {email}, {phone}",
        "I need a short reference letter for my colleague {name2}. Mention that they can be reached at {email2}.",
        "Help me reply to my bank. My account number is {account} and the sort code / routing number is {routing}. I'm {name}.",
        "Draft a message to HR saying my new address is {address} and my date of birth on file ({dob}) is correct.",
        "Could you rewrite this to sound more professional: 'hi its {first}, call me on {phone} when ur free'",
        "Write an out-of-office reply. Urgent matters: contact {name2} at {work_email2} or {phone2}.",
        "Translate to German: My name is {name}, I was born on {dob} and I live in {city}.",
        "Write a short bio for my website from my profile {url}. I'm {name} and I work as a {job}.",
        "Make this LinkedIn summary shorter. I'm {name}, based in {city}, portfolio at {url}.",
    ],
    "form": [
        "Full name: {name}\nDate of birth: {dob}\nAddress: {address}\nPhone: {phone}\nEmail: {email}",
        "Name: {name} | DOB: {dob} | {nid_kind}: {national_id} | Tel: {phone}",
        "APPLICANT\nSurname: {last}\nGiven name: {first}\nBorn: {dob}\nResidence: {address_lines}",
        "Please check my form before I submit it: name {name}, IBAN {iban}, email {email}.",
        "Billing details\nCardholder: {name}\nCard number: {card}\nBilling address: {address}",
        "Emergency contact: {name2} ({phone2}), relationship: sister. Patient: {name}, DOB {dob}.",
        "Shipping to: {name}, {address}. Contact number {phone}. Order {order_id}.",
        "Registration — username: {username}, password: {password}, recovery email: {email}",
    ],
    "thread": [
        "Summarise this email thread:\n\nFrom: {name} <{email}>\nTo: {name2} <{email2}>\nSubject: Re: {product} invoice\n\nHi {first2}, the payment went to {iban}. Thanks, {first}",
        "can you tell me what this email wants?\n---\nDear {name},\nWe noticed a login to your account from {ipv4}. If this wasn't you, reply to {work_email2}.\nRegards,\n{name2}",
        "Forwarded message\nFrom: {work_email}\nDate: {date}\nHi team, my new mobile is {phone}. Best, {name}\n{company} | {address}",
        "Rewrite my signature to be cleaner:\n--\n{name}\n{job}, {company}\nM: {phone}\nE: {work_email}\n{url}",
        "Is this email a scam?\n\"Dear {first}, your card ending {card} was charged. Confirm your SSN {national_id} at our portal.\"",
        "Here is the thread, please draft a reply:\n> On {date}, {name2} wrote:\n> Could you send me your IBAN?\nSure, it's {iban} — {first}",
        "From: {name} <{email}>\nSent: {date}\nTo: support@{domain}\nI can't log in as {username}. My IP is {ipv4} if that helps.",
    ],
    "code": [
        "why does this fail?\n```python\nclient = Client(api_key=\"{api_key}\", user=\"{username}\")\n```",
        "Fix my config:\n```yaml\ndb:\n  host: {ipv4}\n  user: {username}\n  password: {password}\n```",
        "My .env has:\nAPI_TOKEN={token}\nADMIN_EMAIL={email}\nWhat's wrong with the quoting?",
        "curl -H \"Authorization: Bearer {token}\" https://api.{domain}/v1/users/{username} returns 403, any idea?",
        "ssh {username}@{ipv4} -p 2222 gives 'permission denied (publickey)'. how do I debug",
        "This nginx log line confuses me: {ipv6} - {username} [{date}] \"GET /account HTTP/1.1\" 200",
        "export DB_PASSWORD='{password}'\nexport OWNER='{name}'\nthe script still can't connect, why?",
        "git config user.name \"{name}\" && git config user.email \"{email}\" — is that how to set it up?",
        "Connection string: postgresql://{username}:{password}@{ipv4}:5432/prod — should I URL-encode it?",
        "```js\nconst key = '{api_key}';\nfetch(`https://example.org/api?user={username}`)\n```\nwhy is key undefined?",
    ],
    "data": [
        "Convert this CSV row to JSON: {name},{email},{phone},{dob}",
        "Sort these rows by date:\nname,dob,city\n{name},{dob},{city}\n{name2},{dob2},{city2}",
        "Validate this JSON: {\"customer\": \"{name}\", \"iban\": \"{iban}\", \"ip\": \"{ipv4}\"}",
        "Extract the emails from: {name} <{email}>; {name2} <{email2}>",
        "Dedupe these contacts:\n{name}\t{phone}\n{name2}\t{phone2}\n{name}\t{phone}",
        "Create a SQL insert for: first={first}, last={last}, ssn={national_id}, dob={dob}",
        "{\"user\": {\"login\": \"{username}\", \"email\": \"{email}\", \"last_ip\": \"{ipv6}\"}} — how do I parse this in Go?",
        "Turn this into a table: {name} lives at {address} and pays with card {card}.",
    ],
    "support": [
        "Hi, I was double charged on card {card}. Name on card {name}. Please refund.",
        "Ticket #{order_id}: customer {name} ({email}) reports they cannot reset the password for {username}.",
        "my package never arrived, address is {address}, name {name}, tracking {order_id}",
        "Hello, I'd like to update my phone number to {phone}. Account email: {email}. Thanks, {first}",
        "Please close my account. IBAN for the remaining balance: {iban}. Holder: {name}.",
        "I got locked out after logging in from {ipv4}. Username {username}. Can you unlock?",
        "The agent asked for my {nid_kind} — it is {national_id}. Is it safe to send it here?",
        "Customer says: 'I'm {name}, born {dob}, my policy is {order_id}. I moved to {address}.'",
        "Can someone call me back at {phone}? I'm {first} {last} and my order {order_id} is wrong.",
    ],
    "casual": [
        "lol my brother {first} just texted me from {phone} asking for money again",
        "ok so my new email is {email} use that from now on",
        "meet me at {address} at {time}?",
        "hey its {name}, just moved to {city}!! come visit",
        "my wifi password is {password} if ur coming over",
        "ugh i keep forgetting my {nid_kind}, it's {national_id} right?",
        "follow me on {url} pls",
        "check out my portfolio {url} and tell me what u think",
        "u can venmo me, username is {username}",
        "my bday is {dob} btw, dont forget this time",
        "tell {first2} to call me on {phone}, i lost her number",
        "we r staying with {name2} in {city2} next week",
    ],
    "story": [
        "My grandmother {name} was born on {dob} in {city}. Write a short poem for her birthday.",
        "Write a toast for my friend {first}'s wedding. She grew up in {city} and now lives in {country}.",
        "Plan a 3-day trip from {city} to {city2} for me and {name2}.",
        "My son {first} keeps asking about {country}. Give me five fun facts to tell him.",
    ],
    "payments": [
        "My Visa {card} expires next month, can you remind me how to update it on Amazon?",
        "paid with my card {card} but the hotel in {city} says it was declined??",
        "Here are my card details for the booking: {card}, name {name}. Is that all you need?",
        "Which digits of {card} are the bank identifier? Just curious how card numbers work.",
        "Please set up the standing order from account {account} (routing {routing}) to my landlord {name2}.",
        "My IBAN changed to {iban}, please update payroll. Thanks, {first}",
        "Can you check if {iban} is a valid IBAN? It's for paying {name2}.",
        "Refund the deposit to {name}, bank account {account}, sort code/routing {routing}.",
    ],
    "identity": [
        "My {nid_kind} is {national_id}. Which office do I bring it to in {city}?",
        "Fill in the tax form for me: name {name}, {nid_kind} {national_id}, address {address}.",
        "I think someone stole my identity, they used my {nid_kind} {national_id} and my birthday {dob}.",
        "The clinic needs {name}'s {nid_kind} ({national_id}) and date of birth ({dob}) before the appointment.",
        "is {national_id} the right format for a {nid_kind}? asking for my dad {first}",
        "Background check request: {name}, born {dob}, {nid_kind} {national_id}, current address {address}.",
    ],
    "profiles": [
        "Can you summarise the posts on {url}? It's my friend {name}'s page.",
        "Add my socials to my CV: {url}, email {email}.",
        "i started a blog at {url} !! my first post is about {city}",
        "Rewrite my bio: '{first} — engineer in {city}. More at {url}. Contact {email}.'",
        "Tag me in the photos, my handle is {username} and my page is {url}",
    ],
    "places": [
        "I'm moving from {city} to {city2} next month. Which neighbourhoods near {address2} are quiet?",
        "Send the wedding invite to {name} at {address_lines}",
        "Where's the nearest pharmacy to {address}? My mum {first} needs her prescription.",
        "We grew up in {country} but now live at {address}, {first} and I.",
        "my nan lives at {address} in {country}, how long is the drive from {city2}",
        "Is {city} safe for a solo trip? I'm {first}, 24, travelling from {country} in {date}.",
    ],
    "finance": [
        "Is it safe to give {company} my IBAN {iban} for the direct debit?",
        "Transfer 200 EUR to {name2}, IBAN {iban2}, reference {order_id}.",
        "I found a charge on my statement for card {card} from {company}. How do I dispute it?",
        "Wire instructions: beneficiary {name}, account {account}, routing {routing}, bank in {city}.",
    ],
    "security": [
        "We saw suspicious logins for {username} from {ipv4} and {ipv6}. Should we block them?",
        "I accidentally pasted my key {api_key} in a public repo, what do I do now?",
        "Audit note: user {name} ({email}) reused the password {password} on three systems.",
        "The firewall blocked {ipv4} at {time}. The account belongs to {name}.",
    ],
}

TEMPLATES: tuple[Template, ...] = tuple(
    Template(id=f"{genre}-{i:02d}", genre=genre, text=text)
    for genre, texts in _RAW.items()
    for i, text in enumerate(texts)
)
