from django.apps import AppConfig


class GroundTruthConfig(AppConfig):
    """Ground truth: outputs sampled for human review, the verdicts, accuracy from them.

    It sits above monitoring and plugs into it through monitoring's two hooks, set up here:
    the accuracy monitor's evaluator (`monitoring.services.evaluation.register_evaluator`)
    and the sampling plan's panel on a system's monitors page
    (`monitoring.views.register_monitors_panel`)."""

    name = "groundtruth"
    verbose_name = "Ground truth"

    def ready(self):
        from groundtruth.evaluation import accuracy_evaluate
        from groundtruth.views import review_plan_panel
        from monitoring.models import Monitor
        from monitoring.services.evaluation import register_evaluator
        from monitoring.views import register_monitors_panel

        register_evaluator(Monitor.Kind.ACCURACY, accuracy_evaluate)
        register_monitors_panel("review_plan", review_plan_panel)
