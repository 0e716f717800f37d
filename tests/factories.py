import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.roles import Role
from incidents.models import Incident
from systems.models import ActionType, AISystem, RuntimeMode


class UserFactory(factory.django.DjangoModelFactory):
    """A person; `role=Role.RESPONDER` puts them in that role's group, None gives none."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(user, create, role, **kwargs):
        if create and role is not None:
            # get_or_create: tests on a flushed database (live server) lose the migration's groups.
            user.groups.add(Group.objects.get_or_create(name=role.group_name)[0])


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem
        django_get_or_create = ["slug"]
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"system-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").capitalize())
    owner = factory.SubFactory(UserFactory, role=Role.RESPONDER)
    kind = AISystem.Kind.CLASSIFIER
    degraded_behaviour = "Rules instead of the model."

    @factory.post_generation
    def runtime_mode(system, create, extracted, **kwargs):
        # Every system has a mode (system_register and a migration make it): so here too.
        if create:
            RuntimeMode.objects.get_or_create(system=system)


class ActionTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActionType

    system = factory.SubFactory(AISystemFactory)
    name = factory.Sequence(lambda n: f"action_{n}")
    reversible = True
    user_visible = False


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Incident number {n}")
    severity = Incident.Severity.SEV2

    @factory.post_generation
    def systems(incident, create, systems, **kwargs):
        if create:
            incident.systems.set(systems or [AISystemFactory()])


__all__ = ["AISystemFactory", "ActionTypeFactory", "IncidentFactory", "Role", "UserFactory"]
