"""Publishes one dataset through the API and checks the DCAT-AP.de catalogue with rdflib.

    scripts/dcat-check.py BASE_URL

Run by scripts/dcat-check against a server on a throw-away database with the demo directory and
catalogue (every password "demo"). Exits 1 with the failed checks listed.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, RDF, XSD

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

# Quotes, backslashes, a Turtle statement end and JSON-LD syntax, umlauts and an astral character.
TITLE = 'Bäume "gefällt" \\ """ }@de . <x> {"@id": "_:b"} Straßen 🌳'
DESCRIPTION = 'Zeile 1\nZeile 2\r\n\t""" ^^xsd:string ; a dcat:Catalog .\\u0022 Grünflächen'
# As the officer typed it (the engine accepts what Foundation's URL parser accepts), and as an IRI.
PORTAL = "https://opendata.stadt.example/dataset/bäume%20a%3Eb%22c?x=1&y=2"
DATASET_ID = "dcat-check-baeume"
OPEN_DATA_CHECK = {
    "personal_reference": {"applies": False},
    "trade_secrets": {"applies": False},
    "third_party_rights": {"applies": False},
    "security": {"applies": False},
    "confidentiality": {"applies": False},
}


def call(base: str, method: str, path: str, user: str | None = None, body: dict | None = None):
    headers = {"Accept": "*/*"}
    data = None
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:demo".encode()).decode()
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(base + "/api/v1" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def expect(status: int, wanted: int, what: str, body: bytes) -> None:
    if status != wanted:
        sys.exit(f"dcat-check: {what}: HTTP {status}, expected {wanted}: {body[:500]!r}")


def publish(base: str) -> None:
    status, _, body = call(
        base, "PUT", f"/datasets/{DATASET_ID}", "adam",
        {
            "title": TITLE, "description": DESCRIPTION, "domain": "umwelt", "owner": "otto",
            "classification": "public", "personal_data": "none", "protection_need": "normal",
        },
    )
    expect(status, 201, "create the dataset", body)
    request = {
        "kind": "open_data", "dataset_id": DATASET_ID, "purpose": "Open-Data-Portal", "licence": "cc-by-4.0",
        "format": "CSV", "open_data_check": OPEN_DATA_CHECK, "submit": True,
    }
    status, _, body = call(base, "POST", "/requests", "anna", request)
    expect(status, 201, "file the request", body)
    rid = json.loads(body)["id"]
    for user in ("otto", "stefan"):
        status, _, body = call(base, "POST", f"/requests/{rid}/decisions", user, {"decision": "approve"})
        expect(status, 200, f"approve as {user}", body)
    status, _, body = call(
        base, "POST", f"/requests/{rid}/decisions", "olga",
        {"decision": "approve", "licence": "dl-de-by-2.0", "portal_url": PORTAL},
    )
    expect(status, 200, "publish", body)
    # A second request that stays in review: its dataset must not be in the catalogue.
    request = dict(request, dataset_id="baumkataster")
    status, _, body = call(base, "POST", "/requests", "anna", request)
    expect(status, 201, "file a second request", body)


def fetch(base: str, name: str, media_type: str, rdf_format: str) -> Graph:
    status, content_type, body = call(base, "GET", "/dcat/" + name)
    expect(status, 200, "GET /dcat/" + name, body)
    if content_type.split(";")[0].strip() != media_type:
        sys.exit(f"dcat-check: {name} has Content-Type {content_type}, expected {media_type}")
    graph = Graph()
    graph.parse(data=body.decode("utf-8"), format=rdf_format)
    return graph


def check(graph: Graph, label: str) -> list[str]:
    failures: list[str] = []

    def want(triple, what: str) -> None:
        if triple not in graph:
            failures.append(f"{label}: {what}: {triple!r} missing")

    datasets = list(graph.subjects(RDF.type, DCAT.Dataset))
    # web.public_url is the demo default; the dataset URI does not depend on the port served.
    dataset = URIRef("http://127.0.0.1:8080/katalog/" + DATASET_ID)
    if datasets != [dataset]:
        failures.append(f"{label}: expected exactly the published dataset, got {datasets}")
    want((dataset, DCTERMS.title, Literal(TITLE, lang="de")), "title with umlauts and quotes")
    # The catalogue keeps one line break whichever door a text came through: CR LF is stored as LF.
    stored = DESCRIPTION.replace("\r\n", "\n")
    want((dataset, DCTERMS.description, Literal(stored, lang="de")), "description with line breaks")
    want((dataset, DCTERMS.license, URIRef("http://dcat-ap.de/def/licenses/dl-by-de/2.0")), "licence URI")
    want((dataset, DCAT.landingPage, URIRef(PORTAL)), "landing page")
    want(
        (dataset, DCATDE.contributorID, URIRef("http://dcat-ap.de/def/contributors/beispielstadt")),
        "contributor id",
    )
    distributions = list(graph.objects(dataset, DCAT.distribution))
    if len(distributions) != 1:
        failures.append(f"{label}: expected one distribution, got {distributions}")
    else:
        want((distributions[0], DCAT.accessURL, URIRef(PORTAL)), "access URL")
        want((distributions[0], DCTERMS.license, URIRef("http://dcat-ap.de/def/licenses/dl-by-de/2.0")), "licence")
    issued = list(graph.objects(dataset, DCTERMS.issued))
    if len(issued) != 1 or issued[0].datatype != XSD.dateTime or issued[0].value is None:
        failures.append(f"{label}: dct:issued is not one xsd:dateTime: {issued}")
    publishers = list(graph.objects(dataset, DCTERMS.publisher))
    if len(publishers) != 1 or (publishers[0], FOAF.name, Literal("Stadt Beispielstadt")) not in graph:
        failures.append(f"{label}: publisher is not 'Stadt Beispielstadt': {publishers}")
    maintainers = list(graph.objects(dataset, DCATDE.maintainer))
    if len(maintainers) != 1 or not list(graph.objects(maintainers[0], FOAF.name)):
        failures.append(f"{label}: no dcatde:maintainer with a name")
    contacts = list(graph.objects(dataset, DCAT.contactPoint))
    if len(contacts) != 1 or (contacts[0], VCARD.hasEmail, URIRef("mailto:opendata@stadt.example")) not in graph:
        failures.append(f"{label}: contact point without the configured address")
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    if len(catalogs) != 1 or (catalogs[0], DCAT.dataset, dataset) not in graph:
        failures.append(f"{label}: the catalogue does not list the dataset")
    return failures


def main() -> None:
    base = sys.argv[1].rstrip("/")
    publish(base)
    turtle = fetch(base, "catalog.ttl", "text/turtle", "turtle")
    jsonld = fetch(base, "catalog.jsonld", "application/ld+json", "json-ld")
    failures = check(turtle, "turtle") + check(jsonld, "json-ld")
    if not isomorphic(turtle, jsonld):
        failures.append("the Turtle and JSON-LD documents state different graphs")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"dcat-check: {len(turtle)} triples in Turtle and JSON-LD, all expected ones present")


if __name__ == "__main__":
    main()
