"""Matching benchmark: precision, recall and F1 of contact and account matching, through the API.

Builds a labelled query set from a generated DataCore — queries derived from known people and
companies with realistic noise (typos, nicknames, legal-suffix and domain variants, LinkedIn URL
variants, missing fields, people who moved company, namesakes at other companies) and queries
for people DataCore does not know — submits them as 500-row jobs through the HTTP API (in
process, the task run eagerly), maps each answer back to the DataCore record it names, and
prints precision, recall, F1 and the wrong-person rate per query family.

    .venv/bin/python bench/matching.py [--companies 5000 --people 50000 --queries 3000]
"""

import argparse
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEGAL_SUFFIXES = ["Inc.", "Inc", "LLC", ", LLC", "Ltd", "Ltd.", "Limited", "Corp.", "Corporation", "GmbH", "S.A.", "PLC"]


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 5:
        return text
    index = rng.randrange(1, len(text) - 2)
    if rng.random() < 0.5:
        return text[:index] + text[index + 1] + text[index] + text[index + 2:]
    return text[:index] + text[index + 1:]


def company_variant(name: str, rng: random.Random) -> str:
    words = name.split()
    if words and words[-1].strip(".,").lower() in {s.strip(".,").lower() for s in LEGAL_SUFFIXES}:
        words = words[:-1]
    base = " ".join(words) or name
    choice = rng.random()
    if choice < 0.3:
        return f"{base} {rng.choice(LEGAL_SUFFIXES)}".replace(" ,", ",")
    if choice < 0.5:
        return base.upper()
    if choice < 0.65:
        return "The " + base
    if choice < 0.8:
        return base.replace("&", "and") if "&" in base else base.replace(" and ", " & ")
    return base


def website_variant(website: str, rng: random.Random) -> str:
    domain = website.replace("https://", "").replace("http://", "").replace("www.", "").split("/")[0]
    return rng.choice([f"https://www.{domain}/about-us", f"http://{domain}", f"WWW.{domain.upper()}", domain,
                       f"{domain}/contact?ref=x"])


def linkedin_variant(url: str, rng: random.Random) -> str:
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    return rng.choice([f"https://uk.linkedin.com/in/{slug}/", f"linkedin.com/in/{slug}?trk=public_profile",
                       f"http://www.linkedin.com/in/{slug.upper()}", f"https://www.linkedin.com/in/{slug}"])


def nickname(first: str, rng: random.Random) -> str:
    from nicknames import NickNamer

    options = sorted(NickNamer().nicknames_of(first.lower()))
    return rng.choice(options).title() if options else first


def contact_queries(people, companies, rng: random.Random, count: int):
    """(query, expected person id or None, family, has strong key)."""
    by_name = defaultdict(list)
    for person in people:
        by_name[(person["first_norm"], person["last_norm"])].append(person)
    namesakes = [group for group in by_name.values() if len({p["company_id"] for p in group}) > 1]
    queries = []
    families = ["email", "linkedin", "nickname_company", "typo_domain", "name_company_variant",
                "name_website", "moved_company", "namesake", "unknown"]
    for index in range(count):
        family = families[index % len(families)]
        person = rng.choice(people)
        company = companies[person["company_id"]]
        if family == "email" and person["contact_email"]:
            queries.append(({"contact_email": f"  {person['contact_email'].upper()} "}, person["id"], family, True))
        elif family == "linkedin" and person["contact_linkedin_url"]:
            queries.append(({"contact_linkedin_url": linkedin_variant(person["contact_linkedin_url"], rng),
                             "first_name": person["first_name"]}, person["id"], family, True))
        elif family == "nickname_company":
            queries.append(({"first_name": nickname(person["first_name"], rng), "last_name": person["last_name"],
                             "company_name": company_variant(company["company_name"], rng)}, person["id"], family, False))
        elif family == "typo_domain":
            queries.append(({"first_name": person["first_name"], "last_name": typo(person["last_name"], rng),
                             "company_website": website_variant(company["company_website"], rng)},
                            person["id"], family, False))
        elif family == "name_company_variant":
            queries.append(({"first_name": person["first_name"].upper(), "last_name": f" {person['last_name']} ",
                             "company_name": company_variant(company["company_name"], rng)}, person["id"], family, False))
        elif family == "name_website":
            queries.append(({"first_name": person["first_name"], "last_name": person["last_name"],
                             "company_website": company["company_website"]}, person["id"], family, False))
        elif family == "moved_company":
            other = companies[rng.choice(list(companies))]
            if other["id"] != company["id"]:
                queries.append(({"first_name": person["first_name"], "last_name": person["last_name"],
                                 "company_name": other["company_name"], "company_website": other["company_website"]},
                                None, family, False))
        elif family == "namesake" and namesakes:
            group = rng.choice(namesakes)
            target = rng.choice(group)
            target_company = companies[target["company_id"]]
            queries.append(({"first_name": target["first_name"], "last_name": target["last_name"],
                             "company_name": target_company["company_name"]}, target["id"], family, False))
        elif family == "unknown":
            queries.append(({"first_name": rng.choice(["Zebulon", "Quillon", "Marisol", "Thaddeus", "Ottoline"]),
                             "last_name": f"Unlisted{index}", "company_name": company["company_name"]},
                            None, family, False))
    return queries


def account_queries(companies, rng: random.Random, count: int):
    queries = []
    pool = list(companies.values())
    families = ["domain_variant", "name_variant", "name_typo", "name_and_domain", "unknown"]
    for index in range(count):
        family = families[index % len(families)]
        company = rng.choice(pool)
        if family == "domain_variant":
            queries.append(({"company_website": website_variant(company["company_website"], rng)}, company["id"], family))
        elif family == "name_variant":
            queries.append(({"company_name": company_variant(company["company_name"], rng)}, company["id"], family))
        elif family == "name_typo":
            queries.append(({"company_name": typo(company["company_name"], rng)}, company["id"], family))
        elif family == "name_and_domain":
            queries.append(({"company_name": company["company_name"], "company_website": company["company_website"]},
                            company["id"], family))
        else:
            queries.append(({"company_name": f"Nonexistent Ventures {index} Holdings"}, None, family))
    return queries


def run_jobs(client, job_type, fields, queries):
    from enrichment.models import Job
    from enrichment.selectors import job_result_rows

    answers = []
    for start in range(0, len(queries), 500):
        chunk = queries[start:start + 500]
        response = client.post("/api/v1/enrichment/submit/", {
            "type": job_type, "level": "standard", "fields_to_enrich": fields,
            "data": [query for query, *_ in chunk]}, format="json")
        assert response.status_code == 200, response.json()
        job = Job.objects.get(job_id=response.json()["job_id"])
        assert job.status == "Enrichment Completed", job.status
        _, rows = job_result_rows(job)
        answers.extend(rows)
    return answers


def score(pairs):
    """pairs: (expected id or None, predicted id or None)."""
    tp = sum(1 for e, p in pairs if e is not None and p == e)
    wrong = sum(1 for e, p in pairs if p is not None and p != e)
    expected = sum(1 for e, _ in pairs if e is not None)
    precision = tp / (tp + wrong) if tp + wrong else 1.0
    recall = tp / expected if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(pairs), "precision": precision, "recall": recall, "f1": f1,
            "wrong_rate": wrong / len(pairs) if pairs else 0.0, "wrong": wrong}


def print_scores(title, groups):
    print(f"\n{title}")
    print(f"  {'queries':<26}{'n':>6}{'precision':>11}{'recall':>9}{'F1':>7}{'wrong':>7}{'wrong %':>9}")
    for name, pairs in groups.items():
        s = score(pairs)
        recall = f"{s['recall']:.3f}" if any(e is not None for e, _ in pairs) else "   -"
        print(f"  {name:<26}{s['n']:>6}{s['precision']:>11.3f}{recall:>9}{s['f1']:>7.3f}{s['wrong']:>7}"
              f"{100 * s['wrong_rate']:>8.2f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=5000)
    parser.add_argument("--people", type=int, default=50000)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--database", default="ecore_bench_matching")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    os.environ.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
                       "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
                       "CELERY_TASK_ALWAYS_EAGER": "true", "LOG_LEVEL": "ERROR",
                       "DJANGO_SETTINGS_MODULE": "ecore.settings"})
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database], stderr=subprocess.DEVNULL)
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from pricing.services import plan_assign
    from sources.models import Company, Person
    from sources.normalize import normalize_domain, normalize_email, normalize_linkedin_url
    from tokens.services import api_token_create_for_username
    from wallet.services import wallet_topup

    call_command("migrate", verbosity=0)
    if Person.objects.count() < args.people:
        data_dir = ROOT / "var" / f"bench-{args.companies}-{args.people}"
        if not (data_dir / "people.csv").exists():
            call_command("generate_demo_data", companies=args.companies, people=args.people, out=str(data_dir))
        call_command("import_datacore", companies=str(data_dir / "companies.csv"), people=str(data_dir / "people.csv"))

    rng = random.Random(args.seed)
    companies = {c["id"]: c for c in Company.objects.values("id", "company_name", "company_website", "domain_norm")}
    people = list(Person.objects.exclude(company=None).values(
        "id", "company_id", "first_name", "last_name", "first_norm", "last_norm", "contact_email",
        "contact_linkedin_url"))
    person_by_linkedin = {normalize_linkedin_url(p["contact_linkedin_url"]): p["id"] for p in people
                          if p["contact_linkedin_url"]}
    person_by_email = {normalize_email(p["contact_email"]): p["id"] for p in people if p["contact_email"]}
    company_by_domain = {c["domain_norm"]: c["id"] for c in companies.values() if c["domain_norm"]}

    issued = api_token_create_for_username(username="matching-bench", kind="live")
    plan_assign(username="matching-bench", enrichment_limit=500)
    wallet_topup(user=issued.token.user, amount=10_000_000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")

    started = time.monotonic()
    contacts = contact_queries(people, companies, rng, args.queries)
    answers = run_jobs(client, "contact", ["contact_linkedin_url", "contact_email", "job_title"], contacts)
    contact_groups = defaultdict(list)
    for (_, expected, family, strong), answer in zip(contacts, answers, strict=True):
        predicted = person_by_linkedin.get(normalize_linkedin_url(answer.get("contact_linkedin_url"))) or \
            person_by_email.get(normalize_email(answer.get("contact_email")))
        pair = (expected, predicted)
        contact_groups[family].append(pair)
        contact_groups["with a strong key" if strong else "name + company only"].append(pair)
        contact_groups["all contacts"].append(pair)

    accounts = account_queries(companies, rng, max(args.queries // 3, 500))
    answers = run_jobs(client, "account", ["company_website", "industry"], accounts)
    account_groups = defaultdict(list)
    for (_, expected, family), answer in zip(accounts, answers, strict=True):
        predicted = company_by_domain.get(normalize_domain(answer.get("company_website")))
        account_groups[family].append((expected, predicted))
        account_groups["all accounts"].append((expected, predicted))
    elapsed = time.monotonic() - started

    print(f"DataCore: {len(companies):,} companies, {len(people):,} people; "
          f"{len(contacts):,} contact and {len(accounts):,} account queries in {elapsed:.0f}s")
    print_scores("contacts (expected = the DataCore person the query was derived from; None for moved/unknown)",
                 {name: contact_groups[name] for name in ["with a strong key", "name + company only", "all contacts",
                                                          *sorted(k for k in contact_groups if k not in {
                                                              "with a strong key", "name + company only",
                                                              "all contacts"})]})
    print_scores("accounts", {name: account_groups[name] for name in
                              ["all accounts", *sorted(k for k in account_groups if k != "all accounts")]})


if __name__ == "__main__":
    main()
