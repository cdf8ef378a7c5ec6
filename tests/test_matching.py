import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.matching import (
    CONFIDENCE_LEVELS,
    MATCH_THRESHOLD,
    MatchScore,
    confidence_level,
    is_match,
    names_agree,
    pick_best,
    score_company,
    score_person,
)
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

ACME = {"company_name": "Acme Inc.", "company_website": "https://www.acme.com"}
GLOBEX = {"company_name": "Globex Corporation", "company_website": "globex.com"}


def person(first="", last="", email="", linkedin="", **columns):
    return {"first_name": first, "last_name": last, "contact_email": email, "contact_linkedin_url": linkedin,
            **columns}


# --- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("input_name, found_name", [
    (("Robert", "Smith"), ("Robert", "Smith")),
    (("ROBERT", "smith"), ("Robert", "Smith")),
    (("Bob", "Smith"), ("Robert", "Smith")),
    (("Robert", "Smith"), ("Bob", "Smith")),
    (("Bob", "Smith"), ("Rob", "Smith")),
    (("Liz", "Taylor"), ("Elizabeth", "Taylor")),
    (("Jon", "Smith"), ("John", "Smith")),
    (("Katherine", "Lee"), ("Kathryn", "Lee")),
    (("Micheal", "Brown"), ("Michael", "Brown")),
    (("Robert", "Smtih"), ("Robert", "Smith")),
    (("José", "García"), ("Jose", "Garcia")),
    (("Sean", "O'Brien"), ("Sean", "OBrien")),
    (("J", "Smith"), ("John", "Smith")),
    (("", "Smith"), ("John", "Smith")),
    (("", ""), ("John", "Smith")),
    (("John", "Smith"), ("", "")),
])
def test_names_agree(input_name, found_name):
    assert names_agree(*input_name, *found_name)


@pytest.mark.parametrize("input_name, found_name", [
    (("Robert", "Smith"), ("Robert", "Jones")),
    (("Robert", "Smith"), ("Alice", "Smith")),
    (("Jan", "Smith"), ("Jon", "Smith")),
    (("Kim", "Lee"), ("Tim", "Lee")),
    (("Robert", "Lee"), ("Robert", "Leo")),
    (("J", "Smith"), ("Mary", "Smith")),
])
def test_names_disagree(input_name, found_name):
    assert not names_agree(*input_name, *found_name)


# --- people -------------------------------------------------------------------------------------

QUERY = person("Robert", "Smith", "rsmith@acme.com", company_name="ACME Corp", company_website="acme.com")


def test_exact_email_is_a_strong_match():
    score = score_person(QUERY, person("Robert", "Smith", " RSmith@ACME.com"), candidate_company=ACME)
    assert score.confidence >= 90
    assert "email" in score.evidence and "name" in score.evidence
    assert confidence_level(score.confidence) == "High"


def test_exact_linkedin_url_in_another_format_is_a_strong_match():
    query = person("Robert", "Smith", linkedin="https://uk.linkedin.com/in/rsmith-42/?trk=x")
    score = score_person(query, person("Bob", "Smith", linkedin="linkedin.com/in/RSMITH-42"))
    assert score.confidence >= 90
    assert score.evidence[:2] == ("linkedin", "nickname")


def test_email_and_linkedin_together_score_higher_than_either():
    linkedin = "linkedin.com/in/rsmith-42"
    both = score_person({**QUERY, "contact_linkedin_url": linkedin},
                        person("Robert", "Smith", "rsmith@acme.com", linkedin))
    email_only = score_person(QUERY, person("Robert", "Smith", "rsmith@acme.com"))
    assert both.confidence > email_only.confidence >= 90


def test_strong_key_without_input_name_still_matches():
    score = score_person(person(email="rsmith@acme.com"), person("Robert", "Smith", "rsmith@acme.com"))
    assert score.confidence >= 90


def test_recycled_email_with_another_name_is_rejected():
    score = score_person(QUERY, person("Karen", "Jones", "rsmith@acme.com"), candidate_company=ACME)
    assert not is_match(score)
    assert "name_mismatch" in score.evidence


def test_precomputed_keys_are_used():
    candidate = {"first_norm": "robert", "last_norm": "smith", "email_norm": "rsmith@acme.com"}
    assert score_person(QUERY, candidate).confidence >= 90


@pytest.mark.parametrize("found_first, evidence", [
    ("Robert", "name"),
    ("Bob", "nickname"),
    ("Robret", "name_fuzzy"),
])
def test_name_with_employer_domain_matches(found_first, evidence):
    score = score_person(QUERY, person(found_first, "Smith"), candidate_company=ACME)
    assert is_match(score)
    assert score.confidence < 90
    assert evidence in score.evidence and "domain" in score.evidence


def test_company_domain_comes_from_the_work_email_when_no_website_is_given():
    query = person("Robert", "Smith", "robert@mail.acme.com")
    score = score_person(query, person("Robert", "Smith"), candidate_company={"domain_norm": "acme.com"})
    assert is_match(score)
    assert "domain" in score.evidence


def test_free_email_domain_is_not_company_evidence():
    query = person("Robert", "Smith", "bob.smith@gmail.com")
    candidate = person("Robert", "Smith", "robert@gmail-partner.com", company_domain_norm="gmail.com")
    assert not is_match(score_person(query, candidate))


@pytest.mark.parametrize("company_name", ["The Acme Corporation", "ACME, LLC", "acme"])
def test_name_with_company_name_variant_matches(company_name):
    query = person("Robert", "Smith", company_name=company_name)
    score = score_person(query, person("Robert", "Smith"), candidate_company={"company_name": "Acme Inc."})
    assert is_match(score)
    assert "company_name" in score.evidence


def test_missing_precomputed_keys_fall_back_to_raw_columns():
    candidate = {**person("Robert", "Smith", "rsmith@acme.com"), "email_norm": float("nan"), "first_norm": ""}
    assert score_person(QUERY, candidate).confidence >= 90


def test_name_alone_is_not_a_match():
    score = score_person(person("Robert", "Smith"), person("Robert", "Smith"))
    assert 0 < score.confidence < MATCH_THRESHOLD


def test_last_name_alone_with_company_is_not_a_match():
    query = person("", "Smith", company_website="acme.com", company_name="Acme")
    assert not is_match(score_person(query, person("Robert", "Smith"), candidate_company=ACME))


def test_namesake_at_another_company_is_rejected():
    score = score_person(QUERY, person("Robert", "Smith", "rsmith@globex.com"), candidate_company=GLOBEX)
    assert not is_match(score)
    assert "domain_mismatch" in score.evidence


def test_different_last_name_at_same_company_is_rejected():
    score = score_person(QUERY, person("Robert", "Jones"), candidate_company=ACME)
    assert not is_match(score)
    assert "name_mismatch" in score.evidence


def test_different_linkedin_profile_is_rejected():
    query = person("Robert", "Smith", linkedin="linkedin.com/in/rsmith-1", company_website="acme.com")
    score = score_person(query, person("Robert", "Smith", linkedin="linkedin.com/in/rsmith-2"),
                         candidate_company=ACME)
    assert not is_match(score)
    assert "linkedin_mismatch" in score.evidence


def test_another_mailbox_at_the_same_company_lowers_the_score():
    same_person = score_person(QUERY, person("Robert", "Smith"), candidate_company=ACME)
    colleague = score_person(QUERY, person("Robert", "Smith", "robert.smith2@acme.com"),
                             candidate_company=ACME)
    assert colleague.confidence < same_person.confidence
    assert "email_mismatch" in colleague.evidence


# --- pick_best ----------------------------------------------------------------------------------

def test_pick_best_prefers_the_strong_key_over_a_namesake():
    query = person("Robert", "Smith", "r2@acme.com", company_website="acme.com")
    candidates = [(person("Robert", "Smith", "r1@acme.com"), ACME),
                  (person("Robert", "Smith", "r2@acme.com"), ACME)]
    index, score = pick_best(query, candidates)
    assert index == 1
    assert "email" in score.evidence


def test_pick_best_does_not_guess_between_namesakes_at_one_company():
    query = person("Robert", "Smith", company_website="acme.com")
    candidates = [(person("Robert", "Smith", "r1@acme.com"), ACME),
                  (person("Robert", "Smith", "r2@acme.com"), ACME)]
    assert pick_best(query, candidates) == (None, None)


def test_pick_best_does_not_guess_between_records_sharing_one_email():
    candidates = [(person("Robert", "Smith", "rsmith@acme.com"), ACME),
                  (person("Bob", "Smith", "rsmith@acme.com"), ACME)]
    assert pick_best(QUERY, candidates) == (None, None)


def test_free_mailboxes_are_not_colleagues():
    query = person("Robert", "Smith", "bob.smith@gmail.com", company_website="acme.com")
    score = score_person(query, person("Robert", "Smith", "robert.smith@gmail.com"), candidate_company=ACME)
    assert "email_mismatch" not in score.evidence


def test_pick_best_takes_the_only_qualifying_candidate():
    query = person("Bob", "Smith", company_website="acme.com")
    candidates = [(person("Robert", "Smith"), GLOBEX), (person("Robert", "Smith"), ACME),
                  (person("Alice", "Smith"), ACME)]
    index, score = pick_best(query, candidates)
    assert index == 1
    assert is_match(score)


def test_pick_best_returns_nothing_below_the_threshold():
    assert pick_best(person("Robert", "Smith"), [(person("Robert", "Smith"), None)]) == (None, None)
    assert pick_best(QUERY, []) == (None, None)


# --- companies ----------------------------------------------------------------------------------

def test_company_domain_match():
    score = score_company({"company_website": "http://www.acme.com/about"}, {"company_name": "Acme",
                                                                             "domain_norm": "acme.com"})
    assert score.confidence >= 90
    assert score.evidence == ("domain",)


@pytest.mark.parametrize("query_name", ["The Acme Corporation", "ACME, LLC", "Acme Inc", "ácme corp."])
def test_company_name_variants_match(query_name):
    score = score_company({"company_name": query_name}, {"company_name": "Acme Inc."})
    assert score.confidence >= 85
    assert score.evidence == ("company_name",)


def test_domain_and_name_together_score_higher():
    both = score_company({"company_name": "Acme", "company_website": "acme.com"}, ACME)
    assert both.confidence > score_company({"company_website": "acme.com"}, ACME).confidence


def test_similar_company_names_score_proportionally():
    close = score_company({"company_name": "Acme Technologies"}, {"company_name": "Acme Technology"})
    far = score_company({"company_name": "Acme Tech Partners"}, {"company_name": "Acme Technology"})
    unrelated = score_company({"company_name": "Globex"}, {"company_name": "Acme Technology"})
    assert is_match(close)
    assert close.confidence > far.confidence > unrelated.confidence
    assert unrelated == MatchScore(0, ())


def test_same_name_with_another_website_is_another_company():
    score = score_company({"company_name": "Acme", "company_website": "acme.co.uk"}, ACME)
    assert not is_match(score)
    assert "domain_mismatch" in score.evidence


def test_location_agreement_is_a_small_bonus_and_disagreement_a_penalty():
    query = {"company_name": "Acme Technologies", "company_hq_country": "USA", "company_hq_city": "St. Louis"}
    here = {"company_name": "Acme Technology", "company_hq_country_code": "us", "company_hq_city": "St Louis"}
    abroad = {"company_name": "Acme Technology", "company_hq_country": "Germany"}
    nowhere = {"company_name": "Acme Technology"}
    located, unlocated, elsewhere = (score_company(query, c) for c in (here, nowhere, abroad))
    assert 0 < located.confidence - unlocated.confidence <= 5
    assert {"country", "city"} <= set(located.evidence)
    assert elsewhere.confidence < unlocated.confidence
    assert "country_mismatch" in elsewhere.evidence


# --- levels and properties ----------------------------------------------------------------------

@pytest.mark.parametrize("score, level", [
    (100, "High"), (85, "High"), (84, "Medium"), (70, "Medium"),
    (69, "Low"), (50, "Low"), (49, "None"), (0, "None"),
])
def test_confidence_level(score, level):
    assert confidence_level(score) == level


def test_confidence_levels_are_ordered_and_threshold_is_medium():
    floors = [floor for floor, _ in CONFIDENCE_LEVELS]
    assert floors == sorted(floors, reverse=True)
    assert confidence_level(MATCH_THRESHOLD) == "Medium"
    assert not is_match(None)


record_values = st.one_of(st.text(max_size=30), st.sampled_from([
    "Robert", "Bob", "Smith", "rsmith@acme.com", "bob@gmail.com", "acme.com", "Acme Inc.",
    "linkedin.com/in/rsmith", "https://uk.linkedin.com/in/rsmith/",
]))
person_records = st.fixed_dictionaries({}, optional={
    column: record_values for column in
    ("first_name", "last_name", "contact_email", "contact_linkedin_url", "company_name", "company_website")
})


@settings(max_examples=200, deadline=None)
@given(query=person_records, candidate=person_records, company=st.none() | person_records)
def test_person_scores_are_bounded_and_total(query, candidate, company):
    score = score_person(query, candidate, candidate_company=company)
    assert 0 <= score.confidence <= 100
    assert confidence_level(score.confidence) in {level for _, level in CONFIDENCE_LEVELS}


@settings(max_examples=200, deadline=None)
@given(query=person_records)
def test_a_record_matches_itself_when_it_has_a_strong_key(query):
    has_strong_key = (normalize_email(query.get("contact_email"))
                      or normalize_linkedin_url(query.get("contact_linkedin_url")))
    has_name_at_company = (normalize_person_name(query.get("first_name"))
                           and normalize_person_name(query.get("last_name"))
                           and (normalize_company_name(query.get("company_name"))
                                or normalize_domain(query.get("company_website"))))
    if has_strong_key or has_name_at_company:
        assert is_match(score_person(query, query, candidate_company=query))
