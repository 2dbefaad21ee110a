"""Patient matching: which of the agency's consumers a Patient from elsewhere is.

Hospitals' discharge notifications (FHIR or HL7 v2) and ``Patient/$match``
(gateway/workflows/match_operation.py) carry a Patient as the sender knows them; ``find_candidates``
finds the stored Patients it may be, each with a score, a match grade and the reasons for it.
What to do with them is the caller's: link a certain match, queue an uncertain one for review,
create a prospective consumer when there is none.

**Identifiers first.** An identifier (system and value) the probe shares with a stored Patient,
in a *trusted* system, makes a certain match (1.0): the agency's consumer and agency numbers,
the Medicaid id, a partner's own MRN kept on our Patient (the crosswalk). Other systems (another
organization's numbers, SSNs) count for nothing: an identifier is only as good as whoever
assigned it and whoever keeps the crosswalk. A shared identifier whose demographics clearly
contradict it (two of family name, given name and birth date disagree: a parent's Medicaid case
number on a child, a mistyped MRN) is not certain: it scores ``REVIEW`` and says so. A trusted
system both sides have, with different values, counts against (-0.20).

**Demographics** (Fellegi-Sunter style: an agreement weight when both sides have the element and
agree, a disagreement weight, often negative, when both have it and differ, nothing when either
lacks it), in hundredths, summed and clamped to 0..1:

    element        agree  partial  disagree   partial means
    family name     25      15       -10      one part of a compound name; one typo
    given name      20      10       -20      initial; prefix (Alex/Alexander); one typo;
                                              the other's middle name
    birth date      30      15       -30      day and month transposed; one digit off
                                              (or two adjacent digits swapped); same year
                                              (or year and month) when one is partial
    gender           5       -       -15
    phone           20       -         0      digits only, last 10
    address line    15       -         0      first line, or the same house number and street
    postal code      5       -         0      the first 5 digits of a ZIP+4

Names are compared case-, accent- and punctuation-insensitively ("Martínez" = "MARTINEZ",
"Bennett-Martin" = "Bennett Martin", "O'Brien" = "OBrien"), each name of one side against each
of the other. Phones, addresses and postal codes only agree or say nothing: people move and
change numbers. Given name and birth date disagree strongly (they tell siblings apart); family
name weakly (it changes with marriage).

**Thresholds.** ``CERTAIN`` (0.95) needs family name, given name and birth date all exactly
equal plus gender and a phone or address line (or a phone alone), i.e. someone with the same
name and birth date who also lives there or answers that number; short of exact name and birth
date agreement a demographic score is capped at 0.90, so initials and typos never link on their
own. Family, given name and birth date alone (0.75) are ``probable``: a common name and a
birthday are shared often enough in a county that a person decides. Twins (the same family,
birth date, address, phone, another given name) score 0.80: probable, never certain.
Disagreements are part of the sum, so overwhelming agreement can outweigh one (a gender recorded
differently); a trusted identifier with another value is subtracted after the sum saturates,
so it always keeps a demographic match from being certain.
``REVIEW`` (0.60) is the least evidence worth an operator's time, e.g. name and a transposed
birth date. Below it a Patient is not a candidate.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from gateway.auth import Principal
from gateway.fhir import search
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.privacy.minimum_necessary import AGENCY_IDENTIFIER_SYSTEMS, shared_identifier

if TYPE_CHECKING:
    from gateway.fhir.repository import Repository
from gateway.fhir.versions import StoredResource

CERTAIN = 0.95   # at or above: link (match-grade "certain")
PROBABLE = 0.75  # at or above (below CERTAIN): "probable", else "possible"
REVIEW = 0.60    # at or above (below CERTAIN): an operator decides ("probable"/"possible")

# Never evidence of identity, whoever lists them: SSNs are missing, shared and mistyped too
# often, and the agency does not keep them.
UNTRUSTED_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1"})
# How many Patients each candidate query may bring back.
QUERY_LIMIT = 100

# The weights of the module docstring, in hundredths: (agree, partial, disagree).
WEIGHTS: Mapping[str, tuple[int, int, int]] = {
    "family name": (25, 15, -10),
    "given name": (20, 10, -20),
    "birth date": (30, 15, -30),
    "gender": (5, 0, -15),
    "phone": (20, 0, 0),
    "address line": (15, 0, 0),
    "postal code": (5, 0, 0),
}
IDENTIFIER_DIFFERS = -20
# The most a score may be without exact agreement on family name, given name and birth date.
UNCONFIRMED_CAP = 90
CORE = ("family name", "given name", "birth date")
GENDERS = frozenset({"male", "female", "other"})
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Candidate:
    patient_id: str
    patient: dict          # the stored Patient, as the requester may see it
    score: float           # 0..1
    grade: str             # "certain" | "probable" | "possible"
    reasons: tuple[str, ...]  # e.g. ("identifier https://...|123", "family name", "birth date")


def grade(value: float) -> str | None:
    """The match-grade code of a score; None below ``REVIEW`` (not a candidate)."""
    if value >= CERTAIN:
        return "certain"
    if value >= PROBABLE:
        return "probable"
    return "possible" if value >= REVIEW else None


def sole_certain(candidates: Iterable[Candidate]) -> Candidate | None:
    """The one certain candidate, or None when there is none or more than one (two records
    certain for the same person are duplicates for an operator to sort out, not a link)."""
    certain = [c for c in candidates if c.grade == "certain"]
    return certain[0] if len(certain) == 1 else None


def trusted_systems(requester: Principal, partner_systems: Iterable[str] = ()
                    ) -> frozenset[str]:
    """The identifier systems whose shared values prove identity, for ``requester``.

    A partner: the agency's numbers, its own (its MRNs in the crosswalk) and, for partners
    that bill for care, the Medicaid id: exactly the identifiers it is shown of a consumer
    (minimum_necessary.shared_identifier), so a match never rests on one it may not see.
    Operators and the gateway: the agency's numbers, the Medicaid id, and ``partner_systems``
    (every registered partner's, whose crosswalk entries the agency made).
    """
    if requester.is_operator:
        systems = {*AGENCY_IDENTIFIER_SYSTEMS, DEFAULT_MEDICAID_SYSTEM, *partner_systems}
    else:
        offered = {*AGENCY_IDENTIFIER_SYSTEMS, DEFAULT_MEDICAID_SYSTEM,
                   *requester.identifier_systems}
        systems = {system for system in offered if shared_identifier(
            requester.partner_kind, requester.identifier_systems, {"system": system})}
    return frozenset(systems - UNTRUSTED_SYSTEMS)


# -- scoring (pure) ----------------------------------------------------------------------------

def score(probe: dict, candidate: dict, *, trusted_systems: Collection[str]
          ) -> tuple[float, tuple[str, ...]]:
    """How likely ``candidate`` (a stored Patient) is the person ``probe`` describes, 0..1,
    and why: the weights and rules of the module docstring."""
    trusted = frozenset(trusted_systems) - UNTRUSTED_SYSTEMS
    shared, differing = _identifier_evidence(probe, candidate, trusted)
    reasons = [f"identifier {system}|{value}" for system, value in shared]
    reasons += [f"identifier {system} differs" for system in differing]
    outcomes = {
        "family name": _compare_family(_names(probe), _names(candidate)),
        "given name": _compare_given(_names(probe), _names(candidate)),
        "birth date": _compare_birth_date(probe.get("birthDate"), candidate.get("birthDate")),
        "gender": _compare_gender(probe.get("gender"), candidate.get("gender")),
        "phone": _agree_only(_phones(probe), _phones(candidate)),
        "address line": _compare_lines(_lines(probe), _lines(candidate)),
        "postal code": _agree_only(_postal_codes(probe), _postal_codes(candidate)),
    }
    points = 0
    for element, (outcome, detail) in outcomes.items():
        if outcome is None:
            continue
        agree, partial, disagree = WEIGHTS[element]
        points += {"agree": agree, "partial": partial, "disagree": disagree}[outcome]
        reasons.append({"agree": element, "partial": f"{element} ({detail})",
                        "disagree": f"{element} differs"}[outcome])
    # Demographics saturate at certainty; short of exact name and birth date, below it.
    points = min(points, 100 if all(outcomes[e][0] == "agree" for e in CORE)
                 else UNCONFIRMED_CAP)
    points += IDENTIFIER_DIFFERS * len(differing)
    if shared:
        contradicted = sum(outcomes[element][0] == "disagree" for element in CORE) >= 2
        if contradicted:
            reasons.insert(len(shared), "identifier matches but demographics differ")
            points = round(REVIEW * 100)
        else:
            points = 100
    if candidate.get("active") is False:
        reasons.append("inactive record")
    return max(0, min(points, 100)) / 100, tuple(reasons)


def _identifier_evidence(probe: dict, candidate: dict, trusted: frozenset[str]
                         ) -> tuple[list[tuple[str, str]], list[str]]:
    """(trusted identifiers both carry, trusted systems both carry with no value in common)."""
    ours = _identifiers(probe, trusted)
    theirs = _identifiers(candidate, trusted)
    shared = sorted(ours & theirs)
    differing = sorted({s for s, _ in ours} & {s for s, _ in theirs}
                       - {s for s, _ in shared})
    return shared, differing


def _identifiers(patient: dict, systems: frozenset[str]) -> set[tuple[str, str]]:
    found = set()
    for identifier in _dicts(patient.get("identifier")):
        system, value = identifier.get("system"), identifier.get("value")
        if system in systems and isinstance(value, str) and value.strip():
            found.add((system, value.strip()))
    return found


Outcome = tuple[str | None, str]  # ("agree" | "partial" | "disagree" | None, detail)


def fold(text: str) -> str:
    """Case-, accent- and punctuation-free: "Bennett-Martin" and "bennett martin" agree."""
    return "".join(c for c in search.normalize(text) if c.isalnum())


def _parts(text: str) -> list[str]:
    return [part for part in _SEPARATORS.split(search.normalize(text)) if part]


def _names(patient: dict) -> list[dict]:
    return [name for name in _dicts(patient.get("name"))
            if name.get("use") not in ("old", "anonymous")] or _dicts(patient.get("name"))


def _compare_family(ours: list[dict], theirs: list[dict]) -> Outcome:
    pairs = [(a, b) for a in _families(ours) for b in _families(theirs)]
    if not pairs:
        return None, ""
    if any(fold(a) == fold(b) for a, b in pairs):
        return "agree", ""
    if any(set(_parts(a)) & set(_parts(b)) for a, b in pairs):
        return "partial", "part of a compound name"
    if any(_one_edit(fold(a), fold(b)) for a, b in pairs):
        return "partial", "one letter off"
    return "disagree", ""


def _families(names: list[dict]) -> list[str]:
    return [n["family"] for n in names if isinstance(n.get("family"), str) and fold(n["family"])]


def _compare_given(ours: list[dict], theirs: list[dict]) -> Outcome:
    pairs = [(a, b) for a in names_given(ours) for b in names_given(theirs)]
    if not pairs:
        return None, ""
    firsts = [(fold(a[0]), fold(b[0])) for a, b in pairs]
    if any(a == b for a, b in firsts):
        return "agree", ""
    for a, b in firsts:
        short, long = sorted((a, b), key=len)
        if len(short) == 1 and long.startswith(short):
            return "partial", "initial"
        if len(short) >= 3 and long.startswith(short):
            return "partial", "prefix"
    if any(_one_edit(a, b) for a, b in firsts):
        return "partial", "one letter off"
    for a, b in pairs:
        if fold(a[0]) in {fold(g) for g in b[1:]} or fold(b[0]) in {fold(g) for g in a[1:]}:
            return "partial", "middle name"
    return "disagree", ""


def names_given(names: list[dict]) -> list[list[str]]:
    """The given names of each name that has any (first given first)."""
    result = []
    for name in names:
        given = [g for g in name.get("given") or [] if isinstance(g, str) and fold(g)]
        if given:
            result.append(given)
    return result


def _compare_birth_date(ours: Any, theirs: Any) -> Outcome:
    a, b = _date_parts(ours), _date_parts(theirs)
    if a is None or b is None:
        return None, ""
    if len(a) == len(b) == 3:
        if a == b:
            return "agree", ""
        if (a[0], a[1], a[2]) == (b[0], b[2], b[1]) and _valid_date(b[0], b[2], b[1]):
            return "partial", "day and month transposed"
        digits_a, digits_b = "".join(a), "".join(b)
        if sum(x != y for x, y in zip(digits_a, digits_b, strict=True)) == 1:
            return "partial", "one digit off"
        if _adjacent_swap(digits_a, digits_b):
            return "partial", "two digits swapped"
        return "disagree", ""
    common = min(len(a), len(b))
    return ("partial", "same year" if common == 1 else "same year and month") \
        if a[:common] == b[:common] else ("disagree", "")


def _date_parts(value: Any) -> tuple[str, ...] | None:
    match = _DATE.match(value) if isinstance(value, str) else None
    return tuple(part for part in match.groups() if part) if match else None


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _adjacent_swap(a: str, b: str) -> bool:
    differing = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return (len(differing) == 2 and differing[1] == differing[0] + 1
            and a[differing[0]] == b[differing[1]] and a[differing[1]] == b[differing[0]])


def _one_edit(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or adjacent transposition apart, both at least
    four letters long (shorter names are too easily one letter from another)."""
    if a == b or min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        differing = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(differing) == 1 or _adjacent_swap(a, b)
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _compare_gender(ours: Any, theirs: Any) -> Outcome:
    if ours not in GENDERS or theirs not in GENDERS:
        return None, ""
    return ("agree", "") if ours == theirs else ("disagree", "")


def _agree_only(ours: set[str], theirs: set[str]) -> Outcome:
    return ("agree", "") if ours & theirs else (None, "")


def _phones(patient: dict) -> set[str]:
    phones = set()
    for telecom in _dicts(patient.get("telecom")):
        if telecom.get("system") in ("phone", "sms") and isinstance(telecom.get("value"), str):
            digits = re.sub(r"\D", "", telecom["value"])[-10:]
            if len(digits) >= 7:
                phones.add(digits)
    return phones


def _lines(patient: dict) -> list[list[str]]:
    lines = []
    for address in _dicts(patient.get("address")):
        first = next((line for line in address.get("line") or []
                      if isinstance(line, str) and _parts(line)), None)
        if first is not None:
            lines.append(_parts(first))
    return lines


def _compare_lines(ours: list[list[str]], theirs: list[list[str]]) -> Outcome:
    for a in ours:
        for b in theirs:
            # "1530 Haslett Rd" and "1530 Haslett Road": the same number on the same street.
            if a == b or (len(a) >= 2 and len(b) >= 2 and a[0].isdigit() and a[:2] == b[:2]):
                return "agree", ""
    return None, ""


def _postal_codes(patient: dict) -> set[str]:
    codes = set()
    for address in _dicts(patient.get("address")):
        code = fold(address["postalCode"]) if isinstance(address.get("postalCode"), str) else ""
        if code:
            codes.add(code[:5] if code[:5].isdigit() and len(code) >= 5 else code)
    return codes


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# -- candidates from the database --------------------------------------------------------------

def candidate_queries(probe: dict, trusted_systems: Collection[str]
                      ) -> list[list[tuple[str, str]]]:
    """The Patient searches whose union holds every Patient worth scoring: the probe's trusted
    identifiers; its birth date (and the date with day and month transposed); its family name
    with the initial of its given name (birth date typos, a second name order)."""
    queries: list[list[tuple[str, str]]] = []
    trusted = frozenset(trusted_systems) - UNTRUSTED_SYSTEMS
    identifiers = sorted(_identifiers(probe, trusted))
    if identifiers:
        queries.append([("identifier", ",".join(f"{_escape(s)}|{_escape(v)}"
                                                for s, v in identifiers))])
    parts = _date_parts(probe.get("birthDate"))
    if parts is not None and len(parts) == 3 and _valid_date(*parts):
        dates = ["-".join(parts)]
        if parts[1] != parts[2] and _valid_date(parts[0], parts[2], parts[1]):
            dates.append(f"{parts[0]}-{parts[2]}-{parts[1]}")
        queries.append([("birthdate", ",".join(dates))])
    names = _names(probe)
    families = sorted({value for family in _families(names)
                       for value in (search.normalize(family).strip(), fold(family),
                                     *_parts(family))
                       if len(value) >= 2})
    if families:
        query = [("family", ",".join(_escape(f) for f in families))]
        initials = sorted({fold(given[0])[0] for given in names_given(names)})
        if initials:
            query.append(("given", ",".join(initials)))
        queries.append(query)
    return queries


def _escape(value: str) -> str:
    return re.sub(r"([\\,|$])", r"\\\1", value)


def find_candidates(repository: Repository, probe: dict, *, trusted_systems: Collection[str],
                    limit: int = 10) -> list[Candidate]:
    """The stored Patients ``probe`` may be, best first, at most ``limit``, each scoring at
    least ``REVIEW``. Read through the search index as ``repository``'s requester: a partner's
    repository finds only the Patients it may see, and they are scored in the form it sees them
    (so a score never reveals an element it is not shown). Deleted Patients are never found;
    inactive ones are, with the reason "inactive record".

    When the identifier search alone finds exactly one certain candidate (a trusted identifier
    with agreeing demographics), the demographic searches are skipped: they could only add
    lesser candidates, or a duplicate record of the same person without the identifier, which
    is the agency's to merge rather than a reason to hold a referral back."""
    candidates: list[Candidate] = []
    seen: set[str] = set()
    queries = candidate_queries(probe, trusted_systems)
    for index, params in enumerate(queries):
        for stored in _found(repository, params, seen):
            patient = stored.json()
            value, reasons = score(probe, patient, trusted_systems=trusted_systems)
            code = grade(value)
            if code is not None:
                candidates.append(Candidate(stored.id, patient, value, code, reasons))
        if index == 0 and params[0][0] == "identifier" and sole_certain(candidates):
            break
    candidates.sort(key=lambda c: (-c.score, c.patient_id))
    return candidates[:limit]


def _found(repository: Repository, params: list[tuple[str, str]], seen: set[str]
           ) -> Iterator[StoredResource]:
    """The Patients one search finds that ``seen`` does not hold yet (then added to it)."""
    request = search.parse_search("Patient", params, repository.registry, lenient=False,
                                  default_count=QUERY_LIMIT, max_count=QUERY_LIMIT,
                                  base_url=repository.base_url)
    request.total_mode = "none"
    for stored in repository.search(request).rows:
        if stored.id not in seen and stored.content is not None:
            seen.add(stored.id)
            yield stored
