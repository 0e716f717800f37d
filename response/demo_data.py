"""The demo's people (one for every role) and AI systems, as `seed_demo` creates them."""

from core.roles import Role
from systems.models import AISystem

PEOPLE = [
    ("viewer", "Vera", "Okafor", Role.VIEWER),
    ("reviewer", "Rui", "Tanaka", Role.REVIEWER),
    ("responder", "Rosa", "Lindqvist", Role.RESPONDER),
    ("lead", "Lena", "Moreau", Role.INCIDENT_LEAD),
    ("admin", "Ada", "Mensah", Role.ADMIN),
]

SYSTEMS = [
    {
        "slug": "refund-classifier",
        "name": "Refund classifier",
        "owner": "lead",
        "kind": AISystem.Kind.CLASSIFIER,
        "description": (
            "Sorts incoming refund requests into approve, review and fraud. A fraud label puts "
            "a hold on the customer's account and sends a templated email."
        ),
        "has_human_fallback": True,
        "human_fallback": "Refund requests go to the support team's manual refund queue.",
        "degraded_behaviour": (
            "Rules only: refunds under $50 are approved, everything else goes to manual "
            "review. No fraud flags, so no account holds."
        ),
        "actions": [
            ("account_hold", False, True, "Freezes the customer's account pending review"),
            ("fraud_email", False, True, "Templated email telling the customer about the hold"),
            ("fraud_review_queue", True, False, "Adds the case to the fraud team's queue"),
            ("refund_issue", False, True, "Pays the refund out"),
        ],
        "runbook": (
            "## If fraud flags spike\n\n"
            "1. **Contain first.** Switch to *degraded* mode: rules only, no account holds.\n"
            "2. Check what changed: model version, prompt, retrieval source, config.\n"
            "3. Count the account holds placed since onset; each held account needs a release "
            "and an apology email.\n"
            "4. Roll back the surface that changed, then watch the fraud share return to ~2%.\n"
        ),
    },
    {
        "slug": "support-reply",
        "name": "Support reply drafter",
        "owner": "responder",
        "kind": AISystem.Kind.GENERATOR,
        "description": "Writes replies to customer support tickets and sends the routine ones.",
        "has_human_fallback": True,
        "human_fallback": "Tickets wait in the support agents' queue for a person to answer.",
        "degraded_behaviour": "Replies come from the approved macro library, not the model.",
        "actions": [
            ("send_reply", False, True, "Emails the reply to the customer"),
            ("auto_resolve_ticket", True, True, "Marks the ticket solved"),
            ("escalate_to_agent", True, False, "Hands the ticket to a person"),
        ],
        "runbook": (
            "## If replies go wrong\n\n"
            "1. Harmful content or data exposure: **kill switch** (mode *off*) at once.\n"
            "2. Otherwise degrade to macros and sample 20 replies for review.\n"
        ),
    },
    {
        "slug": "product-ranker",
        "name": "Product ranker",
        "owner": "admin",
        "kind": AISystem.Kind.RANKER,
        "description": "Orders products on category pages for each visitor.",
        "has_human_fallback": False,
        "human_fallback": "",
        "degraded_behaviour": "",
        "actions": [("show_ranking", True, True, "Shows the ordered list to the visitor")],
        "runbook": "",
    },
]
