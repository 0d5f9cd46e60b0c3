"""Words and short phrases in six languages for the composing generator (``compose.py``): field names, the
asks people put before what they paste, and clauses of prose about themselves and others. Kept apart from
the formats so a format never hard-codes English. ``{x}`` marks where a value goes; clause values are filled
by ``compose.Doc.fill`` with their label."""
from __future__ import annotations

LANGS: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl")
LOCALE_LANG = {"en_US": "en", "en_GB": "en", "en_IN": "en", "de_DE": "de", "fr_FR": "fr", "es_ES": "es",
               "it_IT": "it", "nl_NL": "nl"}
LANG_LOCALES = {"en": ("en_US", "en_GB", "en_IN"), "de": ("de_DE",), "fr": ("fr_FR",), "es": ("es_ES",),
                "it": ("it_IT",), "nl": ("nl_NL",)}

FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "name": {"en": ("Name", "Full name", "Customer", "Contact"), "de": ("Name", "Vollständiger Name", "Kunde"),
             "fr": ("Nom", "Nom complet", "Client"), "es": ("Nombre", "Nombre completo", "Cliente"),
             "it": ("Nome", "Nome e cognome", "Cliente"), "nl": ("Naam", "Volledige naam", "Klant")},
    "email": {"en": ("Email", "E-mail", "Email address"), "de": ("E-Mail", "E-Mail-Adresse"),
              "fr": ("E-mail", "Courriel", "Adresse e-mail"), "es": ("Correo", "Correo electrónico", "Email"),
              "it": ("Email", "Posta elettronica"), "nl": ("E-mail", "E-mailadres")},
    "phone": {"en": ("Phone", "Mobile", "Tel", "Cell"), "de": ("Telefon", "Handy", "Tel."),
              "fr": ("Téléphone", "Portable", "Tél."), "es": ("Teléfono", "Móvil", "Tel."),
              "it": ("Telefono", "Cellulare", "Tel."), "nl": ("Telefoon", "Mobiel", "Tel.")},
    "address": {"en": ("Address", "Home address", "Mailing address"), "de": ("Adresse", "Anschrift", "Wohnort"),
                "fr": ("Adresse", "Adresse postale"), "es": ("Dirección", "Domicilio"),
                "it": ("Indirizzo", "Residenza"), "nl": ("Adres", "Woonadres")},
    "dob": {"en": ("Date of birth", "DOB", "Born", "Birthday"), "de": ("Geburtsdatum", "Geboren am"),
            "fr": ("Date de naissance", "Né(e) le"), "es": ("Fecha de nacimiento", "Nacido el"),
            "it": ("Data di nascita", "Nato il"), "nl": ("Geboortedatum", "Geboren op")},
    "iban": {"en": ("IBAN", "Bank account", "Account"), "de": ("IBAN", "Kontonummer", "Bankverbindung"),
             "fr": ("IBAN", "RIB", "Compte bancaire"), "es": ("IBAN", "Cuenta bancaria"),
             "it": ("IBAN", "Conto corrente"), "nl": ("IBAN", "Rekeningnummer")},
    "card": {"en": ("Card number", "Card", "Credit card"), "de": ("Kartennummer", "Kreditkarte"),
             "fr": ("Numéro de carte", "Carte bancaire"), "es": ("Número de tarjeta", "Tarjeta"),
             "it": ("Numero carta", "Carta di credito"), "nl": ("Kaartnummer", "Creditcard")},
    "national_id": {"en": ("ID number", "SSN", "National ID"), "de": ("Steuer-ID", "Ausweisnummer"),
                    "fr": ("N° de sécurité sociale", "Numéro fiscal"), "es": ("DNI", "NIF"),
                    "it": ("Codice fiscale", "CF"), "nl": ("BSN", "Burgerservicenummer")},
    "username": {"en": ("Username", "Login", "User", "Handle"), "de": ("Benutzername", "Login"),
                 "fr": ("Identifiant", "Nom d'utilisateur"), "es": ("Usuario", "Nombre de usuario"),
                 "it": ("Nome utente", "Utente"), "nl": ("Gebruikersnaam", "Login")},
    "password": {"en": ("Password", "Pass", "PW"), "de": ("Passwort", "Kennwort"), "fr": ("Mot de passe", "MDP"),
                 "es": ("Contraseña", "Clave"), "it": ("Password", "Parola d'ordine"), "nl": ("Wachtwoord",)},
    "city": {"en": ("City", "Town", "Location"), "de": ("Stadt", "Ort"), "fr": ("Ville",), "es": ("Ciudad",),
             "it": ("Città",), "nl": ("Plaats", "Stad")},
    "url": {"en": ("Website", "Profile", "LinkedIn"), "de": ("Webseite", "Profil"), "fr": ("Site web", "Profil"),
            "es": ("Sitio web", "Perfil"), "it": ("Sito web", "Profilo"), "nl": ("Website", "Profiel")},
    "ip": {"en": ("IP", "Last login IP", "Client IP"), "de": ("IP-Adresse",), "fr": ("Adresse IP",),
           "es": ("Dirección IP",), "it": ("Indirizzo IP",), "nl": ("IP-adres",)},
    "order": {"en": ("Order", "Ref", "Invoice no."), "de": ("Bestellnummer", "Rechnungsnr."),
              "fr": ("Commande", "Facture n°"), "es": ("Pedido", "Factura n.º"), "it": ("Ordine", "Fattura n."),
              "nl": ("Bestelling", "Factuurnr.")},
    "date": {"en": ("Date", "Due", "Appointment"), "de": ("Datum", "Termin"), "fr": ("Date", "Rendez-vous"),
             "es": ("Fecha", "Cita"), "it": ("Data", "Appuntamento"), "nl": ("Datum", "Afspraak")},
}

# What people write before pasting something. {what} is a short noun for the pasted thing.
ASKS: dict[str, tuple[str, ...]] = {
    "en": ("Can you clean this up?", "please fix the formatting of this", "Summarise this for me:",
           "Is anything wrong with this?", "translate this to English pls", "Turn this into a table:",
           "what does this mean", "Help me reply to this.", "check this before I send it", "Extract the key info:",
           "Can you make this sound more professional?", "Why doesn't this work?", ""),
    "de": ("Kannst du das bitte korrigieren?", "Fass das kurz zusammen:", "Was stimmt hier nicht?",
           "Bitte formatiere das als Tabelle:", "Hilf mir, darauf zu antworten.", ""),
    "fr": ("Peux-tu corriger ceci ?", "Résume ce message :", "Qu'est-ce qui ne va pas ici ?",
           "Mets ça en tableau stp", "Aide-moi à répondre à ceci.", ""),
    "es": ("¿Puedes corregir esto?", "Resume esto:", "¿Qué está mal aquí?", "Ponlo en una tabla por favor",
           "Ayúdame a responder a esto.", ""),
    "it": ("Puoi correggere questo?", "Riassumi questo:", "Cosa c'è di sbagliato qui?",
           "Mettilo in una tabella per favore", "Aiutami a rispondere.", ""),
    "nl": ("Kun je dit verbeteren?", "Vat dit samen:", "Wat klopt hier niet?", "Zet dit in een tabel aub",
           "Help me hierop te antwoorden.", ""),
}

# Prose clauses about the writer ("self") or someone else ("other"). Slots: {name} {first} {city} {dob}
# {email} {phone} {address} {iban} {card} {national_id} {username} {url} {country} {region} {last}; {date} is not
# a birth date; {title} is an honorific (outside the span) and a surname; a 2 or 3 after a slot ({name2},
# {first3}) takes the value from another person of the message.
SELF: dict[str, tuple[str, ...]] = {
    "en": ("My name is {name}.", "I'm {first} and I live in {city}.", "I was born on {dob}.",
           "You can reach me at {email} or on {phone}.", "I moved to {address} last {month}.",
           "my email is {email} btw", "I'm originally from {country} but now live in {city}.",
           "Please send it to {address}.", "my number is {phone}", "My IBAN is {iban}.",
           "I paid with my card {card} on {date}.", "my {nid_kind} is {national_id}",
           "I go by {username} on most sites.", "my portfolio is at {url}", "I turned {age} on {dob}.",
           "Reply to {email}, not my work address.", "The appointment is on {date} at {time}.",
           "I'm from {city}, {region}.", "I grew up in {country} and moved to {city} for work.",
           "I'm based in {region} these days.", "We're flying to {city} on {date}.", "born and raised in {city}",
           "I work from {city} most weeks.", "This is {name} from the finance team.", "{first} here, quick question.",
           "my wife {first2} and I are moving to {city}", "I'm staying with {name2} in {city} until {date}.",
           "my doctor, {title}, says it's fine", "I was born in {city} on {dob}."),
    "de": ("Ich heiße {name}.", "Ich wohne in {city}.", "Ich komme aus {country} und wohne jetzt in {city}.",
           "{name2} und {name3} bitte in CC setzen.", "Ich bin gerade bei {first2} in {city}.", "Ich bin am {dob} geboren.",
           "Erreichbar unter {phone} oder {email}.", "Meine neue Adresse ist {address}.",
           "Meine IBAN lautet {iban}.", "Meine {nid_kind} ist {national_id}.", "Der Termin ist am {date}."),
    "fr": ("Je m'appelle {name}.", "J'habite à {city}.", "Je viens de {country}, j'habite à {city}.",
           "{name2} et {name3} sont en copie.", "Je suis né le {dob}.",
           "Vous pouvez me joindre au {phone} ou à {email}.", "Ma nouvelle adresse : {address}.",
           "Mon IBAN est {iban}.", "Mon {nid_kind} : {national_id}.", "Le rendez-vous est le {date}."),
    "es": ("Me llamo {name}.", "Vivo en {city}.", "Soy de {country} y vivo en {city}.", "{name2} y {name3} van en copia.", "Nací el {dob}.", "Mi teléfono es {phone} y mi correo {email}.",
           "Mi dirección es {address}.", "Mi IBAN es {iban}.", "Mi {nid_kind} es {national_id}.",
           "La cita es el {date}."),
    "it": ("Mi chiamo {name}.", "Abito a {city}.", "Vengo da {country} e vivo a {city}.", "Sono nato il {dob}.", "Potete contattarmi al {phone} o a {email}.",
           "Il mio indirizzo è {address}.", "Il mio IBAN è {iban}.", "Il mio {nid_kind} è {national_id}.",
           "L'appuntamento è il {date}."),
    "nl": ("Ik heet {name}.", "Ik woon in {city}.", "Ik kom uit {country} en woon nu in {city}.", "Ik ben geboren op {dob}.", "Bel me op {phone} of mail {email}.",
           "Mijn adres is {address}.", "Mijn IBAN is {iban}.", "Mijn {nid_kind} is {national_id}.",
           "De afspraak is op {date}."),
}
OTHER: dict[str, tuple[str, ...]] = {
    "en": ("My colleague {name} asked me to forward this.", "{first} lives in {city} now.",
           "{name} ({email}) will take over from {date}.", "Her number is {phone}.", "His birthday is {dob}.",
           "You can send the contract to {name} at {address}.", "{first}'s account is {username}.",
           "my sister {first} just moved to {country}", "Ask {name} — {phone}, any time after {time}.",
           "{name}, born {dob}, is the second applicant.", "the landlord is {name}, {address}",
           "{title} will see you at {time}.", "Please cc {name2} and {name3} on this.",
           "{name} from {city} called about the invoice.", "{first} and {first2} are flying to {country} on {date}.",
           "I met {name} in {city} last {month}.", "{name} relocated to {region} last year.",
           "according to {title}, the results are fine", "Can you book a table for {first}, {first2} and {first3}?",
           "{name2} is {first}'s emergency contact.", "{name}'s daughter {first2} lives in {city}, {region}.",
           "{first} works remotely from {city}, {country}.", "{title} and {name2} signed the lease.",
           "{name} left {org} in {year} to start her own firm.", "I'm reading {work}, which {first} lent me.",
           "{first} met {name2} at the {org} party on {weekday}.", "{org} is suing {name} over the contract."),
    "de": ("Mein Kollege {name} übernimmt ab {date}.", "{title} ist nach {city} gezogen.", "{first} wohnt jetzt in {city}.", "Seine Nummer: {phone}.",
           "Bitte an {name}, {address} schicken.", "{name} ist am {dob} geboren."),
    "fr": ("Ma collègue {name} reprend le dossier le {date}.", "{name} est originaire de {city}.", "{first} habite maintenant à {city}.",
           "Son numéro : {phone}.", "Envoyez-le à {name}, {address}.", "{name} est née le {dob}."),
    "es": ("Mi compañera {name} se encarga desde el {date}.", "{name} se mudó a {city}.", "{first} vive ahora en {city}.",
           "Su número es {phone}.", "Envíalo a {name}, {address}.", "{name} nació el {dob}."),
    "it": ("La mia collega {name} se ne occupa dal {date}.", "{first} ora vive a {city}.", "Il suo numero: {phone}.",
           "Mandalo a {name}, {address}.", "{name} è nata il {dob}."),
    "nl": ("Mijn collega {name} neemt het over vanaf {date}.", "{first} woont nu in {city}.",
           "Haar nummer is {phone}.", "Stuur het naar {name}, {address}.", "{name} is geboren op {dob}."),
}
GREET = {"en": ("Hi {first},", "Dear {name},", "Hello {first},", "Hey {first} -", "Dear {title},", "hi {first}",
                "Hi {first} and {first2},"),
         "de": ("Hallo {first},", "Sehr geehrte/r {name},", "Liebe/r {first},"),
         "fr": ("Bonjour {first},", "Cher/Chère {name},"), "es": ("Hola {first}:", "Estimado/a {name}:"),
         "it": ("Ciao {first},", "Gentile {name},"), "nl": ("Hoi {first},", "Beste {name},")}
SIGN = {"en": ("Best,", "Thanks,", "Regards,", "Cheers,", "Kind regards,"), "de": ("Viele Grüße", "Beste Grüße,"),
        "fr": ("Cordialement,", "Bien à vous,"), "es": ("Saludos,", "Un abrazo,"), "it": ("Cordiali saluti,", "A presto,"),
        "nl": ("Met vriendelijke groet,", "Groetjes,")}
BODY = {"en": ("Thanks for getting back to me so quickly.", "Please find the details below.",
               "Let me know if you need anything else.", "Sorry for the late reply.",
               "I've attached the signed form.", "Could you confirm by Friday?"),
        "de": ("Danke für die schnelle Antwort.", "Anbei die Unterlagen.", "Bitte um kurze Bestätigung."),
        "fr": ("Merci pour votre réponse rapide.", "Vous trouverez les détails ci-dessous.", "Merci de confirmer."),
        "es": ("Gracias por la rápida respuesta.", "Adjunto los datos.", "¿Me lo confirmas?"),
        "it": ("Grazie per la risposta.", "In allegato i dettagli.", "Mi confermi?"),
        "nl": ("Bedankt voor je snelle reactie.", "Hieronder de gegevens.", "Kun je dit bevestigen?")}
MONTHS = ("January", "March", "May", "July", "September", "November")

# Third-person prose of the kind people paste or write about others (news about colleagues, family stories,
# recommendations), for the ``narrative`` format (train). People appear in every grammatical role, often by a
# first name or surname alone, beside capitalised words that are not personal: {org} (a company), {work} (a
# book, film or song title), {weekday}, {year}. Kept apart from OTHER (the val split's prose) so the two
# splits share no sentence.
NARRATIVE: dict[str, tuple[str, ...]] = {
    "en": ("{name} joined {org} as a consultant in {year}.", "Yesterday {first} told me that {first2} is leaving {org}.",
           "The report was written by {name} and reviewed by {title}.", "Thanks to {first}, the launch went smoothly.",
           "{last} said the numbers looked fine.", "We had dinner with {first} and {name2} in {city}.",
           "I asked {first} whether {org} would sponsor the event.", "{name} is the new head of sales at {org}.",
           "Has anyone heard from {first} since {weekday}?", "{first}, can you send me the slides?",
           "Say hi to {first} for me!", "The copy of {work} on my desk was a gift from {first}.",
           "{name}'s flight from {city} lands at {time}.", "Both {first} and {first2} grew up in {region}.",
           "Our landlord, {name}, lives at {address}.", "{title} recommended {org} for the repairs.",
           "After the meeting {first} drove back to {city}.", "I'm writing on behalf of {name}, who is in {country} until {date}.",
           "{org} hired {name} last {month}.", "Ask {first}, she knows everyone at {org}.",
           "When {first} was a kid the family lived in {city}.", "The award went to {name} of {org}.",
           "Tell {first2} that {first} called.", "{name} and {name2} wrote {work} together.",
           "My cousin {first} works for {org} in {city}.", "Everyone at {org} loved {first}'s talk on {weekday}.",
           "It was {first} who found the bug, not {first2}.", "I haven't seen {name} since we both left {city}.",
           "{first} and {first2} are getting married in {city} in {year}.", "{first}'s new flat is at {address}.",
           "The kids call her {first}.", "He named the dog after {first}.", "Sorry {first}, I missed your call.",
           "Mr and Mrs {last} moved to {country} in {year}.", "{name} ({org}) and {name2} ({org2}) will both attend.",
           "I listened to {work} on the way to see {first} in {city}.", "{org} sent {first} to their office in {city}."),
    "de": ("{name} arbeitet seit {year} bei {org}.", "Gestern hat mir {first} erzählt, dass {first2} nach {city} zieht.",
           "Frag doch {first}, sie kennt alle bei {org}.", "{title} hat uns {org} empfohlen.",
           "Grüß {first} von mir!", "Das Buch {work} habe ich von {first} bekommen."),
    "fr": ("{name} a rejoint {org} en {year}.", "Hier, {first} m'a dit que {first2} quittait {city}.",
           "Demande à {first}, elle connaît tout le monde chez {org}.", "C'est {title} qui a recommandé {org}.",
           "Embrasse {first} pour moi !"),
    "es": ("{name} trabaja en {org} desde {year}.", "Ayer {first} me contó que {first2} se muda a {city}.",
           "Pregúntale a {first}, conoce a todos en {org}.", "Saluda a {first} de mi parte."),
}
WORK_WORDS = (("The", "A", "Our", "Beyond the", "Under the", "Letters from the", "Songs of the", "Return of the"),
              ("Silent", "Northern", "Last", "Golden", "Hidden", "Broken", "Endless", "Quiet", "Burning", "Paper"),
              ("River", "Garden", "Kingdom", "Harbour", "Winter", "Machine", "Orchard", "Lighthouse", "Empire", "Road"))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
