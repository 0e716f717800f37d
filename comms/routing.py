from django.urls import path

from comms.consumers import IncidentRoomConsumer

websocket_urlpatterns = [
    path("ws/incidents/<int:number>/", IncidentRoomConsumer.as_asgi()),
]
